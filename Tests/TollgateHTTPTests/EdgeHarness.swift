import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing
import TollgateConfig
import TollgateCore
import TollgateHTTP
import TollgateRedisStores
import TollgateTelemetry
import TollgateTestSupport

/// Runs a whole `TollgateServer` in-process on ephemeral ports against the test Postgres and a
/// Redis of the caller's choosing.
enum EdgeHarness {
    struct Running {
        let server: TollgateServer
        let edgePort: Int
        let adminPort: Int
        var edge: String { "https://127.0.0.1:\(edgePort)" }
        var admin: String { "http://127.0.0.1:\(adminPort)" }
    }

    static func configuration(certificates: TestCertificates, redisURL: String, bodyLimit: Int = 1 << 20) -> TollgateConfiguration {
        var configuration = TollgateConfiguration()
        configuration.server.port = 0
        configuration.server.certificateChainPath = certificates.chainPath
        configuration.server.privateKeyPath = certificates.keyPath
        configuration.server.bodyLimitBytes = bodyLimit
        configuration.admin.port = 0
        configuration.postgres.url = TestEnvironment.postgresURL
        configuration.postgres.poolSize = 4
        configuration.redis.url = redisURL
        configuration.redis.poolSize = 2
        configuration.redis.commandTimeout = .milliseconds(500)
        configuration.postgres.connectTimeout = .seconds(1)
        configuration.webhooks.commitTimeout = .seconds(1)
        configuration.postgres.lockTimeout = .milliseconds(300)
        return configuration
    }

    static func withServer(
        certificates: TestCertificates,
        redisURL: String = TestEnvironment.redisURL,
        bodyLimit: Int = 1 << 20,
        tenants: TenantCatalog = TenantCatalog(),
        rules: RulesStore? = nil,
        catalog: CatalogStore? = nil,
        // Generous by default: tests of Redis-backed decisions must not flip to the local fallback
        // on a CI scheduling hiccup (the fallback has a test of its own with Redis stopped).
        redisBudget: Duration = .milliseconds(250),
        postgresURL: String = TestEnvironment.postgresURL,
        // Nil: warnings and up, to the console. Tests of what reaches the logs pass their own.
        logger: Logger? = nil,
        configure: (inout TollgateConfiguration) -> Void = { _ in },
        _ body: (Running) async throws -> Void
    ) async throws {
        let logger = logger ?? {
            var quiet = Logger(label: "test.edge")
            quiet.logLevel = .warning
            return quiet
        }()
        var configuration = configuration(certificates: certificates, redisURL: redisURL, bodyLimit: bodyLimit)
        configuration.postgres.url = postgresURL
        configuration.rateLimits.pollInterval = .milliseconds(200)
        configuration.rateLimits.redisBudget = redisBudget
        configure(&configuration)
        let server = try TollgateServer(
            configuration: configuration,
            tenants: tenants,
            rules: rules,
            catalog: catalog,
            metrics: Telemetry.bootstrapMetrics(),
            environment: [:],
            logger: logger
        )
        // Not a child task: a server whose stop hangs must fail its test, not hold the whole run
        // until CI's time limit (a task group would wait for it).
        let running = Task { try await server.run(migrate: true, gracefulShutdownSignals: []) }
        do {
            try await TestEnvironment.waitUntil { server.boundPorts.edge != nil && server.boundPorts.admin != nil }
            try await body(Running(server: server, edgePort: server.boundPorts.edge!, adminPort: server.boundPorts.admin!))
        } catch {
            await stop(running)
            throw error
        }
        await stop(running)
    }

    /// Cancels the server and waits for it to stop; past `limit` the test fails with the edge's
    /// sockets of the moment (a stop that hangs is a connection or a service ignoring
    /// cancellation) and the server is left behind.
    private static func stop(_ running: Task<Void, any Error>, limit: Duration = .seconds(30)) async {
        running.cancel()
        if await resultWithin(limit, { try await running.value }) == nil {
            let sockets = (try? await ChildProcess.run("/usr/bin/ss", ["-tan"]).output) ?? "(ss failed)"
            Issue.record("the edge did not stop within \(limit) of its test's end; sockets:\n\(sockets)")
        }
    }

    /// An HTTP client that trusts only `caPath`, shut down after `body`.
    static func withClient<T>(
        trusting caPath: String,
        httpVersion: HTTPClient.Configuration.HTTPVersion = .automatic,
        maximumTLSVersion: TLSVersion? = nil,
        _ body: (HTTPClient) async throws -> T
    ) async throws -> T {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        if let maximumTLSVersion {
            tls.minimumTLSVersion = .tlsv1
            tls.maximumTLSVersion = maximumTLSVersion
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = httpVersion
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

extension HTTPClient {
    /// GET or POST `url`; returns the response and its whole body as text.
    func fetch(_ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil) async throws -> (HTTPClientResponse, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        let response = try await execute(request, timeout: .seconds(15))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return (response, String(buffer: bytes))
    }
}

/// Parses a JSON object body.
func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw TestSupportError("not a JSON object: \(text)")
    }
    return object
}

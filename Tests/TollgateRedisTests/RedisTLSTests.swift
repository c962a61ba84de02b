import Foundation
import Logging
import Testing
import TollgateCore
import TollgateRedis
import TollgateTestSupport

/// `rediss://` against the TLS port of `make test`'s Redis, whose certificate (127.0.0.1 and
/// localhost) comes from the test CA in `.tollgate/test/tls/`.
@Suite(.serialized, .enabled(
    if: TestEnvironment.redisTLSURL != nil,
    "TOLLGATE_TEST_REDIS_TLS_URL is not set: `make test` sets it (rediss://127.0.0.1:63793/0) when it runs its own Redis"
))
struct RedisTLSTests {
    let logger = Logger(label: "test.redis.tls")

    var endpoint: RedisEndpoint {
        get throws {
            let url = try #require(TestEnvironment.redisTLSURL)
            return try #require(RedisEndpoint(url: url))
        }
    }

    func connect(_ endpoint: RedisEndpoint, caFile: String?, timeout: Duration = .seconds(2)) async throws -> RedisConnection {
        try await RedisConnection.connect(
            to: endpoint, tlsContext: try RedisConnection.makeTLSContext(caFile: caFile), connectTimeout: timeout, commandTimeout: timeout
        )
    }

    /// Expects connecting to fail in the TLS handshake or certificate check, not for another reason.
    func expectTLSFailure(_ endpoint: RedisEndpoint, caFile: String?, sourceLocation: SourceLocation = #_sourceLocation) async {
        let error = await #expect(throws: RedisError.self, sourceLocation: sourceLocation) {
            let connection = try await connect(endpoint, caFile: caFile)
            await connection.close()
        }
        guard case .tls? = error else {
            Issue.record("expected a TLS failure, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
    }

    @Test func theClientWorksOverTLSWithTheTestCA() async throws {
        let tlsEndpoint = try endpoint
        #expect(tlsEndpoint.tls)
        // 127.0.0.1 is checked against the certificate's IP SAN; localhost against its DNS SAN (and sent as SNI).
        for host in [tlsEndpoint.host, "localhost"] {
            var target = tlsEndpoint
            target.host = host
            var configuration = RedisClient.Configuration(endpoint: target)
            configuration.tlsCAFile = TestEnvironment.redisTLSCAPath
            configuration.poolSize = 1
            configuration.commandTimeout = .seconds(2)
            let client = RedisClient(configuration: configuration, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                defer { group.cancelAll() }
                try await TestEnvironment.waitUntil(timeout: .seconds(5)) { client.isConnected }
                try await client.ping()
                let key = "tls-test-\(UUID().uuidString)"
                try await client.set(key, to: RESPArgument("over \(host)"), expiration: .milliseconds(60_000))
                #expect(try await client.get(key) == Array("over \(host)".utf8))
                #expect(try await client.delete([key]) == 1)
            }
        }
    }

    @Test func anotherCAIsRefused() async throws {
        let stranger = try await TestCertificates.make()  // a CA of its own, unrelated to the server's
        defer { try? FileManager.default.removeItem(at: stranger.directory) }
        await expectTLSFailure(try endpoint, caFile: stranger.caPath)
        // Nor do the system's roots hold the test CA.
        await expectTLSFailure(try endpoint, caFile: nil)
    }

    /// Through 127.0.0.2, an address the certificate does not name, with the right CA.
    @Test func aHostTheCertificateDoesNotNameIsRefused() async throws {
        let direct = try endpoint
        let proxy = TCPProxy(upstreamHost: direct.host, upstreamPort: direct.port, listenHost: "127.0.0.2")
        try await proxy.start()
        var elsewhere = direct
        elsewhere.host = "127.0.0.2"
        elsewhere.port = proxy.port
        await expectTLSFailure(elsewhere, caFile: TestEnvironment.redisTLSCAPath)
        await proxy.stop()
    }

    @Test func plainRedisToTheTLSPortFailsWithinTheDeadline() async throws {
        var plain = try endpoint
        plain.tls = false
        let started = ContinuousClock.now
        await #expect(throws: RedisError.self) {
            let connection = try await RedisConnection.connect(to: plain, connectTimeout: .seconds(1), commandTimeout: .seconds(1))
            await connection.close()
        }
        #expect(ContinuousClock.now - started < .seconds(3), "no hang beyond the command timeout")
    }

    /// A plain Redis reads the ClientHello as the start of an inline command and waits for its end,
    /// so this fails by the command deadline, not by a TLS alert.
    @Test func redissToAPlainPortFailsWithinTheDeadline() async throws {
        var target = try #require(RedisEndpoint(url: TestEnvironment.redisURL))
        target.tls = true
        let started = ContinuousClock.now
        await #expect(throws: RedisError.self) {
            let connection = try await connect(target, caFile: TestEnvironment.redisTLSCAPath, timeout: .seconds(1))
            await connection.close()
        }
        #expect(ContinuousClock.now - started < .seconds(3), "no hang beyond the command timeout")
    }
}

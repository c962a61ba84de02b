import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TollgateTestSupport

/// The real `tollgate` binary as ops run it: signals, exit codes, JSON log lines.
@Suite(.serialized) struct ServeProcessTests {
    struct Instance {
        let child: ChildProcess
        let edgePort: Int
        let adminPort: Int
        var edge: String { "https://127.0.0.1:\(edgePort)" }
    }

    /// Writes a config for fresh ports and starts `tollgate serve`; waits for /healthz.
    func startServe(certificates: TestCertificates, extraYAML: String = "",
                    tenantsDirectory: String = TestEnvironment.packageRoot.appendingPathComponent("config/tenants").path,
                    catalogDirectory: String = TestEnvironment.packageRoot.appendingPathComponent("catalog").path,
                    rulesDirectory: String = TestEnvironment.packageRoot.appendingPathComponent("rules").path,
                    migrate: Bool = false) async throws -> Instance {
        let edgePort = try TestEnvironment.freePort()
        let adminPort = try TestEnvironment.freePort()
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-serve")
        let configPath = directory.appendingPathComponent("tollgate.yaml").path
        try """
            server:
              listen: 127.0.0.1:\(edgePort)
              tls:
                certificate_chain: \(certificates.chainPath)
                private_key: \(certificates.keyPath)
              shutdown_grace_period: 10s
            admin:
              listen: 127.0.0.1:\(adminPort)
            postgres:
              url: \(TestEnvironment.postgresURL)
              pool_size: 2
            redis:
              url: \(TestEnvironment.redisURL)
            webhooks:
              tenants_dir: \(tenantsDirectory)
            rate_limits:
              rules_dir: \(rulesDirectory)
            catalog:
              dir: \(catalogDirectory)
            \(extraYAML)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let child = ChildProcess(TestEnvironment.tollgateBinary.path, ["serve", "--config", configPath] + (migrate ? ["--migrate"] : []))
        try child.start()
        let instance = Instance(child: child, edgePort: edgePort, adminPort: adminPort)
        try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
            try await TestEnvironment.waitUntil(timeout: .seconds(20)) {
                guard child.isRunning else { throw TestSupportError("tollgate exited: \(child.outputText)") }
                return try await client.fetch(instance.edge + "/healthz").0.status == .ok
            }
        }
        return instance
    }

    // HTTP/1.1 only: over HTTP/2, Hummingbird 2.28.1 closes the connection as the last stream
    // ends during graceful shutdown, and the client can lose that stream's response (seen here
    // as remoteConnectionClosed after the server logged its 404). Tracked in docs/ARCHITECTURE.md.
    @Test(arguments: [HTTPClient.Configuration.HTTPVersion.http1Only])
    func sigtermLetsTheInFlightRequestFinishThenExitsZero(version: HTTPClient.Configuration.HTTPVersion) async throws {
        let certificates = try await TestCertificates.make()
        let instance = try await startServe(certificates: certificates)
        try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: version) { client in
            // A slow upload: half the body now, the rest after SIGTERM has arrived.
            let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
            let pending = Task {
                try await client.fetch(instance.edge + "/healthz", method: .POST, body: .stream(chunks, length: .known(Int64(2048))))
            }
            continuation.yield(ByteBuffer(repeating: 0x61, count: 1024))
            try await Task.sleep(for: .milliseconds(500))
            instance.child.signal(SIGTERM)
            try await Task.sleep(for: .seconds(1))
            #expect(instance.child.isRunning, "tollgate must wait for the in-flight request")
            continuation.yield(ByteBuffer(repeating: 0x61, count: 1024))
            continuation.finish()
            let result = await pending.result
            guard case .success(let (response, body)) = result else {
                Issue.record("in-flight request failed: \(result); tollgate output: \(instance.child.outputText.suffix(3000))")
                return
            }
            // The request was answered in full by the router (no such POST route), not cut off.
            #expect(response.status.code < 500)
            #expect(body.contains("urn:tollgate:problem:"))
        }
        let status = try await instance.child.waitForExit(timeout: .seconds(20))
        #expect(status == 0, "output: \(instance.child.outputText.suffix(2000))")
        #expect(instance.child.outputText.contains("tollgate stopped"))
    }

    @Test func sighupReloadsTheCertificateAndLogsAreJSONLines() async throws {
        let original = try await TestCertificates.make()
        let rotated = try await TestCertificates.make()
        let live = try TestEnvironment.makeTemporaryDirectory("tollgate-live-certs")
        let liveCertificates = TestCertificates(directory: live)
        try FileManager.default.copyItem(atPath: original.chainPath, toPath: liveCertificates.chainPath)
        try FileManager.default.copyItem(atPath: original.keyPath, toPath: liveCertificates.keyPath)
        try FileManager.default.copyItem(atPath: original.caPath, toPath: liveCertificates.caPath)

        let instance = try await startServe(certificates: liveCertificates, extraYAML: "logging:\n  level: info\n")
        for path in [liveCertificates.chainPath, liveCertificates.keyPath] { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.copyItem(atPath: rotated.chainPath, toPath: liveCertificates.chainPath)
        try FileManager.default.copyItem(atPath: rotated.keyPath, toPath: liveCertificates.keyPath)
        instance.child.signal(SIGHUP)
        try await EdgeHarness.withClient(trusting: rotated.caPath) { client in
            try await TestEnvironment.waitUntil(timeout: .seconds(10)) {
                try await client.fetch(instance.edge + "/healthz").0.status == .ok
            }
        }
        instance.child.signal(SIGTERM)
        #expect(try await instance.child.waitForExit() == 0)

        let lines = instance.child.outputText.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try jsonObject(String(line))
            #expect(object["ts"] is String && object["level"] is String && object["msg"] is String)
        }
        #expect(lines.contains { $0.contains(#""msg":"reloaded TLS certificate""#) })
        // Access log lines carry the request id and route, not bodies.
        #expect(lines.contains { $0.contains(#""msg":"request""#) && $0.contains(#""request_id":"#) && $0.contains(#""route":"/healthz""#) })
    }

    @Test func configCheckReportsFileAndLineAndExitsOne() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-config")
        let bad = directory.appendingPathComponent("bad.yaml").path
        try "server:\n  listen: 127.0.0.1:8443\n  body_limit: huge\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let failed = try await ChildProcess.run(TestEnvironment.tollgateBinary.path, ["config", "check", "--config", bad])
        #expect(failed.status == 1)
        #expect(failed.output.contains("\(bad):3:15: server.body_limit: 'huge' is not a size like 1MiB"))

        let sample = TestEnvironment.packageRoot.appendingPathComponent("config/tollgate.yaml").path
        let passed = try await ChildProcess.run(TestEnvironment.tollgateBinary.path, ["config", "check", "--config", sample])
        #expect(passed.status == 0, "\(passed.output)")

        // serve refuses the bad file the same way, before binding anything.
        let serve = try await ChildProcess.run(TestEnvironment.tollgateBinary.path, ["serve", "--config", bad])
        #expect(serve.status == 1)
        #expect(serve.output.contains("\(bad):3:15:"))
    }

    @Test func twoConcurrentMigrateRunsApplyEachMigrationOnce() async throws {
        let database = "tg_cli_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = TestEnvironment.postgresURL
        let created = try await ChildProcess.run("/usr/bin/psql", [admin, "-q", "-c", "CREATE DATABASE \(database)"])
        #expect(created.status == 0, "\(created.output)")
        let url = admin.replacingOccurrences(of: #"/[^/?]*(\?|$)"#, with: "/\(database)$1", options: .regularExpression)
        var environment = ProcessInfo.processInfo.environment
        environment["TOLLGATE_POSTGRES_URL"] = url
        let sample = TestEnvironment.packageRoot.appendingPathComponent("config/tollgate.yaml").path
        async let first = ChildProcess.run(TestEnvironment.tollgateBinary.path, ["migrate", "--config", sample], environment: environment)
        async let second = ChildProcess.run(TestEnvironment.tollgateBinary.path, ["migrate", "--config", sample], environment: environment)
        let results = try await [first, second]
        // The versions shipped in the source tree, as the binary's bundle holds them.
        let shipped = try FileManager.default.contentsOfDirectory(atPath: TestEnvironment.packageRoot.appendingPathComponent("Sources/TollgatePostgres/Migrations").path)
            .compactMap { $0.split(separator: "_").first.flatMap { Int($0) } }.sorted().map(String.init)
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.output))")
        #expect(results.filter { $0.output.contains("migrations: applied \(shipped.joined(separator: ", "))") }.count == 1, "\(results.map(\.output))")
        #expect(results.filter { $0.output.contains("migrations: up to date") }.count == 1, "\(results.map(\.output))")
        let versions = try await ChildProcess.run("/usr/bin/psql", [url, "-tAc", "SELECT string_agg(version::text, ',') FROM schema_migrations"])
        #expect(versions.output.trimmingCharacters(in: .whitespacesAndNewlines) == shipped.joined(separator: ","))
        _ = try await ChildProcess.run("/usr/bin/psql", [admin, "-q", "-c", "DROP DATABASE \(database) WITH (FORCE)"])
    }

    @Test func rulesCheckPrintsDiagnosticsAndExitsOneOrPasses() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-rules")
        try "rules:\n  - name: x\n    match: {route: nowhere}\n    rate: 5/s\n".write(
            to: directory.appendingPathComponent("acme.yaml"), atomically: true, encoding: .utf8)
        let failed = try await ChildProcess.run(TestEnvironment.tollgateBinary.path, ["rules", "check", directory.path])
        #expect(failed.status == 1)
        #expect(failed.output.contains("\(directory.path)/acme.yaml:3:20: unknown route 'nowhere'"))
        let shipped = try await ChildProcess.run(TestEnvironment.tollgateBinary.path, ["rules", "check", TestEnvironment.packageRoot.appendingPathComponent("rules").path])
        #expect(shipped.status == 0, "\(shipped.output)")
    }

    @Test func rulesExplainShowsMatchingRulesAndTheirRedisState() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-explain")
        let config = directory.appendingPathComponent("tollgate.yaml").path
        try """
            redis:
              url: \(TestEnvironment.redisURL)
            rate_limits:
              rules_dir: \(TestEnvironment.packageRoot.appendingPathComponent("rules").path)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await ChildProcess.run(TestEnvironment.tollgateBinary.path, [
            "rules", "explain", "--config", config, "--tenant", "demo", "--route", "webhooks", "--source", "stripe",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("webhooks-per-tenant [enforce] rate=2000/1s burst=4000 by=tenant"))
        #expect(result.output.contains("stripe-source [enforce] rate=100000/300s"))
        #expect(result.output.contains("key rl:{demo}:webhooks-per-tenant:demo: remaining 4000"))
    }
}

import Foundation
import Testing
import TollgateConfig
import TollgateCore

/// `postgres.url` TLS parameters and `redis.tls_ca_file`: checked at load with file:line:col, and
/// never echoing a password.
@Suite struct TransportSettingsTests {
    let loader = ConfigurationLoader(environment: [:])

    /// A file that looks like a PEM CA bundle (the loader checks readability and the PEM marker;
    /// whether it is a CA is for the TLS handshake, tested against real servers).
    func pemFile(_ text: String = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-ca-\(UUID().uuidString).pem").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func libpqTLSParametersLoad() throws {
        let ca = try pemFile()
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let url = "postgres://tollgate@db.internal:5432/tollgate?sslmode=verify-full&sslrootcert=\(ca)"
        let config = try loader.load(yaml: "postgres:\n  url: \(url)\n", path: "t.yaml").configuration
        let endpoint = try #require(PostgresEndpoint(url: config.postgres.url))
        #expect(endpoint.tls == .verifyFull)
        #expect(endpoint.rootCertificatePath == ca)
    }

    @Test func aBadSSLModeIsReportedAtItsLineWithoutThePassword() {
        let yaml = "server:\n  listen: 127.0.0.1:8443\npostgres:\n  url: postgres://app:hunter2@db/edge?sslmode=verify\n"
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: yaml, path: "t.yaml") }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines == ["t.yaml:4:8: postgres.url: sslmode 'verify' is not one of disable, prefer, require, verify-ca, verify-full"])
        #expect(!(error?.description.contains("hunter2") ?? true))
    }

    @Test func anUnreadableOrNonPEMSSLRootCertIsAnError() throws {
        let notPEM = try pemFile("just text\n")
        defer { try? FileManager.default.removeItem(atPath: notPEM) }
        for (path, reason) in [("/nonexistent/ca.pem", "/nonexistent/ca.pem cannot be read"), (notPEM, "\(notPEM) holds no PEM certificate")] {
            let yaml = "postgres:\n  url: postgres://app:hunter2@db/edge?sslmode=verify-ca&sslrootcert=\(path)\n"
            let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: yaml, path: "t.yaml") }
            #expect(error?.issues.map(\.description) == ["t.yaml:2:8: postgres.url: sslrootcert \(reason)"])
        }
    }

    @Test func aMalformedURLIsNotEchoed() {
        let yaml = "postgres:\n  url: postgres://app:hunter2@/edge\nredis:\n  url: redis://:hunter2@cache:notaport\n"
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: yaml, path: "t.yaml") }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.count == 2)
        #expect(lines.contains { $0.hasPrefix("t.yaml:2:8: postgres.url: not a postgres://") })
        #expect(lines.contains { $0.hasPrefix("t.yaml:4:8: redis.url: not a redis:// or rediss://") })
        #expect(!lines.contains { $0.contains("hunter2") })
    }

    @Test func redisTLSCAFileIsCheckedAndRedissAccepted() throws {
        let ca = try pemFile()
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let config = try loader.load(yaml: "redis:\n  url: rediss://cache.internal:6380/0\n  tls_ca_file: \(ca)\n", path: "t.yaml").configuration
        #expect(config.redis.tlsCAFile == ca)
        #expect(RedisEndpoint(url: config.redis.url)?.tls == true)
        #expect(try loader.load(yaml: "", path: "t.yaml").configuration.redis.tlsCAFile == nil, "default: the system's roots")

        let error = #expect(throws: ConfigurationError.self) {
            try loader.load(yaml: "redis:\n  url: rediss://cache.internal:6380/0\n  tls_ca_file: /nonexistent/redis-ca.pem\n", path: "t.yaml")
        }
        #expect(error?.issues.map(\.description) == ["t.yaml:3:16: redis.tls_ca_file: /nonexistent/redis-ca.pem cannot be read"])
    }

    @Test func aCAFileForPlainRedisIsAWarning() throws {
        let ca = try pemFile()
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let loaded = try loader.load(yaml: "redis:\n  url: redis://cache.internal:6379/0\n  tls_ca_file: \(ca)\n", path: "t.yaml")
        #expect(loaded.warnings.map(\.description) == ["t.yaml:3:16: redis.tls_ca_file is unused: redis.url is not rediss://"])
    }
}

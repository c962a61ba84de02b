import Foundation
import Testing
import TollgateConfig
import TollgateCore

@Suite struct ConfigurationLoaderTests {
    let loader = ConfigurationLoader(environment: [:])

    @Test func shippedSampleConfigLoadsWithItsDocumentedValues() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/tollgate.yaml").path
        let config = try loader.load(path: path).configuration
        #expect(config.server.host == "127.0.0.1")
        #expect(config.server.port == 8443)
        #expect(config.server.bodyLimitBytes == 1 << 20)
        #expect(config.server.shutdownGracePeriod == .seconds(25))
        #expect(config.admin.port == 9090)
        #expect(config.redis.commandTimeout == .milliseconds(250))
    }

    @Test func emptyFileMeansAllDefaults() throws {
        let config = try loader.load(yaml: "", path: "empty.yaml").configuration
        #expect(config.server.bodyLimitBytes == 1 << 20)
        #expect(config.server.shutdownGracePeriod == .seconds(25))
        #expect(config.server.port == 8443)
    }

    @Test func malformedYAMLReportsFileAndLine() {
        let yaml = "server:\n  listen: 127.0.0.1:8443\n  tls: [unclosed\n"
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: yaml, path: "bad.yaml") }
        let issue = try! #require(error?.issues.first)
        guard case .file(let path, let line, _) = issue.origin else { Issue.record("no file origin"); return }
        #expect(path == "bad.yaml")
        #expect(line >= 3)
        #expect(issue.description.hasPrefix("bad.yaml:"))
    }

    @Test func unknownKeyAndBadValuesAreEachReportedAtTheirLine() {
        let yaml = """
            server:
              listen: nowhere
              body_limt: 1MiB
              idle_timeout: 5 parsecs
            redis:
              pool_size: 0
            """
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: yaml, path: "c.yaml") }
        let lines = error?.issues.map(\.description) ?? []
        #expect(lines.contains { $0.hasPrefix("c.yaml:2:") && $0.contains("server.listen") })
        #expect(lines.contains { $0.hasPrefix("c.yaml:3:") && $0.contains("unknown key 'server.body_limt'") })
        #expect(lines.contains { $0.hasPrefix("c.yaml:4:") && $0.contains("server.idle_timeout") })
        #expect(lines.contains { $0.hasPrefix("c.yaml:6:") && $0.contains("outside 1...256") })
        #expect(lines.count == 4)
    }

    @Test func connectionHygieneSettingsLoadAndABudgetBelowOneBodyIsRefused() throws {
        let yaml = """
            server:
              tls_handshake_timeout: 2s
              first_request_timeout: 3s
              request_head_timeout: 4s
              body_read_timeout: 5s
              max_connections_per_client: 0
              connection_body_budget: 2MiB
            """
        let server = try loader.load(yaml: yaml, path: "c.yaml").configuration.server.connectionGuard
        #expect(server.tlsHandshakeTimeout == .seconds(2))
        #expect(server.firstRequestTimeout == .seconds(3))
        #expect(server.requestHeadTimeout == .seconds(4))
        #expect(server.bodyReadTimeout == .seconds(5))
        #expect(server.maxConnectionsPerClient == 0)
        #expect(server.connectionBodyBudget == 2 << 20)
        let defaults = try loader.load(yaml: "", path: "empty.yaml").configuration.server.connectionGuard
        #expect(defaults.tlsHandshakeTimeout == .seconds(5) && defaults.maxConnectionsPerClient == 256 && defaults.connectionBodyBudget == 4 << 20)

        // A budget smaller than one body would make a legal request unreadable.
        let tooSmall = "server:\n  body_limit: 1MiB\n  connection_body_budget: 512KiB\n"
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: tooSmall, path: "b.yaml") }
        #expect(error?.issues.map(\.description) == ["b.yaml:3:27: server.connection_body_budget must be at least server.body_limit"])
        let zeroTimeout = "server:\n  tls_handshake_timeout: 0s\n"
        #expect(throws: ConfigurationError.self) { try loader.load(yaml: zeroTimeout, path: "z.yaml") }
    }

    @Test func commitWorkersLoadWithinTheirRange() throws {
        #expect(try loader.load(yaml: "", path: "empty.yaml").configuration.webhooks.commitWorkers == 4)
        #expect(try loader.load(yaml: "webhooks:\n  commit_workers: 8\n", path: "w.yaml").configuration.webhooks.commitWorkers == 8)
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: "webhooks:\n  commit_workers: 0\n", path: "z.yaml") }
        #expect(error?.issues.first?.description.hasPrefix("z.yaml:2:19:") == true)
    }

    @Test func environmentOverridesTheFile() throws {
        let loader = ConfigurationLoader(environment: [
            "TOLLGATE_POSTGRES_URL": "postgres://me@db.internal:6543/edge",
            "TOLLGATE_SERVER_BODY_LIMIT": "64KiB",
            "TOLLGATE_SERVER_LISTEN": "[::1]:9443",
        ])
        let config = try loader.load(yaml: "server:\n  body_limit: 2MiB\n", path: "c.yaml").configuration
        #expect(config.postgres.url == "postgres://me@db.internal:6543/edge")
        #expect(config.server.bodyLimitBytes == 64 * 1024)
        #expect(config.server.host == "::1")
        #expect(config.server.port == 9443)
    }

    @Test func badEnvironmentOverrideNamesTheVariable() {
        let loader = ConfigurationLoader(environment: ["TOLLGATE_REDIS_POOL_SIZE": "many"])
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: "", path: "c.yaml") }
        #expect(error?.description.contains("environment variable TOLLGATE_REDIS_POOL_SIZE") == true)
    }

    @Test func unsetEnvSecretIsAnError() {
        let yaml = "postgres:\n  password: env:TOLLGATE_TEST_NO_SUCH_VARIABLE\n"
        let error = #expect(throws: ConfigurationError.self) { try loader.load(yaml: yaml, path: "s.yaml") }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("s.yaml:2:"))
        #expect(text.contains("TOLLGATE_TEST_NO_SUCH_VARIABLE is not set"))
    }

    @Test func setEnvSecretResolvesAndLiteralWarnsWithoutEchoingTheSecret() throws {
        let loader = ConfigurationLoader(environment: ["PG_PW": "hunter2"])
        let loaded = try loader.load(yaml: "postgres:\n  password: env:PG_PW\nredis:\n  password: literally-secret\n", path: "s.yaml")
        #expect(try loaded.configuration.postgres.password?.resolve(environment: ["PG_PW": "hunter2"]).exposedValue == "hunter2")
        #expect(loaded.warnings.count == 1)
        #expect(loaded.warnings[0].description.hasPrefix("s.yaml:4:"))
        #expect(!loaded.warnings[0].description.contains("literally-secret"))
        #expect("\(loaded.configuration.redis.password!)" == "<literal>")
    }

    @Test func fileSecretIsReadAndTrimmed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-secret-\(UUID().uuidString)").path
        try "s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let secret = try SecretReference(parsing: "file:\(path)").resolve(environment: [:])
        #expect(secret.exposedValue == "s3cret")
        #expect("\(secret)" == "<redacted>")
        #expect(throws: SecretResolutionError.unreadableFile("/nonexistent/secret")) {
            try SecretReference(parsing: "file:/nonexistent/secret").resolve(environment: [:])
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ConfigurationError.self) { try loader.load(path: "/nonexistent/tollgate.yaml") }
    }
}

@Suite struct SettingParserTests {
    @Test func durations() {
        #expect(SettingParser.duration("250ms") == .milliseconds(250))
        #expect(SettingParser.duration("25s") == .seconds(25))
        #expect(SettingParser.duration("5m") == .seconds(300))
        #expect(SettingParser.duration("1h") == .seconds(3600))
        #expect(SettingParser.duration("1d") == .seconds(86_400))
        #expect(SettingParser.duration("5") == nil)
        #expect(SettingParser.duration("-5s") == nil)
        #expect(SettingParser.duration("s") == nil)
    }

    @Test func byteCounts() {
        #expect(SettingParser.byteCount("512") == 512)
        #expect(SettingParser.byteCount("64KiB") == 65_536)
        #expect(SettingParser.byteCount("1MiB") == 1_048_576)
        #expect(SettingParser.byteCount("1MB") == nil)
        #expect(SettingParser.byteCount("99999999999999999999GiB") == nil)
    }

    @Test func listenAddresses() {
        #expect(SettingParser.hostAndPort("127.0.0.1:8443")! == ("127.0.0.1", 8443))
        #expect(SettingParser.hostAndPort("[::1]:8443")! == ("::1", 8443))
        #expect(SettingParser.hostAndPort("localhost") == nil)
        #expect(SettingParser.hostAndPort("host:70000") == nil)
    }
}

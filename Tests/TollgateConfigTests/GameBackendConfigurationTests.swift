import Foundation
import Testing
import TollgateConfig
import TollgateCore

/// The `game_backend` section of a tenant file: every field read into the tenant's settings, the
/// stated defaults, and every problem named by file:line:col without repeating a secret.
@Suite struct GameBackendConfigurationTests {
    /// A Standard Webhooks secret: `whsec_` and the base64 of `bytes` bytes.
    static func secret(bytes: Int, fill: UInt8 = 7) -> String {
        "whsec_" + Data(repeating: fill, count: bytes).base64EncodedString()
    }

    static let environment = [
        "GAME_SECRET": secret(bytes: 32),
        "GAME_SECRET_OLD": secret(bytes: 24, fill: 9),
        "RAW_SECRET": Data(repeating: 7, count: 32).base64EncodedString(),
        "SHORT_SECRET": secret(bytes: 23),
    ]

    func parse(_ yaml: String) throws -> (catalog: TenantCatalog, warnings: [ConfigurationIssue]) {
        try TenantCatalog.parse(yaml: yaml, file: "t.yaml", environment: Self.environment)
    }

    /// Every problem the file has, as `file:line:col: message`; empty (with a recorded issue) if it loads.
    func problems(_ yaml: String) -> [String] {
        let error = #expect(throws: ConfigurationError.self) { try parse(yaml) }
        return error?.issues.map(\.description) ?? []
    }

    @Test func aFullGameBackendSectionIsReadIntoTheTenantsSettings() throws {
        let (catalog, warnings) = try parse("""
            tenant: t
            game_backend:
              url: https://game.example.com/tollgate
              secrets: [env:GAME_SECRET, env:GAME_SECRET_OLD]
              timeout: 10s
              events: [order.paid, order.reinstated, order.refunded, order.needs_review]
              max_in_flight: 8
              retry_schedule: [1s, 1m, 1h]
              player_verification:
                timeout: 500ms
                on_timeout: allow
                cache: 30s
            """)
        #expect(warnings.isEmpty, "env: secrets and no development flag warn of nothing: \(warnings)")
        #expect(catalog.tenants == ["t"], "a tenant with only a game backend is a tenant")
        let backend = try #require(catalog.gameBackends["t"])
        #expect(backend.tenant == "t")
        #expect(backend.url == "https://game.example.com/tollgate")
        #expect(backend.secrets.map(\.exposedValue) == [Self.secret(bytes: 32), Self.secret(bytes: 24, fill: 9)], "both kept, in order, for a rotation")
        #expect(backend.timeout == .seconds(10))
        #expect(Set(backend.events.map(\.rawValue)) == ["order.paid", "order.reinstated", "order.refunded", "order.needs_review"])
        #expect(backend.maximumInFlight == 8)
        #expect(backend.retrySchedule.delays == [.seconds(1), .seconds(60), .seconds(3600)])
        #expect(backend.retrySchedule.attempts == 4)
        #expect(backend.retrySchedule.jitter == 0.2)
        let verification = try #require(backend.playerVerification)
        #expect(verification.timeout == .milliseconds(500))
        #expect(verification.onTimeout.rawValue == "allow")
        #expect(verification.cacheFor == .seconds(30))
    }

    /// A section with only `url` and `secrets` takes the documented defaults: 15 s, everything that
    /// grants or takes back, 4 in flight, Svix's schedule, no player verification.
    @Test func aMinimalSectionTakesTheStatedDefaults() throws {
        let (catalog, _) = try parse("""
            tenant: t
            game_backend:
              url: https://game.example.com/tollgate
              secrets: [env:GAME_SECRET]
              player_verification: {}
            """)
        let backend = try #require(catalog.gameBackends["t"])
        #expect(backend.timeout == .seconds(15))
        #expect(Set(backend.events.map(\.rawValue))
            == ["order.paid", "order.reinstated", "order.partially_refunded", "order.refunded", "order.charged_back"])
        #expect(backend.maximumInFlight == 4)
        #expect(backend.retrySchedule.delays.map(\.components.seconds) == [5, 300, 1800, 7200, 18_000, 36_000, 36_000])
        #expect(backend.retrySchedule.attempts == 8)
        let verification = try #require(backend.playerVerification, "an empty mapping turns verification on with its defaults")
        #expect(verification.timeout == .seconds(2) && verification.onTimeout.rawValue == "refuse" && verification.cacheFor == .seconds(60))

        let (plain, _) = try parse("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: [env:GAME_SECRET]\n")
        #expect(plain.gameBackends["t"]?.playerVerification == nil)
    }

    /// Every problem of one section at once, each at its own line and column: an operator fixes
    /// the file in one pass. The literal secret it holds appears in no diagnostic.
    @Test func everyProblemOfAGameBackendIsNamedWithItsLineAndColumn() {
        let lines = problems("""
            tenant: t
            game_backend:
              url: http://game.example.com/tollgate
              secrets: [whsec_c2hvcnQ=, env:RAW_SECRET, env:GAME_SECRET]
              timeout: 0s
              events: [order.refunded, order.shipped]
              max_in_flight: 0
              retry_schedule: 5s
              colour: blue
              player_verification:
                on_timeout: maybe
            """)
        #expect(lines.count == 10, "\(lines.joined(separator: "\n"))")
        func has(_ position: String, _ message: String) -> Bool {
            lines.contains { $0.hasPrefix("t.yaml:\(position): ") && $0.contains(message) }
        }
        #expect(has("3:8", "game_backend url must be https (http only with development: true)"))
        #expect(has("4:13", "game_backend secret must be whsec_ followed by the base64 of at least 24 bytes"), "whsec_ and only 5 bytes")
        #expect(has("4:29", "game_backend secret must be whsec_"), "base64 of 32 bytes without the whsec_ prefix")
        #expect(has("5:12", "game_backend timeout must be a duration from"))
        #expect(has("6:28", "game_backend event must be one of"), "order.shipped is no event")
        #expect(has("6:11", "need order.paid and order.reinstated too"), "a revoke the game could never match to a grant")
        #expect(has("7:18", "game_backend max_in_flight must be 1 to 256"))
        #expect(has("8:19", "'retry_schedule' must list 1 to 20 delays"))
        #expect(has("9:3", "unknown key 'colour' in game_backend"))
        #expect(has("11:17", "player_verification on_timeout must be refuse or allow"))
        #expect(!lines.contains { $0.contains("c2hvcnQ") }, "no secret in a diagnostic")
    }

    /// Every delivery carries what a player bought, signed: http only where the tenant says
    /// `development: true` (and that file warns), https everywhere else.
    @Test func anHTTPURLIsAcceptedOnlyInADevelopmentTenant() throws {
        let literal = Self.secret(bytes: 24)
        let section = """
            game_backend:
              url: http://127.0.0.1:9102/tollgate
              secrets: [\(literal)]
            """
        let refused = problems("tenant: t\n" + section)
        #expect(refused.count == 1 && refused.first?.hasPrefix("t.yaml:3:8: ") == true, "\(refused)")
        #expect(refused.first?.contains("development: true") == true)

        let (catalog, warnings) = try parse("tenant: t\ndevelopment: true\n" + section)
        #expect(catalog.gameBackends["t"]?.url == "http://127.0.0.1:9102/tollgate")
        #expect(warnings.contains { $0.message.contains("development: true") })
        #expect(warnings.contains { $0.description.hasPrefix("t.yaml:5:13: ") && $0.message.contains("literal") }, "\(warnings)")
        #expect(warnings.allSatisfy { !$0.description.contains(literal) }, "no secret in a warning")

        let other = problems("tenant: t\ndevelopment: true\ngame_backend:\n  url: ftp://game.example.com/tollgate\n  secrets: [env:GAME_SECRET]\n")
        #expect(other.count == 1 && other.first?.hasPrefix("t.yaml:4:8: ") == true && other.first?.contains("must be https") == true, "\(other)")
        let relative = problems("tenant: t\ngame_backend:\n  url: /tollgate\n  secrets: [env:GAME_SECRET]\n")
        #expect(relative.count == 1 && relative.first?.contains("must be an absolute URL") == true, "\(relative)")
    }

    /// Standard Webhooks' secret format: `whsec_` and the base64 of at least 24 bytes (23 is refused, 24 taken).
    @Test func aSecretNeedsTheWhsecPrefixAndAtLeast24Bytes() throws {
        let lines = problems("""
            tenant: t
            game_backend:
              url: https://game.example.com/tollgate
              secrets: [env:SHORT_SECRET, env:GAME_SECRET_OLD]
            """)
        #expect(lines.count == 1 && lines.first?.hasPrefix("t.yaml:4:13: ") == true, "\(lines)")
        let none = problems("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: []\n")
        #expect(none.count == 1 && none.first?.contains("must list at least one whsec_ secret") == true, "\(none)")
        let (catalog, _) = try parse("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: [env:GAME_SECRET_OLD]\n")
        #expect(catalog.gameBackends["t"]?.secrets.count == 1)
    }

    /// An attempt's timeout is 1 s to 30 s: 0 s would fail every delivery, a minute would hold a
    /// worker's slot while the next deliveries wait.
    @Test(arguments: ["0s", "60s", "31s", "500ms", "soon"])
    func aTimeoutOutsideOneToThirtySecondsIsAProblem(timeout: String) {
        let lines = problems("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: [env:GAME_SECRET]\n  timeout: \(timeout)\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("t.yaml:5:12: ") == true, "\(lines)")
        #expect(lines.first?.contains("game_backend timeout must be a duration") == true)
    }

    @Test(arguments: ["1s", "30s"])
    func aTimeoutAtEitherBoundIsAccepted(timeout: String) throws {
        let (catalog, _) = try parse("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: [env:GAME_SECRET]\n  timeout: \(timeout)\n")
        #expect(catalog.gameBackends["t"]?.timeout == Duration.seconds(timeout == "1s" ? 1 : 30))
    }

    /// Revokes without the grant they undo would reach a game that never granted: refused, wherever
    /// the other events are valid.
    @Test func revokeEventsWithoutOrderPaidAreAProblem() {
        let lines = problems("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: [env:GAME_SECRET]\n  events: [order.charged_back, order.reinstated]\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("t.yaml:5:11: ") == true, "\(lines)")
        #expect(lines.first?.contains("order.paid") == true)
    }

    /// A misspelt key inside `player_verification` is named, like one in `game_backend`.
    @Test func anUnknownKeyInPlayerVerificationIsAProblem() {
        let lines = problems("tenant: t\ngame_backend:\n  url: https://game.example.com/tollgate\n  secrets: [env:GAME_SECRET]\n  player_verification:\n    on_timout: allow\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("t.yaml:6:5: ") == true && lines.first?.contains("unknown key 'on_timout'") == true, "\(lines)")
    }
}

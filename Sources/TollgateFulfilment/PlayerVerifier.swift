import Foundation
import NIOConcurrencyHelpers
import TollgateCore

/// Asks a tenant's game backend whether a player may buy, before a checkout opens a payment
/// (and when Xsolla asks in its `user_validation` callback).
///
/// The request is a signed message like a delivery: `{"type": "player.verify", "data": {"tenant",
/// "player_id"}}`. The game answers 2xx (may buy), 403 (banned) or 404 (unknown); anything else,
/// or no answer within the tenant's timeout, is "could not verify", which the tenant's
/// `on_timeout` turns into a refusal or a pass. Answers the game gave are reused for `cache`.
public final class PlayerVerifier: Sendable {
    public enum Verdict: String, Sendable, Equatable {
        case allowed
        case banned
        case unknown
        /// The game did not answer, or answered something else than the contract's.
        case unverified
    }

    /// What the caller does: sell, or refuse (with why).
    public enum Decision: Sendable, Equatable {
        case allow
        case refuse(Verdict)
    }

    let backends: [String: GameBackendSettings]
    let client: GameBackendClient
    let now: @Sendable () -> ContinuousClock.Instant
    let cache = NIOLockedValueBox<[String: (verdict: Verdict, expires: ContinuousClock.Instant)]>([:])
    /// Bounds the cache whatever the traffic: past it, expired entries go, then everything.
    static let cacheLimit = 100_000

    public init(backends: [String: GameBackendSettings], client: GameBackendClient, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.backends = backends.filter { $0.value.playerVerification != nil }
        self.client = client
        self.now = now
    }

    /// Whether `tenant` asks its game before selling.
    public func verifies(tenant: String) -> Bool { backends[tenant] != nil }

    public func decide(tenant: String, player: String) async -> Decision {
        guard let settings = backends[tenant], let policy = settings.playerVerification else { return .allow }
        return Self.decision(await verdict(tenant: tenant, player: player, settings: settings, policy: policy), policy: policy)
    }

    /// The tenant's policy applied to the game's verdict: the one place a player is let through or not.
    public static func decision(_ verdict: Verdict, policy: GameBackendSettings.PlayerVerification) -> Decision {
        switch verdict {
        case .allowed: .allow
        case .unverified: policy.onTimeout == .allow ? .allow : .refuse(.unverified)
        case .banned, .unknown: .refuse(verdict)
        }
    }

    /// The game's answer as a verdict (pure): the contract's three answers, everything else unverified.
    public static func verdict(status: Int) -> Verdict {
        switch status {
        case 200..<300: .allowed
        case 403: .banned
        case 404: .unknown
        default: .unverified
        }
    }

    func verdict(tenant: String, player: String, settings: GameBackendSettings, policy: GameBackendSettings.PlayerVerification) async -> Verdict {
        let key = tenant + "\u{1F}" + player
        let instant = now()
        if let cached = cache.withLockedValue({ $0[key] }), cached.expires > instant { return cached.verdict }
        let body = JSONValue.object([
            ("type", .string("player.verify")),
            ("timestamp", .string(ISO8601Timestamp.format(Date()))),
            ("data", .object([("tenant", .string(tenant)), ("player_id", .string(player))])),
        ]).serialized
        let verdict: Verdict
        do {
            let answer = try await client.post(Array(body.utf8), webhookID: "pv_" + UUID().uuidString.lowercased(), to: settings, timeout: policy.timeout)
            verdict = Self.verdict(status: answer.status)
        } catch {
            verdict = .unverified
        }
        // Only what the game said is reused, and "unknown" not at all (a player who just signed
        // up would be refused for the cache's time); a missed answer is asked again next time.
        if verdict == .allowed || verdict == .banned, policy.cacheFor > .zero {
            cache.withLockedValue { cache in
                if cache.count >= Self.cacheLimit { cache = cache.filter { $0.value.expires > instant } }
                if cache.count >= Self.cacheLimit { cache.removeAll() }
                cache[key] = (verdict, instant + policy.cacheFor)
            }
        }
        return verdict
    }
}

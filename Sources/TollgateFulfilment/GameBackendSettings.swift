import TollgateCore
import TollgateOrders

/// A tenant's game backend: where its fulfilment messages go, how they are signed, which it
/// takes, and how hard Tollgate tries.
///
/// ```yaml
/// game_backend:
///   url: https://game.example.com/tollgate    # https; http only in a file with `development: true`
///   secrets: [env:DEMO_GAME_WEBHOOK_SECRET]   # whsec_<base64>; several during a rotation (each signs)
///   timeout: 15s                              # one attempt, connect to last byte (1s to 30s)
///   events: [order.paid, order.refunded, order.partially_refunded, order.charged_back, order.reinstated]
///   max_in_flight: 4                          # attempts at once to this backend, across instances (soft)
///   retry_schedule: [5s, 5m, 30m, 2h, 5h, 10h, 10h]   # after each failed attempt (Svix's)
///   player_verification:                      # optional: ask the game before a checkout opens a payment
///     timeout: 2s
///     on_timeout: refuse                      # or allow
///     cache: 60s                              # how long an answer is reused
/// ```
public struct GameBackendSettings: Sendable {
    public struct PlayerVerification: Sendable, Equatable {
        public enum OnTimeout: String, Sendable { case refuse, allow }
        public var timeout: Duration
        public var onTimeout: OnTimeout
        public var cacheFor: Duration

        public init(timeout: Duration = .seconds(2), onTimeout: OnTimeout = .refuse, cacheFor: Duration = .seconds(60)) {
            self.timeout = timeout
            self.onTimeout = onTimeout
            self.cacheFor = cacheFor
        }
    }

    public var tenant: String
    public var url: String
    public var secrets: [Secret]
    public var timeout: Duration
    public var events: Set<FulfilmentEvent>
    public var maximumInFlight: Int
    public var retrySchedule: RetrySchedule
    public var playerVerification: PlayerVerification?

    public init(tenant: String, url: String, secrets: [Secret], timeout: Duration = .seconds(15),
                events: Set<FulfilmentEvent> = FulfilmentEvent.defaultSubscription, maximumInFlight: Int = 4,
                retrySchedule: RetrySchedule = .svix, playerVerification: PlayerVerification? = nil) {
        self.tenant = tenant
        self.url = url
        self.secrets = secrets
        self.timeout = timeout
        self.events = events
        self.maximumInFlight = maximumInFlight
        self.retrySchedule = retrySchedule
        self.playerVerification = playerVerification
    }

    /// Why `text` cannot be a backend URL, or nil. Every message carries what a player bought and
    /// is signed with the tenant's secret: https, unless the tenant is a development one.
    public static func urlProblem(_ text: String, development: Bool) -> String? {
        guard let scheme = text.split(separator: ":", maxSplits: 1).first.map({ $0.lowercased() }),
              text.lowercased().hasPrefix(scheme + "://"), text.count > scheme.count + 3 else {
            return "game_backend url must be an absolute URL, like https://game.example.com/tollgate"
        }
        if scheme == "https" { return nil }
        if scheme == "http", development { return nil }
        return scheme == "http" ? "game_backend url must be https (http only with development: true)" : "game_backend url must be https"
    }
}

import Foundation
import TollgateCore

/// A tenant's checkout settings: who may call (origins, player token keys), how much, and which
/// provider opens the payments.
///
/// ```yaml
/// checkout:
///   origins: [https://hub.demo.example]      # Game Hub page origins allowed by CORS
///   max_total_minor: 100000                  # ceiling on one order's total
///   idempotency_ttl: 24h                     # how long Redis keeps an Idempotency-Key's answer
///   idempotency_lease: 5s                    # an in-flight claim's lease, renewed while the request runs
///   player_tokens:                           # several during a rotation, chosen by the JWT's kid
///     - { kid: hub-2026-11, hs256: env:DEMO_PLAYER_TOKEN_KEY }
///     - { kid: hub-ec-1, es256: file:/etc/tollgate/demo-player-token.pub.pem }
///   payments:
///     provider: stripe                       # the PaymentIntents API shape
///     base_url: https://api.stripe.com       # https; http only in a file with `development: true` at the top
///     secret_key: env:DEMO_STRIPE_SECRET_KEY
///     webhook_source: stripe                 # the source its callbacks arrive on
///     connect_timeout: 1s
///     timeout: 10s                           # all attempts together
///     attempts: 3
/// ```
public struct CheckoutSettings: Sendable {
    public struct PlayerTokenKey: Sendable {
        public enum Algorithm: String, Sendable { case hs256, es256 }
        public var kid: String
        public var algorithm: Algorithm
        /// The HS256 secret or the ES256 public key PEM.
        public var material: Secret

        public init(kid: String, algorithm: Algorithm, material: Secret) {
            self.kid = kid
            self.algorithm = algorithm
            self.material = material
        }
    }

    public struct Payments: Sendable {
        public var provider: String
        public var baseURL: String
        public var secretKey: Secret
        public var webhookSource: String?
        public var connectTimeout: Duration
        public var timeout: Duration
        public var attempts: Int

        public init(provider: String = "stripe", baseURL: String, secretKey: Secret, webhookSource: String? = nil,
                    connectTimeout: Duration = Defaults.connectTimeout, timeout: Duration = Defaults.timeout, attempts: Int = Defaults.attempts) {
            self.provider = provider
            self.baseURL = baseURL
            self.secretKey = secretKey
            self.webhookSource = webhookSource
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.attempts = attempts
        }

        /// Why `text` cannot be a `base_url`, or nil. It must be https: every call carries the secret
        /// key in its Authorization header. Plain http is for a tenant file marked `development: true`
        /// (the local provider simulator), which logs a warning at start.
        public static func baseURLProblem(_ text: String, development: Bool) -> String? {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host?.isEmpty == false,
                  ["https", "http"].contains(scheme)
            else { return "payments base_url must be an https URL, like https://api.stripe.com" }
            if scheme == "http" && !development {
                return "payments base_url must be https: the secret key travels with every call (plain http only with 'development: true' at the top of the tenant file)"
            }
            return nil
        }
    }

    public var tenant: String
    public var origins: [String]
    public var maximumTotalMinor: Int64
    public var idempotencyTTL: Duration
    /// How long an in-flight claim lives unless renewed: what a crashed edge costs a retrying client.
    public var idempotencyLease: Duration
    public var playerTokenKeys: [PlayerTokenKey]
    public var payments: Payments

    /// The default of every optional checkout setting, written once for the initializers and the tenant file parser.
    public enum Defaults {
        public static let maximumTotalMinor: Int64 = 100_000
        public static let idempotencyTTL: Duration = .seconds(86_400)
        public static let idempotencyLease: Duration = .seconds(5)
        public static let connectTimeout: Duration = .seconds(1)
        public static let timeout: Duration = .seconds(10)
        public static let attempts = 3
    }

    public init(tenant: String, origins: [String], maximumTotalMinor: Int64 = Defaults.maximumTotalMinor, idempotencyTTL: Duration = Defaults.idempotencyTTL,
                idempotencyLease: Duration = Defaults.idempotencyLease, playerTokenKeys: [PlayerTokenKey], payments: Payments) {
        self.tenant = tenant
        self.origins = origins
        self.maximumTotalMinor = maximumTotalMinor
        self.idempotencyTTL = idempotencyTTL
        self.idempotencyLease = idempotencyLease
        self.playerTokenKeys = playerTokenKeys
        self.payments = payments
    }

    /// The payment API shapes this build can call.
    public static let paymentProviders: Set<String> = ["stripe"]
}

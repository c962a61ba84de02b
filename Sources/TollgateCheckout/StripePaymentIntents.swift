import Foundation

/// A payment opened at the provider: what the Game Hub page needs to collect it.
public struct OpenedPayment: Sendable, Equatable {
    public var provider: String
    public var id: String
    public var clientSecret: String?
    public var redirectURL: String?

    public init(provider: String, id: String, clientSecret: String? = nil, redirectURL: String? = nil) {
        self.provider = provider
        self.id = id
        self.clientSecret = clientSecret
        self.redirectURL = redirectURL
    }
}

/// How one upstream answer is to be taken.
public enum UpstreamOutcome: Sendable, Equatable {
    /// The payment exists at the provider.
    case opened(OpenedPayment)
    /// The provider refused the payment itself (a decline): final, the player must change something.
    case declined(code: String, message: String)
    /// The provider refused our request (bad key, bad parameters, key reused with other parameters):
    /// retrying the same request cannot help, and it is our fault, not the player's.
    case rejected(status: Int, code: String)
    /// Maybe temporary (5xx, 429, a concurrent request on the same key, the network): retry with
    /// the same idempotency key, which is safe.
    case transient(String)
}

/// Stripe's PaymentIntents API, as pure request building and response reading.
///
/// `POST /v1/payment_intents`, form encoded, `Authorization: Bearer <secret key>`, and our order
/// id as the `Idempotency-Key`, so a retry of ours can never open a second payment; the order id
/// is also in `metadata[order_id]`, which is how the webhook path finds the order.
///
/// Stripe forgets an idempotency key after 24 hours, so a create retried later than that opens a
/// second payment. An order that already has its payment's id therefore retrieves it instead:
/// `GET /v1/payment_intents/{id}` (``retrievePath(id:)``, ``retrieveOutcome(status:body:requestedID:)``).
public enum StripePaymentIntents {
    public static let path = "/v1/payment_intents"

    /// The longest id accepted; Stripe's ids are far shorter, its documented bound is 255.
    public static let maximumIDLength = 255

    /// Whether `id` looks like a PaymentIntent id: `pi_` then one or more ASCII letters, digits or
    /// underscores, at most ``maximumIDLength`` characters. Nothing else is ever put in a path.
    public static func isPaymentIntentID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count > 3, bytes.count <= maximumIDLength, id.hasPrefix("pi_") else { return false }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }

    /// The path that retrieves the PaymentIntent `id`, or nil (send nothing) when `id` is not a
    /// PaymentIntent id. The id is percent-escaped as well, although a valid one needs none.
    public static func retrievePath(id: String) -> String? {
        guard isPaymentIntentID(id), let escaped = id.addingPercentEncoding(withAllowedCharacters: pathIDCharacters) else { return nil }
        return path + "/" + escaped
    }

    static let pathIDCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

    /// The code of the rejection (status 0: refused here, no request sent) of a retrieve whose id
    /// ``isPaymentIntentID(_:)`` refuses.
    public static let invalidIDCode = "invalid_payment_intent_id"

    /// The form body that opens a payment for `amountMinor` of `currency`.
    public static func createForm(tenant: String, orderID: String, amountMinor: Int64, currency: String) -> String {
        FormEncoding.encode([
            ("amount", "\(amountMinor)"),
            ("currency", currency.lowercased()),
            ("automatic_payment_methods[enabled]", "true"),
            ("metadata[order_id]", orderID),
            ("metadata[tenant]", tenant),
        ])
    }

    /// Reads the provider's answer to a create call.
    public static func outcome(status: Int, body: [UInt8]) -> UpstreamOutcome {
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        if (200..<300).contains(status) {
            guard let id = json?["id"] as? String, id.hasPrefix("pi_") else { return .transient("unreadable payment intent") }
            return .opened(OpenedPayment(provider: "stripe", id: id, clientSecret: json?["client_secret"] as? String))
        }
        return errorOutcome(status: status, json: json, declines: true)
    }

    /// Reads the provider's answer to `GET /v1/payment_intents/{id}`.
    ///
    /// 2xx with a `pi_` id is the payment (with its `client_secret`, which Stripe returns to the
    /// secret key); an answer about another id than `requestedID` is refused rather than trusted.
    /// 404 (`resource_missing`: the id is not this account's) and other 4xx are `.rejected`; 409,
    /// 429 and 5xx are transient. A retrieve never declines: a 402 is taken as a rejection.
    public static func retrieveOutcome(status: Int, body: [UInt8], requestedID: String? = nil) -> UpstreamOutcome {
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        if (200..<300).contains(status) {
            guard let id = json?["id"] as? String, id.hasPrefix("pi_") else { return .transient("unreadable payment intent") }
            if let requestedID, id != requestedID { return .rejected(status: status, code: "payment_intent_mismatch") }
            return .opened(OpenedPayment(provider: "stripe", id: id, clientSecret: json?["client_secret"] as? String))
        }
        return errorOutcome(status: status, json: json, declines: false)
    }

    /// A non-2xx answer: Stripe's `{"error":{"type","code",...}}`, or only a status.
    static func errorOutcome(status: Int, json: [String: Any]?, declines: Bool) -> UpstreamOutcome {
        let error = json?["error"] as? [String: Any]
        let code = error?["code"] as? String ?? error?["type"] as? String ?? "http_\(status)"
        switch status {
        case 402 where declines:
            return .declined(code: error?["decline_code"] as? String ?? code, message: error?["message"] as? String ?? "The payment was declined.")
        case 409 where (error?["type"] as? String) == "idempotency_error" && code != "idempotency_key_in_use":
            return .rejected(status: status, code: code)
        case 409, 429, 500...:
            return .transient("http \(status) \(code)")
        default:
            return .rejected(status: status, code: code)
        }
    }
}

/// `application/x-www-form-urlencoded`, as Stripe reads it (brackets for nested keys).
public enum FormEncoding {
    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~[]")

    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    public static func decode(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func unescape(_ part: Substring) -> String { part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part) }
            return (unescape(parts[0]), parts.count > 1 ? unescape(parts[1]) : "")
        }
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}

/// When to try an upstream call again: only transient outcomes, with exponential backoff, and
/// never past the call's deadline.
public struct UpstreamRetryPolicy: Sendable, Equatable {
    public var attempts: Int
    /// The first backoff; doubled each time.
    public var baseDelay: Duration

    public init(attempts: Int, baseDelay: Duration = .milliseconds(100)) {
        self.attempts = attempts
        self.baseDelay = baseDelay
    }

    /// The pause before attempt `attempt + 1` after `outcome`, or nil to stop. `remaining` is the
    /// time left until the deadline.
    public func delay(after outcome: UpstreamOutcome, attempt: Int, remaining: Duration) -> Duration? {
        guard case .transient = outcome, attempt < attempts else { return nil }
        let delay = baseDelay * (1 << min(attempt - 1, 10))
        return delay < remaining ? delay : nil
    }
}

/// An RFC 9457 problem details document: the body of every error response Tollgate sends.
///
/// `type` is a stable URN per kind of problem so that clients (providers' retry logic, Game Hub
/// pages, load testers) can branch on it without parsing prose.
public struct Problem: Sendable, Equatable, Error {
    /// The stable kind of the problem; it decides `type`, `title` and the HTTP status.
    public var kind: ProblemKind
    /// A human-readable explanation specific to this occurrence. Never contains secrets or bodies.
    public var detail: String?
    /// Extension members (RFC 9457 section 3.2), already JSON-encodable scalars or nested values.
    public var extensions: [String: JSONValue]
    /// Headers that belong with this problem (for example `Retry-After`).
    public var headers: [(name: String, value: String)]

    public init(
        _ kind: ProblemKind,
        detail: String? = nil,
        extensions: [String: JSONValue] = [:],
        headers: [(name: String, value: String)] = []
    ) {
        self.kind = kind
        self.detail = detail
        self.extensions = extensions
        self.headers = headers
    }

    public var status: Int { kind.status }
    public var type: String { "urn:tollgate:problem:\(kind.rawValue)" }
    public var title: String { kind.title }

    /// The media type RFC 9457 registers for JSON problem documents.
    public static let mediaType = "application/problem+json"

    /// The document as a JSON object, members in a fixed order (type, title, status, detail, instance, extensions).
    public func jsonObject(instance: String? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string(type)),
            ("title", .string(title)),
            ("status", .int(status)),
        ]
        if let detail { members.append(("detail", .string(detail))) }
        if let instance { members.append(("instance", .string(instance))) }
        for key in extensions.keys.sorted() where !Self.reservedMembers.contains(key) {
            members.append((key, extensions[key]!))
        }
        return .object(members)
    }

    private static let reservedMembers: Set<String> = ["type", "title", "status", "detail", "instance"]

    public static func == (lhs: Problem, rhs: Problem) -> Bool {
        lhs.kind == rhs.kind && lhs.detail == rhs.detail && lhs.extensions == rhs.extensions
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// Every kind of problem the edge reports. The raw value is the last segment of the problem `type`
/// and must never change once shipped: clients match on it.
public enum ProblemKind: String, Sendable, CaseIterable {
    case badRequest = "bad-request"
    case unauthorized = "unauthorized"
    case notFound = "not-found"
    case methodNotAllowed = "method-not-allowed"
    case conflict = "conflict"
    case payloadTooLarge = "payload-too-large"
    case unsupportedMediaType = "unsupported-media-type"
    case unprocessable = "unprocessable-content"
    case tooManyRequests = "too-many-requests"
    case headersTooLarge = "request-header-fields-too-large"
    case internalError = "internal-error"
    case serviceUnavailable = "service-unavailable"
    case notReady = "not-ready"
    /// Checkout: the Idempotency-Key was first used with a different request.
    case idempotencyKeyReused = "idempotency-key-reused"
    /// Checkout: the provider declined the payment.
    case paymentDeclined = "payment-declined"
    /// Checkout: the payment provider failed or refused our request.
    case upstreamFailed = "upstream-failed"
    /// Checkout: the payment provider did not answer in time.
    case upstreamTimeout = "upstream-timeout"
    /// Checkout: calls to this payment provider are paused after repeated failures.
    case upstreamCircuitOpen = "upstream-circuit-open"
    /// Checkout: a price the page showed is not the catalog's price in force; the page refreshes.
    case priceChanged = "price-changed"
    /// Checkout: an item is unknown, inactive, not priced in the currency, or asked for in too large a quantity.
    case itemUnavailable = "item-unavailable"
    /// Checkout: the player already holds as many of a limited item as one player may.
    case purchaseLimitReached = "purchase-limit-reached"
    /// Checkout: the game says this player may not buy (banned, or unknown to it).
    case playerNotAllowed = "player-not-allowed"

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .unauthorized: 401
        case .notFound: 404
        case .methodNotAllowed: 405
        case .conflict: 409
        case .payloadTooLarge: 413
        case .unsupportedMediaType: 415
        case .unprocessable: 422
        case .tooManyRequests: 429
        case .headersTooLarge: 431
        case .internalError: 500
        case .serviceUnavailable, .notReady, .upstreamCircuitOpen: 503
        case .idempotencyKeyReused: 422
        case .paymentDeclined: 402
        case .upstreamFailed: 502
        case .upstreamTimeout: 504
        case .priceChanged, .purchaseLimitReached: 409
        case .itemUnavailable: 422
        case .playerNotAllowed: 403
        }
    }

    public var title: String {
        switch self {
        case .badRequest: "The request is malformed."
        case .unauthorized: "The request could not be authenticated."
        case .notFound: "No such resource."
        case .methodNotAllowed: "The method is not allowed on this resource."
        case .conflict: "The request conflicts with one in progress."
        case .payloadTooLarge: "The request body is larger than this edge accepts."
        case .unsupportedMediaType: "The request body has an unsupported media type."
        case .unprocessable: "The request is well-formed but cannot be processed."
        case .tooManyRequests: "Rate limit exceeded."
        case .headersTooLarge: "The request headers are too large."
        case .internalError: "An internal error occurred."
        case .serviceUnavailable: "The service is temporarily unavailable."
        case .notReady: "The service is not ready."
        case .idempotencyKeyReused: "This Idempotency-Key was used with a different request."
        case .paymentDeclined: "The payment was declined."
        case .upstreamFailed: "The payment provider could not open the payment."
        case .upstreamTimeout: "The payment provider did not answer in time."
        case .upstreamCircuitOpen: "Payments with this provider are paused after repeated failures."
        case .priceChanged: "A price has changed since the page showed it."
        case .itemUnavailable: "An item cannot be sold as requested."
        case .purchaseLimitReached: "The player has reached the purchase limit of an item."
        case .playerNotAllowed: "The game does not allow this player to buy."
        }
    }

    /// The kind that stands for a bare HTTP status, for errors raised below our own code (router, codec).
    public static func forStatus(_ status: Int) -> ProblemKind {
        allCases.first { $0.status == status && ![.notReady, .idempotencyKeyReused, .upstreamCircuitOpen, .priceChanged, .itemUnavailable, .purchaseLimitReached].contains($0) }
            ?? (status >= 500 ? .internalError : .badRequest)
    }
}

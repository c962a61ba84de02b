import Foundation
import TollgateCore

/// Turns a verified callback body into ``PaymentEvent`` values, provider by provider.
///
/// A body that verified but cannot be understood still yields an event (kind `other`,
/// `understood == false`) whenever an event id can be found, so that it is stored and acknowledged
/// and the provider stops retrying. Without any id there is nothing to deduplicate on: that is
/// ``NormalizationError/noEventID``.
public struct PaymentEventNormalizer: Sendable {
    public var tenant: String
    public var source: String
    /// The provider account (dedup scope); the source name unless configured.
    public var account: String
    public var provider: Provider

    public init(tenant: String, source: String, account: String? = nil, provider: Provider) {
        self.tenant = tenant
        self.source = source
        self.account = account ?? source
        self.provider = provider
    }

    /// The largest amount understood, in minor units (10^15: ten trillion dollars). Anything
    /// beyond is refused at normalization (stored as not understood, counted), so no arithmetic
    /// downstream can overflow on a single signed event.
    public static let maximumAmountMinor: Int64 = 1_000_000_000_000_000

    public func normalize(headers: [String: String], body: [UInt8]) throws(NormalizationError) -> [PaymentEvent] {
        let json = FoundationJSONTree.parse(body) as? [String: Any]
        // One file per provider under Normalizers/.
        switch provider {
        case .stripe: return [try stripe(json, body)]
        case .standardWebhooks: return [try standardWebhooks(json, headers, body)]
        case .adyen: return try adyen(json, body)
        case .paddle: return [try paddle(json, body)]
        case .xsolla: return [try xsolla(json, body)]
        case .checkout: return [try checkout(json, body)]
        case .apple: return [try apple(json, body)]
        case .googlePlay: return [try googlePlay(body)]
        case .paypal: return [try paypal(json, body)]
        }
    }

    /// An event of `kind` (`other` for types we store but do not act on). `understood` is false
    /// when the body lacks the structure the provider documents.
    func event(_ id: String, _ kind: PaymentEventKind?, _ body: [UInt8], understood: Bool) -> PaymentEvent {
        PaymentEvent(tenant: tenant, source: source, account: account, provider: provider, providerEventID: id,
                     kind: understood ? kind ?? .other : .other, understood: understood, rawBody: body)
    }

    /// Adyen sends `success` as the text "true"/"false"; accept a JSON boolean too.
    static func flag(_ value: Any?) -> Bool {
        switch value {
        case let text as String: return text == "true"
        case let number as NSNumber: return String(cString: number.objCType) == "c" && number.boolValue
        default: return false
        }
    }

    /// A JSON string, or a JSON number as text (Xsolla sends transaction ids as numbers). A string
    /// with control characters is no id or reference: Postgres refuses NUL, and U+001E/U+001F
    /// separate references where they are stored together.
    static func text(_ value: Any?) -> String? {
        switch value {
        case let text as String: return text.isEmpty || text.unicodeScalars.contains(where: { $0.value < 0x20 }) ? nil : text
        case let number as NSNumber where String(cString: number.objCType) != "c": return number.stringValue
        default: return nil
        }
    }

    /// An integer from a JSON number or a string of digits (Paddle sends amounts as strings).
    static func int(_ value: Any?) -> Int64? {
        switch value {
        case let number as NSNumber:
            let double = number.doubleValue
            return double.rounded() == double && abs(double) < 9e15 ? Int64(double) : nil
        case let text as String: return Int64(text)
        default: return nil
        }
    }
}

extension PaymentEvent {
    /// Sets the amount from what the body said: absent stays nil; a value that is not a whole
    /// number of minor units in 0...10^15 makes the event not understood (stored, never applied).
    mutating func setAmount(_ value: Int64?, present: Bool) {
        if let value, (0...PaymentEventNormalizer.maximumAmountMinor).contains(value) {
            amountMinor = value
        } else if present {
            amountMinor = nil
            understood = false
            kind = .other
        }
    }

    /// Sets the amount from a JSON value holding minor units (number or digit string).
    mutating func setMinorAmount(_ value: Any?) {
        setAmount(PaymentEventNormalizer.int(value), present: value != nil && !(value is NSNull))
    }
}

public enum NormalizationError: Error, Sendable, Equatable {
    /// Nothing in the callback identifies the event: it cannot be deduplicated, so it is refused.
    case noEventID
}

import Foundation
import TollgateCore

/// One verified provider callback, normalized: what it is, which order it is for, and the raw body
/// exactly as received (stored for audit and reprocessing).
public struct PaymentEvent: Sendable, Equatable {
    public var tenant: String
    public var source: String
    /// The provider account the source receives for (default: the source name). Sources sharing
    /// an account share deduplication: the same provider event is applied once.
    public var account: String
    public var provider: Provider
    /// The provider's id for this event; with tenant and account, the deduplication key.
    public var providerEventID: String
    public var kind: PaymentEventKind
    /// Our order id, from where each provider carries the merchant's reference.
    public var orderID: String?
    /// The payment this event is or points at (its first link reference).
    public var providerPaymentID: String?
    /// Provider references that link this event and its order: for a payment, the ids it is known
    /// by (PaymentIntent and charge); for a refund or dispute, the payment it points at and its
    /// own id (an Adyen dispute's pspReference, which a later CHARGEBACK_REVERSED carries alone).
    public var linkReferences: [String]
    /// Refund and dispute identity, cumulative totals: what the state machine needs beyond the kind.
    public var facts: EventFacts
    public var amountMinor: Int64?
    public var currency: String?
    public var occurredAt: Date?
    /// False when the body verified but could not be understood; stored as `other`.
    public var understood: Bool
    public var rawBody: [UInt8]

    public init(
        tenant: String, source: String, account: String? = nil, provider: Provider, providerEventID: String, kind: PaymentEventKind,
        orderID: String? = nil, providerPaymentID: String? = nil, linkReferences: [String]? = nil, facts: EventFacts = EventFacts(),
        amountMinor: Int64? = nil, currency: String? = nil, occurredAt: Date? = nil, understood: Bool = true, rawBody: [UInt8]
    ) {
        self.tenant = tenant
        self.source = source
        self.account = account ?? source
        self.provider = provider
        self.providerEventID = providerEventID
        self.kind = kind
        self.orderID = orderID
        self.providerPaymentID = providerPaymentID
        self.linkReferences = linkReferences ?? providerPaymentID.map { [$0] } ?? []
        self.facts = facts
        self.amountMinor = amountMinor
        self.currency = currency
        self.occurredAt = occurredAt
        self.understood = understood
        self.rawBody = rawBody
    }

    /// The facts the order state machine reads.
    public var orderEvent: OrderEvent {
        var facts = facts
        facts.paymentReference = facts.paymentReference ?? providerPaymentID
        return OrderEvent(kind: kind, amountMinor: amountMinor, currency: currency, facts: facts)
    }
}

/// ISO 4217 minor-unit exponents, for providers that send amounts in major units (Xsolla).
public enum CurrencyExponent {
    static let zero: Set<String> = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
    static let three: Set<String> = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]

    public static func of(_ currency: String) -> Int {
        let code = currency.uppercased()
        if zero.contains(code) { return 0 }
        if three.contains(code) { return 3 }
        return 2
    }

    /// Apple's milliunits (thousandths of the major unit) in one minor unit: 10 for USD, 1,000 for JPY, 1 for KWD.
    public static func millisPerMinorUnit(_ currency: String) -> Int64 {
        switch of(currency) {
        case 0: 1000
        case 3: 1
        default: 10
        }
    }

    /// Converts a decimal major-unit amount ("9.99") to minor units (999); nil if it has more
    /// fractional digits than the currency allows or is not a plain decimal.
    public static func minorUnits(fromMajor text: String, currency: String) -> Int64? {
        let exponent = of(currency)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].allSatisfy(\.isASCII), parts[0].allSatisfy(\.isNumber) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        while fraction.count > exponent, fraction.hasSuffix("0") { fraction.removeLast() }
        guard fraction.count <= exponent else { return nil }
        fraction += String(repeating: "0", count: exponent - fraction.count)
        return Int64(String(parts[0]) + fraction)
    }
}

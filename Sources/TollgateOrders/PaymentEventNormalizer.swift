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
    public var provider: String

    public init(tenant: String, source: String, provider: String) {
        self.tenant = tenant
        self.source = source
        self.provider = provider
    }

    public func normalize(headers: [String: String], body: [UInt8]) throws(NormalizationError) -> [PaymentEvent] {
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        switch provider {
        case "stripe": return [try stripe(json, body)]
        case "standard-webhooks": return [try standardWebhooks(json, headers, body)]
        case "adyen": return try adyen(json, body)
        case "paddle": return [try paddle(json, body)]
        case "xsolla": return [try xsolla(json, body)]
        case "checkout": return [try checkout(json, body)]
        default: throw .unknownProvider(provider)
        }
    }

    /// An event of `kind` (`other` for types we store but do not act on). `understood` is false
    /// when the body lacks the structure the provider documents.
    private func event(_ id: String, _ kind: PaymentEventKind?, _ body: [UInt8], understood: Bool) -> PaymentEvent {
        PaymentEvent(tenant: tenant, source: source, provider: provider, providerEventID: id, kind: understood ? kind ?? .other : .other,
                     understood: understood, rawBody: body)
    }

    // Stripe: `id`, `type`, order in data.object.metadata.order_id.
    static let stripeKinds: [String: PaymentEventKind] = [
        "payment_intent.succeeded": .paymentSucceeded, "payment_intent.amount_capturable_updated": .paymentAuthorized,
        "payment_intent.payment_failed": .paymentFailed, "payment_intent.canceled": .paymentCanceled,
        "charge.refunded": .refundSucceeded, "charge.dispute.created": .disputeOpened,
        "checkout.session.expired": .checkoutExpired,
    ]

    private func stripe(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = json?["id"] as? String, !id.isEmpty else { throw .noEventID }
        let type = json?["type"] as? String ?? ""
        let object = (json?["data"] as? [String: Any])?["object"] as? [String: Any]
        var kind = Self.stripeKinds[type]
        if type == "charge.dispute.closed" {
            kind = switch object?["status"] as? String { case "won": .disputeWon; case "lost": .disputeLost; default: nil }
        }
        var result = event(id, kind, body, understood: object != nil)
        result.orderID = (object?["metadata"] as? [String: Any])?["order_id"] as? String
        result.currency = (object?["currency"] as? String)?.uppercased()
        result.occurredAt = (json?["created"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
        switch result.kind {
        case .refundSucceeded:
            // The refund this event announces: the newest in the list (amount_refunded is cumulative).
            let latest = ((object?["refunds"] as? [String: Any])?["data"] as? [[String: Any]])?.first
            result.amountMinor = Self.int(latest?["amount"])
            result.providerPaymentID = object?["payment_intent"] as? String ?? object?["id"] as? String
            if result.amountMinor == nil { (result.understood, result.kind) = (false, .other) }
        case .disputeOpened, .disputeWon, .disputeLost:
            result.amountMinor = Self.int(object?["amount"])
            result.providerPaymentID = object?["payment_intent"] as? String
        default:
            result.amountMinor = Self.int(object?["amount_received"]) ?? Self.int(object?["amount"])
            result.providerPaymentID = object?["id"] as? String
        }
        return result
    }

    // Standard Webhooks: id from the `webhook-id` header; our own event shape in the body.
    private func standardWebhooks(_ json: [String: Any]?, _ headers: [String: String], _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = headers["webhook-id"] ?? headers["svix-id"], !id.isEmpty else { throw .noEventID }
        let data = json?["data"] as? [String: Any]
        var result = event(id, (json?["type"] as? String).flatMap(PaymentEventKind.init(rawValue:)), body, understood: json?["type"] is String)
        result.orderID = data?["order_id"] as? String
        result.providerPaymentID = data?["payment_id"] as? String
        result.amountMinor = Self.int(data?["amount"])
        result.currency = (data?["currency"] as? String)?.uppercased()
        if let timestamp = json?["timestamp"] as? String { result.occurredAt = ISO8601Timestamp.parse(timestamp) }
        return result
    }

    // Adyen: one event per notification item; id pspReference:eventCode:success.
    private func adyen(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> [PaymentEvent] {
        guard let wrappers = json?["notificationItems"] as? [[String: Any]], !wrappers.isEmpty else {
            // Platform webhooks (HmacSignature header) carry their own id; keep them as `other`.
            guard let id = (json?["data"] as? [String: Any])?["id"] as? String ?? json?["id"] as? String else { throw .noEventID }
            return [event(id, nil, body, understood: true)]
        }
        var events: [PaymentEvent] = []
        for wrapper in wrappers {
            guard let item = wrapper["NotificationRequestItem"] as? [String: Any],
                  let psp = item["pspReference"] as? String, let code = item["eventCode"] as? String
            else { throw .noEventID }
            let success = Self.flag(item["success"])
            let kind: PaymentEventKind? = switch (code, success) {
            case ("AUTHORISATION", true): .paymentSucceeded
            case ("AUTHORISATION", false): .paymentFailed
            case ("CANCELLATION", true): .paymentCanceled
            case ("REFUND", true): .refundSucceeded
            case ("NOTIFICATION_OF_CHARGEBACK", _): .disputeOpened
            case ("CHARGEBACK", _): .disputeLost
            case ("CHARGEBACK_REVERSED", _): .disputeWon
            case ("OFFER_CLOSED", true): .checkoutExpired
            default: nil
            }
            var result = event("\(psp):\(code):\(success)", kind, body, understood: true)
            result.orderID = item["merchantReference"] as? String
            result.providerPaymentID = (item["originalReference"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? psp
            let amount = item["amount"] as? [String: Any]
            result.amountMinor = Self.int(amount?["value"])
            result.currency = amount?["currency"] as? String
            if let date = item["eventDate"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
            events.append(result)
        }
        return events
    }

    // Paddle Billing: `event_id`, `event_type`, order in data.custom_data.order_id.
    private func paddle(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = json?["event_id"] as? String, !id.isEmpty else { throw .noEventID }
        let data = json?["data"] as? [String: Any]
        let kind: PaymentEventKind? = switch json?["event_type"] as? String {
        case "transaction.completed", "transaction.paid": .paymentSucceeded
        case "transaction.payment_failed": .paymentFailed
        case "transaction.canceled": .paymentCanceled
        case "adjustment.created" where data?["action"] as? String == "refund" && data?["status"] as? String == "approved": .refundSucceeded
        default: nil
        }
        var result = event(id, kind, body, understood: data != nil)
        result.orderID = (data?["custom_data"] as? [String: Any])?["order_id"] as? String
        result.providerPaymentID = data?["transaction_id"] as? String ?? data?["id"] as? String
        let totals = ((data?["details"] as? [String: Any])?["totals"] as? [String: Any]) ?? (data?["totals"] as? [String: Any])
        result.amountMinor = Self.int(totals?["grand_total"]) ?? Self.int(totals?["total"])
        result.currency = (totals?["currency_code"] as? String) ?? (data?["currency_code"] as? String)
        if let date = json?["occurred_at"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
        return result
    }

    // Xsolla: `transaction.id`; amounts in major units.
    private func xsolla(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        let transaction = json?["transaction"] as? [String: Any]
        guard let rawID = transaction?["id"], !"\(rawID)".isEmpty else { throw .noEventID }
        let kind: PaymentEventKind? = switch json?["notification_type"] as? String {
        case "payment": .paymentSucceeded
        case "refund": .refundSucceeded
        default: nil
        }
        var result = event("\(rawID)", kind, body, understood: json?["notification_type"] is String)
        result.orderID = transaction?["external_id"] as? String
        result.providerPaymentID = "\(rawID)"
        let total = (json?["purchase"] as? [String: Any])?["total"] as? [String: Any]
        if let currency = total?["currency"] as? String, let amount = total?["amount"] {
            result.currency = currency.uppercased()
            result.amountMinor = CurrencyExponent.minorUnits(fromMajor: "\(amount)", currency: currency)
        }
        return result
    }

    // Checkout.com: `id`, `type`, order in data.reference.
    static let checkoutKinds: [String: PaymentEventKind] = [
        "payment_approved": .paymentAuthorized, "payment_captured": .paymentSucceeded, "payment_declined": .paymentFailed,
        "payment_capture_declined": .paymentFailed, "payment_canceled": .paymentCanceled, "payment_voided": .paymentCanceled,
        "payment_refunded": .refundSucceeded, "dispute_received": .disputeOpened, "dispute_won": .disputeWon,
        "dispute_lost": .disputeLost, "payment_expired": .checkoutExpired,
    ]

    private func checkout(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = json?["id"] as? String, !id.isEmpty else { throw .noEventID }
        let data = json?["data"] as? [String: Any]
        var result = event(id, (json?["type"] as? String).flatMap { Self.checkoutKinds[$0] }, body, understood: data != nil)
        result.orderID = data?["reference"] as? String
        result.providerPaymentID = data?["id"] as? String
        result.amountMinor = Self.int(data?["amount"])
        result.currency = (data?["currency"] as? String)?.uppercased()
        if let date = json?["created_on"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
        return result
    }

    /// Adyen sends `success` as the text "true"/"false"; accept a JSON boolean too.
    static func flag(_ value: Any?) -> Bool {
        switch value {
        case let text as String: return text == "true"
        case let number as NSNumber: return String(cString: number.objCType) == "c" && number.boolValue
        default: return false
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

public enum NormalizationError: Error, Sendable, Equatable {
    /// Nothing in the callback identifies the event: it cannot be deduplicated, so it is refused.
    case noEventID
    case unknownProvider(String)
}

import Foundation
import TollgateCore
import TollgateOrders
import TollgateSignatures

/// One payment event as a provider would announce it: which order, what happened, how much.
///
/// Built here in each provider's own callback shape (the shapes ``PaymentEventNormalizer``
/// reads), then signed by ``WebhookSigner``. The provider simulator, `tollgate trigger` and the
/// load generator all send callbacks made here, so a change to a provider's shape is made once.
public struct ProviderCallback: Sendable, Equatable {
    public var kind: PaymentEventKind
    public var orderID: String
    /// The provider's event id (Stripe `evt_…`, Paddle `evt_…`, the Standard Webhooks message id).
    /// Adyen's id is its `pspReference`; Xsolla's is its transaction id (digits).
    public var eventID: String
    /// The provider's payment id (Stripe `pi_…`), stable across the events of one payment.
    public var paymentID: String
    public var amountMinor: Int64
    public var currency: String
    public var occurredAt: Date

    public init(kind: PaymentEventKind, orderID: String, eventID: String, paymentID: String, amountMinor: Int64, currency: String, occurredAt: Date = Date()) {
        self.kind = kind
        self.orderID = orderID
        self.eventID = eventID
        self.paymentID = paymentID
        self.amountMinor = amountMinor
        self.currency = currency.uppercased()
        self.occurredAt = occurredAt
    }

    /// The event kinds `provider` can announce (and our normalizer understands).
    public static func kinds(for provider: Provider) -> [PaymentEventKind] {
        let all: [PaymentEventKind] = [
            .paymentAuthorized, .paymentSucceeded, .paymentFailed, .paymentCanceled, .refundSucceeded, .disputeOpened, .disputeWon, .disputeLost, .checkoutExpired,
        ]
        return switch provider {
        case .stripe, .standardWebhooks, .checkout: all
        case .adyen: all.filter { $0 != .paymentAuthorized }
        case .paddle: [.paymentSucceeded, .paymentFailed, .paymentCanceled, .refundSucceeded]
        case .xsolla: [.paymentSucceeded, .refundSucceeded]
        }
    }

    /// The body `provider` sends for this event; nil if the provider has no such event.
    public func body(for provider: Provider) -> [UInt8]? {
        guard Self.kinds(for: provider).contains(kind) else { return nil }
        let object: [String: Any]
        switch provider {
        case .stripe: object = stripe()
        case .standardWebhooks: object = standardWebhooks()
        case .adyen: object = adyen()
        case .paddle: object = paddle()
        case .xsolla: return xsolla()
        case .checkout: object = checkout()
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    /// The id under which the edge stores this event (`payment_events.provider_event_id`), as
    /// ``PaymentEventNormalizer`` derives it: the event id, except for Adyen, whose notifications
    /// are identified by `pspReference:eventCode:success`, and Xsolla, by `type:transaction id`.
    public func storedEventID(for provider: Provider) -> String {
        if provider == .xsolla { return PaymentEventNormalizer.xsollaEventID(type: xsollaType, transaction: xsollaTransactionID) }
        guard provider == .adyen else { return eventID }
        let (code, success) = adyenCode
        return "\([.paymentSucceeded, .paymentFailed].contains(kind) ? paymentID : eventID):\(code):\(success)"
    }

    private var adyenCode: (String, Bool) {
        switch kind {
        case .paymentSucceeded: ("AUTHORISATION", true)
        case .paymentFailed: ("AUTHORISATION", false)
        case .paymentCanceled: ("CANCELLATION", true)
        case .refundSucceeded: ("REFUND", true)
        case .disputeOpened: ("NOTIFICATION_OF_CHARGEBACK", true)
        case .disputeLost: ("CHARGEBACK", true)
        case .disputeWon: ("CHARGEBACK_REVERSED", true)
        default: ("OFFER_CLOSED", true)
        }
    }

    /// The body, signed with `signer` at `occurredAt`: ready to POST.
    public func signed(by signer: WebhookSigner) -> WebhookSigner.SignedCallback? {
        guard let body = body(for: signer.provider) else { return nil }
        return signer.sign(body: body, timestamp: Int64(occurredAt.timeIntervalSince1970), id: eventID)
    }

    private var iso8601: String { ISO8601Timestamp.format(occurredAt) }
    private var unix: Int64 { Int64(occurredAt.timeIntervalSince1970) }

    private func stripe() -> [String: Any] {
        let metadata = ["order_id": orderID]
        let currency = currency.lowercased()
        let intent: [String: Any] = ["id": paymentID, "object": "payment_intent", "amount": amountMinor, "currency": currency, "metadata": metadata]
        let (type, object): (String, [String: Any]) = switch kind {
        case .paymentSucceeded: ("payment_intent.succeeded", intent.merging(["status": "succeeded", "amount_received": amountMinor]) { $1 })
        case .paymentAuthorized: ("payment_intent.amount_capturable_updated", intent.merging(["status": "requires_capture"]) { $1 })
        case .paymentFailed: ("payment_intent.payment_failed", intent.merging(["status": "requires_payment_method"]) { $1 })
        case .paymentCanceled: ("payment_intent.canceled", intent.merging(["status": "canceled"]) { $1 })
        case .refundSucceeded: ("charge.refunded", [
            "id": "ch_\(paymentID)", "object": "charge", "payment_intent": paymentID, "amount": amountMinor, "currency": currency,
            "amount_refunded": amountMinor, "metadata": metadata,
            "refunds": ["object": "list", "data": [["id": "re_\(eventID)", "amount": amountMinor, "currency": currency]]],
        ])
        case .disputeOpened, .disputeWon, .disputeLost: (kind == .disputeOpened ? "charge.dispute.created" : "charge.dispute.closed", [
            "id": "dp_\(eventID)", "object": "dispute", "payment_intent": paymentID, "amount": amountMinor, "currency": currency,
            "status": kind == .disputeWon ? "won" : kind == .disputeLost ? "lost" : "needs_response", "metadata": metadata,
        ])
        default: ("checkout.session.expired", ["id": "cs_\(paymentID)", "object": "checkout.session", "status": "expired", "metadata": metadata])
        }
        return ["id": eventID, "object": "event", "api_version": "2024-06-20", "created": unix, "livemode": false, "type": type,
                "data": ["object": object]]
    }

    private func standardWebhooks() -> [String: Any] {
        ["type": kind.rawValue, "timestamp": iso8601,
         "data": ["order_id": orderID, "payment_id": paymentID, "amount": amountMinor, "currency": currency]]
    }

    private func adyen() -> [String: Any] {
        let (code, success) = adyenCode
        // A payment's own events carry its pspReference; later ones a new one pointing back to it.
        let isPaymentEvent = [.paymentSucceeded, .paymentFailed].contains(kind)
        var item: [String: Any] = [
            "pspReference": isPaymentEvent ? paymentID : eventID, "merchantAccountCode": "TollgateDev", "merchantReference": orderID,
            "amount": ["value": amountMinor, "currency": currency], "eventCode": code, "success": success ? "true" : "false",
            "eventDate": iso8601, "paymentMethod": "visa",
        ]
        if !isPaymentEvent { item["originalReference"] = paymentID }
        return ["live": "false", "notificationItems": [["NotificationRequestItem": item]]]
    }

    private func paddle() -> [String: Any] {
        let totals: [String: Any] = ["grand_total": "\(amountMinor)", "total": "\(amountMinor)", "currency_code": currency]
        let (type, data): (String, [String: Any]) = switch kind {
        case .paymentSucceeded: ("transaction.completed", ["id": paymentID, "status": "completed"])
        case .paymentFailed: ("transaction.payment_failed", ["id": paymentID, "status": "past_due"])
        case .paymentCanceled: ("transaction.canceled", ["id": paymentID, "status": "canceled"])
        default: ("adjustment.created", ["id": "adj_\(eventID)", "transaction_id": paymentID, "action": "refund", "status": "approved"])
        }
        let full = data.merging([
            "custom_data": ["order_id": orderID], "currency_code": currency, "details": ["totals": totals], "totals": totals,
        ]) { $1 }
        return ["event_id": eventID, "event_type": type, "occurred_at": iso8601, "notification_id": "ntf_\(eventID)", "data": full]
    }

    /// Xsolla sends amounts in major units as JSON numbers (`9.99`); written as text so that no
    /// binary floating point touches the amount.
    private func xsolla() -> [UInt8] {
        let exponent = CurrencyExponent.of(currency)
        let digits = String(amountMinor)
        let major = exponent == 0 ? digits : {
            let padded = String(repeating: "0", count: max(0, exponent + 1 - digits.count)) + digits
            return "\(padded.dropLast(exponent)).\(padded.suffix(exponent))"
        }()
        let type = xsollaType
        let id = xsollaTransactionID
        return Array(("{\"notification_type\":\"\(type)\",\"transaction\":{\"id\":\(id),\"external_id\":\(Self.quoted(orderID)),"
            + "\"payment_date\":\"\(iso8601)\"},\"purchase\":{\"total\":{\"currency\":\"\(currency)\",\"amount\":\(major)}}}").utf8)
    }

    private var xsollaType: String { kind == .refundSucceeded ? "refund" : "payment" }
    /// Xsolla transaction ids are integers: the event id as one (0 if it is not).
    private var xsollaTransactionID: String { Int64(eventID).map(String.init) ?? "0" }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8), as: UTF8.self)
            .dropFirst().dropLast().description
    }

    private func checkout() -> [String: Any] {
        let type = switch kind {
        case .paymentAuthorized: "payment_approved"
        case .paymentSucceeded: "payment_captured"
        case .paymentFailed: "payment_declined"
        case .paymentCanceled: "payment_canceled"
        case .refundSucceeded: "payment_refunded"
        case .disputeOpened: "dispute_received"
        case .disputeWon: "dispute_won"
        case .disputeLost: "dispute_lost"
        default: "payment_expired"
        }
        return ["id": eventID, "type": type, "created_on": iso8601,
                "data": ["id": paymentID, "reference": orderID, "amount": amountMinor, "currency": currency]]
    }
}

extension Provider {
    /// Whether the provider's event ids are decimal digits (Xsolla's transaction ids); others take any text.
    public var eventIDsAreDigits: Bool { self == .xsolla }
}

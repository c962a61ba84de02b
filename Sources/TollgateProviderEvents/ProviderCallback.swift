import Foundation
import TollgateCore
import TollgateOrders
import TollgateSignatures

/// One payment event as a provider would announce it: which order, what happened, how much.
///
/// Built here in each provider's own callback shape (the shapes ``PaymentEventNormalizer``
/// reads, after the real samples in PROVIDERS.md "Lifecycles"), then signed by ``WebhookSigner``.
/// The provider simulator, `tollgate trigger` and the load generator all send callbacks made
/// here, so a change to a provider's shape is made once.
///
/// Refunds and disputes point at the payment (``paymentID``) and, like the real providers, carry
/// our order reference only where the provider does: a Stripe refund or dispute, an Adyen REFUND
/// (whose merchantReference is the refund's own, `<order>-refund`) and a Paddle adjustment carry
/// none, so the edge must find their order through the payment.
public struct ProviderCallback: Sendable, Equatable {
    public var kind: PaymentEventKind
    public var orderID: String
    /// The provider's event id (Stripe `evt_…`, Paddle `evt_…`, the Standard Webhooks message id).
    /// Adyen identifies a notification by its pspReference (the payment's, the refund's or the
    /// dispute's); Xsolla by its transaction id (digits), see ``xsollaTransactionID``.
    public var eventID: String
    /// The provider's payment id (Stripe `pi_…`, Adyen's pspReference, Paddle `txn_…`, an Xsolla
    /// transaction id when it is digits), stable across the events of one payment.
    public var paymentID: String
    /// Minor units: the payment, the refund, or (``refundIsCumulative``) the refunded total.
    public var amountMinor: Int64
    public var currency: String
    public var occurredAt: Date
    /// The refund's own id (nil: derived from the event id): Stripe `re_…`, Adyen's pspReference of
    /// the refund, Paddle's adjustment `adj_…`, Checkout.com's action id `act_…`. A refund and its
    /// failure carry the same one.
    public var refundID: String?
    /// The dispute's id (nil: one per payment, `dp_<payment>`; Checkout.com `dsp_<payment>`), so
    /// that every stage of one order's dispute names the same dispute.
    public var disputeID: String?
    /// The refund is reported as the payment's refunded total so far (Stripe `charge.refunded`'s
    /// `amount_refunded`, an Xsolla full `refund`); `amountMinor` is that total. Only providers in
    /// ``reportsRefundTotals(_:)`` send such reports.
    public var refundIsCumulative: Bool
    /// The payment's amount, for shapes that restate it beside a refund (Stripe's charge); nil:
    /// `amountMinor`.
    public var paymentAmountMinor: Int64?

    public init(kind: PaymentEventKind, orderID: String, eventID: String, paymentID: String, amountMinor: Int64, currency: String,
                occurredAt: Date = Date(), refundID: String? = nil, disputeID: String? = nil, refundIsCumulative: Bool = false,
                paymentAmountMinor: Int64? = nil) {
        self.kind = kind
        self.orderID = orderID
        self.eventID = eventID
        self.paymentID = paymentID
        self.amountMinor = amountMinor
        self.currency = currency.uppercased()
        self.occurredAt = occurredAt
        self.refundID = refundID
        self.disputeID = disputeID
        self.refundIsCumulative = refundIsCumulative
        self.paymentAmountMinor = paymentAmountMinor
    }

    /// The event kinds `provider` can announce (and our normalizer understands).
    public static func kinds(for provider: Provider) -> [PaymentEventKind] {
        let all: [PaymentEventKind] = [
            .paymentAuthorized, .paymentSucceeded, .paymentFailed, .paymentCanceled, .refundSucceeded, .refundFailed,
            .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost, .checkoutExpired,
        ]
        return switch provider {
        case .stripe, .standardWebhooks: all
        case .adyen: all.filter { $0 != .paymentAuthorized }
        // No refund failure the normalizer maps (payment_refund_declined is not one).
        case .checkout: all.filter { $0 != .refundFailed }
        // Adjustments: refund, chargeback_warning (opened), chargeback (funds withdrawn),
        // chargeback_reverse (won); no other outcome.
        case .paddle: [.paymentSucceeded, .paymentFailed, .paymentCanceled, .refundSucceeded, .disputeOpened, .disputeFundsWithdrawn, .disputeWon]
        case .xsolla: [.paymentSucceeded, .refundSucceeded]
        // ONE_TIME_CHARGE, REFUND, REFUND_REVERSED; Apple reports no disputes.
        case .apple: [.paymentSucceeded, .refundSucceeded, .refundFailed]
        // ONE_TIME_PRODUCT_PURCHASED, ONE_TIME_PRODUCT_CANCELED, a voided purchase.
        case .googlePlay: [.paymentSucceeded, .paymentCanceled, .refundSucceeded]
        // CAPTURE.COMPLETED / DENIED / REFUNDED / REVERSED (funds withdrawn), DISPUTE.CREATED / RESOLVED (either way).
        case .paypal: [.paymentSucceeded, .paymentFailed, .refundSucceeded, .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost]
        }
    }

    /// Whether `provider` reports refunds as the payment's refunded total (see ``refundIsCumulative``).
    public static func reportsRefundTotals(_ provider: Provider) -> Bool { [.stripe, .xsolla].contains(provider) }

    /// The body `provider` sends for this event; nil if the provider has no such event.
    public func body(for provider: Provider) -> [UInt8]? {
        guard Self.kinds(for: provider).contains(kind) else { return nil }
        guard !refundIsCumulative || (kind == .refundSucceeded && Self.reportsRefundTotals(provider)) else { return nil }
        let object: [String: Any]
        switch provider {
        case .stripe: object = stripe()
        case .standardWebhooks: object = standardWebhooks()
        case .adyen: object = adyen()
        case .paddle: object = paddle()
        case .xsolla: return xsolla()
        case .checkout: object = checkout()
        case .apple: object = apple()
        case .googlePlay: object = googlePlay()
        case .paypal: object = paypal()
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    /// The id under which the edge stores this event (`payment_events.provider_event_id`), as
    /// ``PaymentEventNormalizer`` derives it: the event id, except for Adyen, whose notifications
    /// are identified by `pspReference:eventCode:success`, and Xsolla, by `type:transaction id`.
    public func storedEventID(for provider: Provider) -> String {
        switch provider {
        case .xsolla: PaymentEventNormalizer.xsollaEventID(type: xsollaType, transaction: xsollaTransactionID)
        case .adyen: PaymentEventNormalizer.adyenEventID(psp: adyenPSPReference, code: adyenCode.0, success: adyenCode.1, disputeStatus: adyenDisputeStatus)
        default: eventID
        }
    }

    /// The refund id `provider` sends (what the normalizer records as the refund's identity).
    public func refundReference(for provider: Provider) -> String {
        if let refundID { return refundID }
        return switch provider {
        case .stripe: "re_\(eventID)"
        case .paddle: "adj_\(eventID)"
        case .checkout: "act_\(eventID)"
        // One refund per App Store transaction (the normalizer's identity for it).
        case .apple: "refund:\(paymentID)"
        // One voided purchase per Google order.
        case .googlePlay: "void:GPA.\(paymentID)"
        case .paypal: "REF\(eventID)"
        case .adyen, .standardWebhooks, .xsolla: eventID
        }
    }

    /// The dispute id `provider` sends. Paddle has none (each step is an adjustment of its own):
    /// the dispute is named by the transaction it disputes.
    public func disputeReference(for provider: Provider) -> String {
        switch provider {
        // PayPal: a dispute and a reversal of one capture are one dispute, named by the capture.
        case .paddle, .paypal: paymentID
        case .checkout: disputeID ?? "dsp_\(paymentID)"
        default: disputeID ?? "dp_\(paymentID)"
        }
    }

    private var adyenCode: (String, Bool) {
        switch kind {
        case .paymentSucceeded: ("AUTHORISATION", true)
        case .paymentFailed: ("AUTHORISATION", false)
        case .paymentCanceled: ("CANCELLATION", true)
        case .refundSucceeded: ("REFUND", true)
        // Arrives with success "true": the accepted refund did not happen after all.
        case .refundFailed: ("REFUND_FAILED", true)
        case .disputeOpened: ("NOTIFICATION_OF_CHARGEBACK", true)
        // A CHARGEBACK without additionalData.disputeStatus: the funds are gone, the outcome is to come.
        case .disputeFundsWithdrawn: ("CHARGEBACK", true)
        // Newer flows: the same CHARGEBACK with disputeStatus "Lost".
        case .disputeLost: ("CHARGEBACK", true)
        case .disputeWon: ("CHARGEBACK_REVERSED", true)
        default: ("OFFER_CLOSED", true)
        }
    }

    /// Newer Adyen flows report a dispute's outcome in `additionalData.disputeStatus` of a CHARGEBACK.
    private var adyenDisputeStatus: String? { kind == .disputeLost ? "Lost" : nil }

    /// Adyen's pspReference for this notification: the payment's for its own events (and an
    /// expired offer), the refund's or the dispute's for those, a new one for a cancellation.
    private var adyenPSPReference: String {
        switch kind {
        case .paymentSucceeded, .paymentFailed, .checkoutExpired: paymentID
        case .refundSucceeded, .refundFailed: refundReference(for: .adyen)
        case .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost: disputeReference(for: .adyen)
        default: eventID
        }
    }

    /// The body, signed with `signer` at `occurredAt`: ready to POST.
    public func signed(by signer: WebhookSigner) -> WebhookSigner.SignedCallback? {
        guard let body = body(for: signer.provider) else { return nil }
        return signer.sign(body: body, timestamp: Int64(occurredAt.timeIntervalSince1970), id: eventID)
    }

    private var iso8601: String { ISO8601Timestamp.format(occurredAt) }
    private var unix: Int64 { Int64(occurredAt.timeIntervalSince1970) }
    private var paymentAmount: Int64 { paymentAmountMinor ?? amountMinor }

    // MARK: - Stripe

    /// PaymentIntents carry our order in metadata and name their charge (`latest_charge`);
    /// refunds and disputes carry none, only `charge` and `payment_intent` (stripe/*.json samples).
    private func stripe() -> [String: Any] {
        let currency = currency.lowercased()
        let charge = "ch_\(paymentID)"
        let intent: [String: Any] = [
            "id": paymentID, "object": "payment_intent", "amount": amountMinor, "currency": currency, "metadata": ["order_id": orderID],
            "latest_charge": charge,
        ]
        let refund: [String: Any] = [
            "id": refundReference(for: .stripe), "object": "refund", "amount": amountMinor, "currency": currency, "charge": charge,
            "payment_intent": paymentID, "metadata": [String: String](),
        ]
        let dispute: [String: Any] = [
            "id": disputeReference(for: .stripe), "object": "dispute", "amount": amountMinor, "currency": currency, "charge": charge,
            "payment_intent": paymentID, "metadata": [String: String](), "reason": "fraudulent",
        ]
        let (type, object): (String, [String: Any]) = switch kind {
        case .paymentSucceeded: ("payment_intent.succeeded", intent.merging(["status": "succeeded", "amount_received": amountMinor]) { $1 })
        case .paymentAuthorized: ("payment_intent.amount_capturable_updated", intent.merging(["status": "requires_capture"]) { $1 })
        case .paymentFailed: ("payment_intent.payment_failed", intent.merging(["status": "requires_payment_method"]) { $1 })
        case .paymentCanceled: ("payment_intent.canceled", intent.merging(["status": "canceled"]) { $1 })
        // Since API 2022-11-15 the charge has no refunds list: amount_refunded is the total so far.
        case .refundSucceeded where refundIsCumulative: ("charge.refunded", [
            "id": charge, "object": "charge", "payment_intent": paymentID, "amount": paymentAmount, "amount_captured": paymentAmount,
            "amount_refunded": amountMinor, "refunded": amountMinor >= paymentAmount, "captured": true, "paid": true,
            "status": "succeeded", "currency": currency, "metadata": [String: String](),
        ])
        case .refundSucceeded: ("refund.created", refund.merging(["status": "succeeded"]) { $1 })
        case .refundFailed: ("refund.failed", refund.merging(["status": "failed", "failure_reason": "expired_or_canceled_card"]) { $1 })
        case .disputeOpened: ("charge.dispute.created", dispute.merging(["status": "needs_response"]) { $1 })
        // The funds_withdrawn sample references the charge only (no payment_intent field).
        case .disputeFundsWithdrawn: ("charge.dispute.funds_withdrawn", dispute.merging(["status": "needs_response"]) { $1 }.filter { $0.key != "payment_intent" })
        case .disputeWon: ("charge.dispute.closed", dispute.merging(["status": "won"]) { $1 })
        case .disputeLost: ("charge.dispute.closed", dispute.merging(["status": "lost"]) { $1 })
        default: ("checkout.session.expired", [
            "id": "cs_\(paymentID)", "object": "checkout.session", "status": "expired", "metadata": ["order_id": orderID],
            "client_reference_id": orderID,
        ])
        }
        return ["id": eventID, "object": "event", "api_version": "2025-04-30.basil", "created": unix, "livemode": false, "type": type,
                "data": ["object": object]]
    }

    // MARK: - Standard Webhooks

    /// Our own shape: order, payment, and for refunds and disputes their ids.
    private func standardWebhooks() -> [String: Any] {
        var data: [String: Any] = ["order_id": orderID, "payment_id": paymentID, "amount": amountMinor, "currency": currency]
        switch kind {
        case .refundSucceeded, .refundFailed: data["refund_id"] = refundReference(for: .standardWebhooks)
        case .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost: data["dispute_id"] = disputeReference(for: .standardWebhooks)
        default: break
        }
        return ["type": kind.rawValue, "timestamp": iso8601, "data": data]
    }

    // MARK: - Adyen

    /// A payment's own notifications carry its pspReference and our merchantReference; a
    /// modification has its own pspReference and the payment's in originalReference (adyen/*.json).
    private func adyen() -> [String: Any] {
        let (code, success) = adyenCode
        var item: [String: Any] = [
            "pspReference": adyenPSPReference, "merchantAccountCode": "TollgateDev",
            "amount": ["value": amountMinor, "currency": currency], "eventCode": code, "success": success ? "true" : "false",
            "eventDate": iso8601, "paymentMethod": "visa", "reason": "",
        ]
        switch kind {
        case .paymentSucceeded, .paymentFailed, .checkoutExpired:
            item["merchantReference"] = orderID
        case .paymentCanceled:
            // The CANCELLATION sample has no merchantReference: only originalReference finds the order.
            item["originalReference"] = paymentID
        case .refundSucceeded, .refundFailed:
            // The refund's own merchant reference, not the order's.
            item["originalReference"] = paymentID
            item["merchantReference"] = "\(orderID)-refund"
        case .disputeWon:
            // CHARGEBACK_REVERSED carries no originalReference: the dispute's pspReference and the
            // payment's merchantReference are what it has.
            item["merchantReference"] = orderID
        default:
            // Chargebacks repeat the payment's merchantReference.
            item["originalReference"] = paymentID
            item["merchantReference"] = orderID
            item["additionalData"] = ["chargebackReasonCode": "10.4", "chargebackSchemeCode": "visa", "modificationMerchantReferences": ""]
                .merging(adyenDisputeStatus.map { ["disputeStatus": $0] } ?? [:]) { $1 }
        }
        return ["live": "false", "notificationItems": [["NotificationRequestItem": item]]]
    }

    // MARK: - Paddle

    /// Transactions carry our order in custom_data; adjustments (refunds, chargebacks) only the
    /// transaction_id they adjust. Amounts are strings in minor units.
    private func paddle() -> [String: Any] {
        let amount = "\(amountMinor)"
        let (type, data): (String, [String: Any]) = switch kind {
        case .paymentSucceeded, .paymentFailed, .paymentCanceled:
            paddleTransaction()
        default:
            // Only an approved adjustment moved money: a refund is approved in adjustment.updated
            // (adjustment.created is usually pending_approval); chargebacks arrive approved.
            (kind == .refundSucceeded ? "adjustment.updated" : "adjustment.created", [
                "id": kind == .refundSucceeded ? refundReference(for: .paddle) : "adj_\(eventID)",
                "action": paddleAdjustmentAction,
                "status": "approved", "transaction_id": paymentID, "currency_code": currency, "type": "partial",
                "reason": kind == .refundSucceeded ? "requested_by_customer" : "chargeback",
                "totals": ["subtotal": amount, "tax": "0", "total": amount, "fee": "0", "earnings": "0", "currency_code": currency],
            ])
        }
        return ["event_id": eventID, "event_type": type, "occurred_at": iso8601, "notification_id": "ntf_\(eventID)", "data": data]
    }

    private var paddleAdjustmentAction: String {
        switch kind {
        case .refundSucceeded: "refund"
        case .disputeOpened: "chargeback_warning"
        case .disputeWon: "chargeback_reverse"
        default: "chargeback"
        }
    }

    private func paddleTransaction() -> (String, [String: Any]) {
        let totals: [String: Any] = ["subtotal": "\(amountMinor)", "tax": "0", "grand_total": "\(amountMinor)", "total": "\(amountMinor)",
                                     "currency_code": currency]
        let (type, status, payment): (String, String, [String: Any]?) = switch kind {
        case .paymentSucceeded: ("transaction.completed", "completed", ["status": "captured", "amount": "\(amountMinor)"])
        // The transaction stays `ready`; the failure is in payments[].status.
        case .paymentFailed: ("transaction.payment_failed", "ready", ["status": "error", "error_code": "declined", "amount": "\(amountMinor)"])
        default: ("transaction.canceled", "canceled", nil)
        }
        return (type, [
            "id": paymentID, "status": status, "custom_data": ["order_id": orderID], "currency_code": currency,
            "details": ["totals": totals], "payments": payment.map { [$0] } ?? [],
        ])
    }

    // MARK: - Xsolla

    /// Xsolla sends amounts in major units as JSON numbers (`9.99`); written as text so that no
    /// binary floating point touches the amount. A refund carries the transaction id of the
    /// payment it cancels, and our order in external_id like the payment.
    private func xsolla() -> [UInt8] {
        let major = Self.major(amountMinor, currency)
        let type = xsollaType
        let id = xsollaTransactionID
        return Array(("{\"notification_type\":\"\(type)\",\"transaction\":{\"id\":\(id),\"external_id\":\(Self.quoted(orderID)),"
            + "\"payment_date\":\"\(iso8601)\"},\"purchase\":{\"total\":{\"currency\":\"\(currency)\",\"amount\":\(major)}}}").utf8)
    }

    /// `refund` is a full refund (the payment's refunded total), `partial_refund` one refund.
    private var xsollaType: String {
        guard kind == .refundSucceeded else { return "payment" }
        return refundIsCumulative ? "refund" : "partial_refund"
    }

    /// Xsolla transaction ids are integers and a refund carries its payment's: the payment id
    /// when it is digits, else the event id (0 if neither is).
    public var xsollaTransactionID: String { (Int64(paymentID) ?? Int64(eventID)).map(String.init) ?? "0" }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8), as: UTF8.self)
            .dropFirst().dropLast().description
    }

    // MARK: - Checkout.com

    /// Payment events: the payment in data.id and our order in data.reference (a refund adds its
    /// action_id); dispute events: the dispute in data.id, data.payment_id, data.payment_reference.
    private func checkout() -> [String: Any] {
        let type = switch kind {
        case .paymentAuthorized: "payment_approved"
        case .paymentSucceeded: "payment_captured"
        case .paymentFailed: "payment_declined"
        case .paymentCanceled: "payment_canceled"
        case .refundSucceeded: "payment_refunded"
        case .disputeOpened: "dispute_received"
        // Checkout.com debits the account when it asks for evidence.
        case .disputeFundsWithdrawn: "dispute_evidence_required"
        case .disputeWon: "dispute_won"
        case .disputeLost: "dispute_lost"
        default: "payment_expired"
        }
        var data: [String: Any] = ["amount": amountMinor, "currency": currency]
        switch kind {
        case .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost:
            data.merge(["id": disputeReference(for: .checkout), "payment_id": paymentID, "payment_reference": orderID, "reason": "fraudulent"]) { $1 }
        case .refundSucceeded:
            data.merge(["id": paymentID, "action_id": refundReference(for: .checkout), "reference": orderID]) { $1 }
        default:
            data.merge(["id": paymentID, "reference": orderID]) { $1 }
        }
        return ["id": eventID, "type": type, "created_on": iso8601, "data": data]
    }

    // MARK: - Apple

    /// The notification payload before signing: `data.signedTransactionInfo` is the transaction as
    /// a JSON object, which ``WebhookSigner`` signs in place with the bundle and environment of the
    /// source (AppleSignatureScheme.sign). Shaped after Apple's samples (apple/*.json): prices in
    /// milliunits, dates in milliseconds, our order in appAccountToken.
    private func apple() -> [String: Any] {
        let type = switch kind {
        case .refundSucceeded: "REFUND"
        case .refundFailed: "REFUND_REVERSED"
        default: "ONE_TIME_CHARGE"
        }
        let milliseconds = Int64(occurredAt.timeIntervalSince1970 * 1000)
        // Apple states the transaction's price and the share refunded; the share is rounded to
        // Apple's precision (a thousandth of a percent), which the normalizer's rounding undoes
        // for any payment below 10^5 minor units.
        // Saturating: an amount too large for Apple's milliunits is sent as the largest number,
        // which the edge refuses as it should (`trigger --amount-minor` takes any Int64).
        func times(_ a: Int64, _ b: Int64) -> Int64 {
            let (product, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? .max : product
        }
        let price = paymentAmount, milli = CurrencyExponent.millisPerMinorUnit(currency)
        var transaction: [String: Any] = [
            "transactionId": paymentID, "originalTransactionId": paymentID, "appAccountToken": orderID,
            "productId": "com.tollgate.gems", "type": "Consumable", "quantity": 1, "inAppOwnershipType": "PURCHASED",
            "transactionReason": "PURCHASE", "storefront": "USA", "purchaseDate": milliseconds, "signedDate": milliseconds,
            "price": times(price, milli), "currency": currency,
        ]
        if kind == .refundSucceeded || kind == .refundFailed {
            let share = times(amountMinor, 100_000), remainder = price > 0 ? share % price : 0
            let percentage = price > 0 ? min(100_000, share / price + (remainder >= price - remainder ? 1 : 0)) : 100_000
            transaction.merge(["revocationDate": milliseconds, "revocationReason": 0, "revocationPercentage": percentage,
                               "revocationType": percentage >= 100_000 ? "REFUND_FULL" : "REFUND_PRORATED"]) { $1 }
        }
        return [
            "notificationType": type, "notificationUUID": eventID, "version": "2.0", "signedDate": milliseconds,
            "data": ["appAppleId": 41234, "bundleVersion": "1.0", "status": 1, "signedTransactionInfo": transaction],
        ]
    }
}

extension ProviderCallback {
    // MARK: - PayPal

    /// A webhook event as PayPal's REST API sends it: captures carry our order in `custom_id`;
    /// refunds point at their capture through the `rel: up` link; disputes name it as
    /// `seller_transaction_id`. Amounts are decimal strings in major units.
    private func paypal() -> [String: Any] {
        let capture = paymentID
        let money: [String: Any] = ["currency_code": currency.uppercased(), "value": Self.major(amountMinor, currency)]
        let captureLink: [String: Any] = ["href": "https://api.paypal.com/v2/payments/captures/\(capture)", "rel": "up", "method": "GET"]
        let dispute = disputeID ?? "PP-D-\(paymentID)"
        let (type, resourceType, resource): (String, String, [String: Any]) = switch kind {
        case .paymentFailed:
            ("PAYMENT.CAPTURE.DENIED", "capture", ["id": capture, "status": "DECLINED", "amount": money, "custom_id": orderID])
        case .refundSucceeded:
            ("PAYMENT.CAPTURE.REFUNDED", "refund", ["id": refundReference(for: .paypal), "status": "COMPLETED", "amount": money, "links": [captureLink]])
        case .disputeFundsWithdrawn:
            ("PAYMENT.CAPTURE.REVERSED", "refund", ["id": "RV\(eventID)", "status": "COMPLETED", "amount": money, "links": [captureLink]])
        case .disputeOpened:
            ("CUSTOMER.DISPUTE.CREATED", "dispute", ["dispute_id": dispute, "status": "OPEN", "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                                                     "dispute_amount": money, "disputed_transactions": [["seller_transaction_id": capture]]])
        case .disputeWon, .disputeLost:
            ("CUSTOMER.DISPUTE.RESOLVED", "dispute", ["dispute_id": dispute, "status": "RESOLVED", "dispute_amount": money,
                                                      "disputed_transactions": [["seller_transaction_id": capture]],
                                                      "dispute_outcome": ["outcome_code": kind == .disputeWon ? "RESOLVED_SELLER_FAVOUR" : "RESOLVED_BUYER_FAVOUR"]])
        default:
            ("PAYMENT.CAPTURE.COMPLETED", "capture", ["id": capture, "status": "COMPLETED", "amount": money, "custom_id": orderID, "final_capture": true])
        }
        return ["id": eventID, "event_version": "1.0", "create_time": iso8601, "resource_type": resourceType, "event_type": type,
                "summary": type, "resource": resource]
    }

    /// Minor units as a decimal in major units (1999 USD is "19.99", 1200 JPY "1200"), as PayPal
    /// (a string) and Xsolla (a JSON number) send amounts: text, so no binary floating point
    /// touches the amount.
    static func major(_ minor: Int64, _ currency: String) -> String {
        let exponent = CurrencyExponent.of(currency)
        guard exponent > 0 else { return String(minor) }
        var digits = String(minor.magnitude)
        while digits.count <= exponent { digits = "0" + digits }
        return (minor < 0 ? "-" : "") + digits.dropLast(exponent) + "." + digits.suffix(exponent)
    }
}

extension ProviderCallback {
    // MARK: - Google Play

    /// A DeveloperNotification: the purchase is named by its token (the payment id here) and,
    /// once voided, Google's order id; no order of ours, no price (the signer adds packageName).
    private func googlePlay() -> [String: Any] {
        let milliseconds = String(Int64(occurredAt.timeIntervalSince1970 * 1000))
        let token = "gp.\(paymentID)"
        let detail: (String, [String: Any]) = switch kind {
        case .refundSucceeded:
            ("voidedPurchaseNotification", ["purchaseToken": token, "orderId": "GPA.\(paymentID)", "productType": 2, "refundType": 1])
        case .paymentCanceled: ("oneTimeProductNotification", ["version": "1.0", "notificationType": 2, "purchaseToken": token, "sku": "com.tollgate.gems"])
        default: ("oneTimeProductNotification", ["version": "1.0", "notificationType": 1, "purchaseToken": token, "sku": "com.tollgate.gems"])
        }
        return ["version": "1.0", "eventTimeMillis": milliseconds, detail.0: detail.1]
    }
}

extension Provider {
    /// Whether the provider's event ids are decimal digits (Xsolla's transaction ids); others take any text.
    public var eventIDsAreDigits: Bool { self == .xsolla }
}

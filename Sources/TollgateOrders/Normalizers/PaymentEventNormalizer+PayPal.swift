import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // PayPal (REST webhooks): {"id": "WH-...", "event_type", "resource_type", "resource": {...}}.
    // Identity: `id`. Our order: a capture's `custom_id` (the checkout passes the order id there).
    // The payment: the capture id. Refunds and reversals are resources of their own that point at
    // their capture through the link with `rel` "up"; disputes name it as
    // `disputed_transactions[].seller_transaction_id`. A reversal and the dispute about the same
    // capture are one dispute here, named by the capture: PayPal takes the money back (a
    // reversal, funds withdrawn) and a later resolution settles it either way. Amounts are
    // decimal strings in major units of `currency_code`.

    /// `dispute_outcome.outcome_code` of CUSTOMER.DISPUTE.RESOLVED: who kept the money.
    static let paypalDisputeOutcomes: [String: PaymentEventKind] = [
        "RESOLVED_BUYER_FAVOUR": .disputeLost, "ACCEPTED": .disputeLost,
        // PayPal paid the buyer from its own funds, or the buyer withdrew: the merchant keeps it.
        "RESOLVED_SELLER_FAVOUR": .disputeWon, "RESOLVED_WITH_PAYOUT": .disputeWon, "CANCELED_BY_BUYER": .disputeWon, "DENIED": .disputeWon,
    ]

    /// Event types PayPal documents that move no money here (stored, understood).
    static let paypalInformational: Set<String> = [
        "PAYMENT.CAPTURE.PENDING", "PAYMENT.CAPTURE.DECLINED", "CHECKOUT.ORDER.APPROVED", "CHECKOUT.ORDER.COMPLETED",
        "CUSTOMER.DISPUTE.UPDATED", "PAYMENT.AUTHORIZATION.CREATED", "PAYMENT.AUTHORIZATION.VOIDED",
    ]

    func paypal(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let json, let id = Self.text(json["id"]) else { throw .noEventID }
        let type = Self.text(json["event_type"]) ?? ""
        let resource = json["resource"] as? [String: Any]
        var kind: PaymentEventKind?
        switch type {
        case "PAYMENT.CAPTURE.COMPLETED": kind = .paymentSucceeded
        case "PAYMENT.CAPTURE.DENIED": kind = .paymentFailed
        case "PAYMENT.CAPTURE.REFUNDED": kind = .refundSucceeded
        // PayPal took the captured money back without a refund (a reversal, a chargeback through
        // the card issuer): funds withdrawn, until a resolution says who keeps them.
        case "PAYMENT.CAPTURE.REVERSED": kind = .disputeFundsWithdrawn
        case "CUSTOMER.DISPUTE.CREATED": kind = .disputeOpened
        case "CUSTOMER.DISPUTE.RESOLVED":
            kind = Self.text((resource?["dispute_outcome"] as? [String: Any])?["outcome_code"]).flatMap { Self.paypalDisputeOutcomes[$0] }
        default: kind = nil
        }
        let documented = kind != nil || Self.paypalInformational.contains(type)
        guard let resource, documented else { return event(id, nil, body, understood: documented && resource != nil) }

        var result = event(id, kind, body, understood: true)
        if let created = Self.text(json["create_time"]).flatMap(ISO8601Timestamp.parse) { result.occurredAt = created }
        guard let kind else { return result }
        let amount: [String: Any]?
        switch kind {
        case .paymentSucceeded, .paymentFailed:
            let capture = Self.text(resource["id"])
            // Only `custom_id`: an `invoice_id` is the merchant's invoice number, which may collide with another order's id.
            result.orderID = Self.text(resource["custom_id"])
            result.providerPaymentID = capture
            result.linkReferences = [capture].compactMap { $0 }
            amount = resource["amount"] as? [String: Any]
        case .refundSucceeded, .disputeFundsWithdrawn:
            // A refund (or reversal) resource: its own id, and its capture through `rel: up`.
            let own = Self.text(resource["id"]), capture = Self.paypalUpLink(resource)
            result.providerPaymentID = capture
            result.linkReferences = [capture, own].compactMap { $0 }
            if kind == .refundSucceeded { result.facts.refundID = own } else { result.facts.disputeID = capture }
            amount = resource["amount"] as? [String: Any]
        default:
            // A dispute: its id, and the captures it disputes (the first is the payment).
            let transactions = (resource["disputed_transactions"] as? [[String: Any]]) ?? []
            let captures = transactions.compactMap { Self.text($0["seller_transaction_id"]) }
            result.providerPaymentID = captures.first
            // Named by the capture, as its reversal is; PayPal's dispute id links it too.
            result.facts.disputeID = captures.first
            result.linkReferences = captures + [Self.text(resource["dispute_id"])].compactMap { $0 }
            // What the buyer got back once resolved, else what the buyer claims.
            let outcome = resource["dispute_outcome"] as? [String: Any]
            amount = (outcome?["amount_refunded"] as? [String: Any]) ?? (resource["dispute_amount"] as? [String: Any])
        }
        // Money events without the payment they move, or a dispute without its id, are not PayPal's shape.
        guard result.providerPaymentID != nil, kind == .paymentSucceeded || kind == .paymentFailed || result.facts.refundID != nil || result.facts.disputeID != nil else {
            return event(id, nil, body, understood: false)
        }
        let currency = Self.text(amount?["currency_code"])
        result.currency = currency?.uppercased()
        // A reversal may state what it took as a negative value: the magnitude is what moved.
        var value = Self.text(amount?["value"])
        if type == "PAYMENT.CAPTURE.REVERSED", let stated = value, stated.hasPrefix("-") { value = String(stated.dropFirst()) }
        result.setAmount(currency.flatMap { currency in value.flatMap { CurrencyExponent.minorUnits(fromMajor: $0, currency: currency) } },
                         present: amount != nil || kind == .paymentSucceeded || kind == .refundSucceeded)
        return result
    }

    /// The capture a refund or reversal belongs to: the last path segment of its `rel: up` link
    /// (`.../v2/payments/captures/<id>`).
    static func paypalUpLink(_ resource: [String: Any]) -> String? {
        let links = (resource["links"] as? [[String: Any]]) ?? []
        guard let href = links.first(where: { text($0["rel"]) == "up" }).flatMap({ text($0["href"]) }),
              let url = URLComponents(string: href), url.path.contains("/captures/"),
              let last = url.path.split(separator: "/").last, last.count <= 64,
              last.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        return String(last)
    }
}

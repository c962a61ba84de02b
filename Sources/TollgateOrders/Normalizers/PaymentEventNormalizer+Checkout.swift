import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Checkout.com: `id`, `type`. Payment events carry the payment in data.id and our order in
    // data.reference; dispute events carry the dispute in data.id, the payment in data.payment_id
    // and our order in data.payment_reference. Deliveries are unordered.
    static let checkoutKinds: [String: PaymentEventKind] = [
        "payment_approved": .paymentAuthorized, "payment_captured": .paymentSucceeded, "payment_declined": .paymentFailed,
        "payment_capture_declined": .paymentFailed, "payment_canceled": .paymentCanceled, "payment_voided": .paymentCanceled,
        "payment_expired": .checkoutExpired, "payment_refunded": .refundSucceeded,
        // Checkout.com debits the account when it asks for evidence; an expired dispute (no
        // response in time) is lost; a resolved one closed without a chargeback (already refunded).
        "dispute_received": .disputeOpened, "dispute_evidence_required": .disputeFundsWithdrawn,
        "dispute_won": .disputeWon, "dispute_canceled": .disputeWon, "dispute_resolved": .disputeWon,
        "dispute_lost": .disputeLost, "dispute_accepted": .disputeLost, "dispute_expired": .disputeLost,
        "dispute_arbitration_won": .disputeWon, "dispute_arbitration_lost": .disputeLost,
    ]

    func checkout(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = Self.text(json?["id"]) else { throw .noEventID }
        let type = json?["type"] as? String ?? ""
        let data = json?["data"] as? [String: Any]
        var result = event(id, Self.checkoutKinds[type], body, understood: data != nil)
        guard let data else { return result }
        if type.hasPrefix("dispute_") {
            result.orderID = Self.text(data["payment_reference"])
            result.linkReferences = [Self.text(data["payment_id"]), Self.text(data["id"])].compactMap { $0 }
            result.facts.disputeID = Self.text(data["id"])
            if type.hasPrefix("dispute_arbitration_") { result.facts.disputeStage = 4 }
        } else {
            result.orderID = Self.text(data["reference"])
            result.linkReferences = [Self.text(data["id"])].compactMap { $0 }
            // A refund is an action on the payment: its action id identifies it.
            if type == "payment_refunded" { result.facts.refundID = Self.text(data["action_id"]) ?? id }
        }
        result.providerPaymentID = result.linkReferences.first
        result.currency = (data["currency"] as? String)?.uppercased()
        result.setMinorAmount(data["amount"])
        if let date = json?["created_on"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
        return result
    }
}

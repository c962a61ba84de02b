import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Paddle Billing: `event_id`, `event_type`; a transaction carries our order in
    // data.custom_data.order_id; adjustments (refunds, chargebacks) point at it by transaction_id.
    // Amounts are strings in minor units.
    func paddle(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = Self.text(json?["event_id"]) else { throw .noEventID }
        let data = json?["data"] as? [String: Any]
        let type = json?["event_type"] as? String ?? ""
        var result = event(id, nil, body, understood: data != nil)
        guard let data else { return result }
        if let date = json?["occurred_at"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
        if type.hasPrefix("adjustment.") {
            result.kind = Self.paddleAdjustmentKind(action: data["action"] as? String, status: data["status"] as? String)
            result.linkReferences = [Self.text(data["transaction_id"])].compactMap { $0 }
            // A refund adjustment is one refund, named by its id. Paddle reports each step of a
            // chargeback (warning, chargeback, reversal) as a new adjustment, so the dispute is
            // named by the transaction it disputes: the steps of one dispute meet in one record.
            if (data["action"] as? String)?.hasPrefix("chargeback") == true {
                result.facts.disputeID = Self.text(data["transaction_id"])
            } else {
                result.facts.refundID = Self.text(data["id"])
            }
            let totals = data["totals"] as? [String: Any]
            result.currency = ((totals?["currency_code"] ?? data["currency_code"]) as? String)?.uppercased()
            result.setMinorAmount(totals?["total"])
        } else if type.hasPrefix("transaction.") {
            result.kind = switch type {
            // `paid` comes before `completed`; both are the same payment (same transaction id).
            case "transaction.paid", "transaction.completed": .paymentSucceeded
            // The transaction stays `ready`: the failure is only in payments[].status.
            case "transaction.payment_failed": .paymentFailed
            case "transaction.canceled": .paymentCanceled
            default: .other
            }
            result.orderID = Self.text((data["custom_data"] as? [String: Any])?["order_id"])
            result.linkReferences = [Self.text(data["id"])].compactMap { $0 }
            let totals = (data["details"] as? [String: Any])?["totals"] as? [String: Any]
            result.currency = ((totals?["currency_code"] ?? data["currency_code"]) as? String)?.uppercased()
            result.setMinorAmount(totals?["grand_total"] ?? totals?["total"])
        }
        result.providerPaymentID = result.linkReferences.first
        return result
    }

    /// Only an approved adjustment moved money: `pending_approval` (what adjustment.created
    /// usually says) is a request, `rejected` never happened. A chargeback takes the funds (its
    /// reversal returns them); credits are kept as `other` (no money left the merchant).
    static func paddleAdjustmentKind(action: String?, status: String?) -> PaymentEventKind {
        guard status == "approved" else { return .other }
        switch action {
        case "refund": return .refundSucceeded
        case "chargeback_warning": return .disputeOpened
        case "chargeback": return .disputeFundsWithdrawn
        case "chargeback_reverse": return .disputeWon
        default: return .other
        }
    }
}

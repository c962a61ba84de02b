import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Paddle Billing: `event_id`, `event_type`, order in data.custom_data.order_id.
    func paddle(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
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
}

import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Standard Webhooks: id from the `webhook-id` header; our own event shape in the body:
    // `type` is a normalized kind, `data` carries order_id, payment_id, amount (minor units),
    // currency, and for refunds and disputes refund_id / dispute_id.
    func standardWebhooks(_ json: [String: Any]?, _ headers: [String: String], _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = headers["webhook-id"] ?? headers["svix-id"], !id.isEmpty else { throw .noEventID }
        let data = json?["data"] as? [String: Any]
        var result = event(id, (json?["type"] as? String).flatMap(PaymentEventKind.init(rawValue:)), body, understood: json?["type"] is String)
        result.orderID = Self.text(data?["order_id"])
        result.providerPaymentID = Self.text(data?["payment_id"])
        // Only the payment links: refund and dispute ids are the sender's own and need not be
        // unique beyond their payment.
        result.linkReferences = [result.providerPaymentID].compactMap { $0 }
        result.facts.refundID = Self.text(data?["refund_id"]) ?? (result.kind == .refundSucceeded ? id : nil)
        result.facts.disputeID = Self.text(data?["dispute_id"])
        result.currency = (data?["currency"] as? String)?.uppercased()
        result.setMinorAmount(data?["amount"])
        if let timestamp = json?["timestamp"] as? String { result.occurredAt = ISO8601Timestamp.parse(timestamp) }
        return result
    }
}

import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Standard Webhooks: id from the `webhook-id` header; our own event shape in the body.
    func standardWebhooks(_ json: [String: Any]?, _ headers: [String: String], _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
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
}

import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Adyen: one event per notification item; id pspReference:eventCode:success.
    func adyen(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> [PaymentEvent] {
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
}

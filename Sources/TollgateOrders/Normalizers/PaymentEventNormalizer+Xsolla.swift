import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Xsolla: `transaction.id`; amounts in major units.
    func xsolla(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
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
}

import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Xsolla: identity is notification type + `transaction.id` (a refund carries the id of the
    // payment it cancels, so the id alone would make the refund a "duplicate"); amounts in major units.
    func xsolla(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        let transaction = json?["transaction"] as? [String: Any]
        guard let rawID = transaction?["id"], !"\(rawID)".isEmpty else { throw .noEventID }
        let type = json?["notification_type"] as? String
        let kind: PaymentEventKind? = switch type {
        case "payment": .paymentSucceeded
        case "refund": .refundSucceeded
        default: nil
        }
        var result = event(Self.xsollaEventID(type: type ?? "", transaction: "\(rawID)"), kind, body, understood: type != nil)
        result.orderID = transaction?["external_id"] as? String
        result.providerPaymentID = "\(rawID)"
        let total = (json?["purchase"] as? [String: Any])?["total"] as? [String: Any]
        if let currency = total?["currency"] as? String, let amount = total?["amount"] {
            result.currency = currency.uppercased()
            result.amountMinor = CurrencyExponent.minorUnits(fromMajor: "\(amount)", currency: currency)
        }
        return result
    }

    /// The stored identity of an Xsolla notification (PROVIDERS.md: notification type + transaction id).
    public static func xsollaEventID(type: String, transaction: String) -> String { "\(type):\(transaction)" }
}

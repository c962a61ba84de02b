import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Xsolla: identity is notification type + `transaction.id` (a refund carries the id of the
    // payment it cancels, so the id alone would make the refund a "duplicate"). Our order is
    // transaction.external_id; amounts are in major units, converted with the ISO 4217 exponent.
    func xsolla(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        let transaction = json?["transaction"] as? [String: Any]
        guard let transactionID = Self.text(transaction?["id"]) else { throw .noEventID }
        let type = Self.text(json?["notification_type"])
        let kind: PaymentEventKind? = switch type {
        case "payment": .paymentSucceeded
        case "refund", "partial_refund": .refundSucceeded
        default: nil
        }
        var result = event(Self.xsollaEventID(type: type ?? "", transaction: transactionID), kind, body, understood: type != nil)
        result.orderID = Self.text(transaction?["external_id"])
        result.linkReferences = [transactionID]
        result.providerPaymentID = transactionID
        switch type {
        // A full refund returns the whole payment: its amount is the payment's refunded total, so
        // it counts once beside any partial refund that came before it.
        case "refund": result.facts.refundIsCumulative = true
        case "partial_refund": result.facts.refundID = result.providerEventID
        default: break
        }
        let total = (json?["purchase"] as? [String: Any])?["total"] as? [String: Any]
        if let currency = total?["currency"] as? String {
            result.currency = currency.uppercased()
            let amount = total?["amount"].flatMap { Self.text($0) }
            result.setAmount(amount.flatMap { CurrencyExponent.minorUnits(fromMajor: $0, currency: currency) }, present: amount != nil)
        }
        return result
    }

    /// The stored identity of an Xsolla notification (PROVIDERS.md: notification type + transaction id).
    public static func xsollaEventID(type: String, transaction: String) -> String { "\(type):\(transaction)" }
}

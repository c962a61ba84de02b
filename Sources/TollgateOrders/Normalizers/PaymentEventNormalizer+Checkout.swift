import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Checkout.com: `id`, `type`, order in data.reference.
    static let checkoutKinds: [String: PaymentEventKind] = [
        "payment_approved": .paymentAuthorized, "payment_captured": .paymentSucceeded, "payment_declined": .paymentFailed,
        "payment_capture_declined": .paymentFailed, "payment_canceled": .paymentCanceled, "payment_voided": .paymentCanceled,
        "payment_refunded": .refundSucceeded, "dispute_received": .disputeOpened, "dispute_won": .disputeWon,
        "dispute_lost": .disputeLost, "payment_expired": .checkoutExpired,
    ]

    func checkout(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = json?["id"] as? String, !id.isEmpty else { throw .noEventID }
        let data = json?["data"] as? [String: Any]
        var result = event(id, (json?["type"] as? String).flatMap { Self.checkoutKinds[$0] }, body, understood: data != nil)
        result.orderID = data?["reference"] as? String
        result.providerPaymentID = data?["id"] as? String
        result.amountMinor = Self.int(data?["amount"])
        result.currency = (data?["currency"] as? String)?.uppercased()
        if let date = json?["created_on"] as? String { result.occurredAt = ISO8601Timestamp.parse(date) }
        return result
    }
}

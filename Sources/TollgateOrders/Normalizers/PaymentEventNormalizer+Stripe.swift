import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Stripe: `id`, `type`, order in data.object.metadata.order_id.
    static let stripeKinds: [String: PaymentEventKind] = [
        "payment_intent.succeeded": .paymentSucceeded, "payment_intent.amount_capturable_updated": .paymentAuthorized,
        "payment_intent.payment_failed": .paymentFailed, "payment_intent.canceled": .paymentCanceled,
        "charge.refunded": .refundSucceeded, "charge.dispute.created": .disputeOpened,
        "checkout.session.expired": .checkoutExpired,
    ]

    func stripe(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = json?["id"] as? String, !id.isEmpty else { throw .noEventID }
        let type = json?["type"] as? String ?? ""
        let object = (json?["data"] as? [String: Any])?["object"] as? [String: Any]
        var kind = Self.stripeKinds[type]
        if type == "charge.dispute.closed" {
            kind = switch object?["status"] as? String { case "won": .disputeWon; case "lost": .disputeLost; default: nil }
        }
        var result = event(id, kind, body, understood: object != nil)
        result.orderID = (object?["metadata"] as? [String: Any])?["order_id"] as? String
        result.currency = (object?["currency"] as? String)?.uppercased()
        result.occurredAt = (json?["created"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
        switch result.kind {
        case .refundSucceeded:
            // The refund this event announces: the newest in the list (amount_refunded is cumulative).
            let latest = ((object?["refunds"] as? [String: Any])?["data"] as? [[String: Any]])?.first
            result.amountMinor = Self.int(latest?["amount"])
            result.providerPaymentID = object?["payment_intent"] as? String ?? object?["id"] as? String
            if result.amountMinor == nil { (result.understood, result.kind) = (false, .other) }
        case .disputeOpened, .disputeWon, .disputeLost:
            result.amountMinor = Self.int(object?["amount"])
            result.providerPaymentID = object?["payment_intent"] as? String
        default:
            result.amountMinor = Self.int(object?["amount_received"]) ?? Self.int(object?["amount"])
            result.providerPaymentID = object?["id"] as? String
        }
        return result
    }
}

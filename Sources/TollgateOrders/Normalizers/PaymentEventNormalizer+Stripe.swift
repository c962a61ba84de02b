import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Stripe: `id`, `type`, the object in data.object. Our order reference is
    // metadata.order_id (or a Checkout Session's client_reference_id); refunds and disputes carry
    // none and find their order through the PaymentIntent or charge they point at.
    static let stripeKinds: [String: PaymentEventKind] = [
        "payment_intent.succeeded": .paymentSucceeded, "payment_intent.amount_capturable_updated": .paymentAuthorized,
        "payment_intent.payment_failed": .paymentFailed, "payment_intent.canceled": .paymentCanceled,
        "checkout.session.expired": .checkoutExpired,
        "charge.refunded": .refundSucceeded,
        "refund.created": .refundSucceeded, "refund.updated": .refundSucceeded, "refund.failed": .refundSucceeded,
        "charge.refund.updated": .refundSucceeded,
        "charge.dispute.created": .disputeOpened, "charge.dispute.funds_withdrawn": .disputeFundsWithdrawn,
        "charge.dispute.funds_reinstated": .disputeWon, "charge.dispute.closed": .disputeWon,
    ]

    func stripe(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let id = Self.text(json?["id"]) else { throw .noEventID }
        let type = json?["type"] as? String ?? ""
        let object = (json?["data"] as? [String: Any])?["object"] as? [String: Any]
        var result = event(id, Self.stripeKinds[type], body, understood: object != nil)
        guard let object else { return result }
        let metadata = object["metadata"] as? [String: Any]
        result.orderID = Self.text(metadata?["order_id"])
        result.currency = (object["currency"] as? String)?.uppercased()
        result.occurredAt = (json?["created"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
        let objectID = Self.text(object["id"])
        let intent = Self.text(object["payment_intent"])
        let charge = Self.text(object["charge"])
        switch type {
        case "payment_intent.succeeded", "payment_intent.amount_capturable_updated", "payment_intent.payment_failed", "payment_intent.canceled":
            // A PaymentIntent is known by its id and its charge (what legacy disputes point at).
            result.linkReferences = [objectID, Self.text(object["latest_charge"])].compactMap { $0 }
            result.setMinorAmount(type == "payment_intent.succeeded" ? object["amount_received"] ?? object["amount"] : object["amount"])
        case "checkout.session.completed", "checkout.session.async_payment_succeeded":
            // Paid sessions pay through their PaymentIntent: the same payment as payment_intent.succeeded.
            if object["payment_status"] as? String == "paid" { result.kind = .paymentSucceeded }
            result.orderID = result.orderID ?? Self.text(object["client_reference_id"])
            result.linkReferences = [intent].compactMap { $0 }
            result.setMinorAmount(object["amount_total"])
        case "checkout.session.expired":
            result.orderID = result.orderID ?? Self.text(object["client_reference_id"])
            result.linkReferences = [intent].compactMap { $0 }
        case "charge.refunded":
            // Since API 2022-11-15 the charge has no refunds list: amount_refunded, the payment's
            // refunded total, is the fact (counted once with refund.* events by taking the maximum).
            result.linkReferences = [intent, objectID].compactMap { $0 }
            result.facts.refundIsCumulative = true
            result.setMinorAmount(object["amount_refunded"])
        case "refund.created", "refund.updated", "refund.failed", "charge.refund.updated":
            result.linkReferences = [intent, charge].compactMap { $0 }
            result.facts.refundID = objectID
            // Only a succeeded refund moved money; failed and canceled ones never count, pending
            // ones are kept until Stripe reports them again.
            switch object["status"] as? String {
            case "succeeded": break
            case "failed", "canceled": result.kind = .refundFailed
            default: result.kind = .other
            }
            result.setMinorAmount(object["amount"])
        case let type where type.hasPrefix("charge.dispute."):
            result.linkReferences = [intent, charge].compactMap { $0 }
            result.facts.disputeID = objectID
            if type == "charge.dispute.closed" {
                // warning_closed: an inquiry closed without a chargeback, the order returns.
                result.kind = switch object["status"] as? String {
                case "won", "warning_closed": .disputeWon
                case "lost": .disputeLost
                default: .other
                }
            }
            result.setMinorAmount(object["amount"])
        default:
            result.linkReferences = [intent ?? objectID].compactMap { $0 }
            result.setMinorAmount(object["amount"])
        }
        result.providerPaymentID = result.linkReferences.first
        return result
    }
}

import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Google Play real-time developer notifications, pushed by Pub/Sub: the body is
    // {"message": {"data": base64(DeveloperNotification), "messageId", ...}, "subscription"}. The
    // scheme verified the push token and the package before this runs. Identity: messageId.
    //
    // Play names the purchase (`purchaseToken`, and for a voided one Google's `orderId`), never
    // our order and never a price. So a purchase is a payment with no amount linked by its token:
    // it waits (`pending`, alerted after an hour) for an order that token is linked to, and an
    // order it reaches goes to `needs_review` (amount_mismatch) rather than being paid on a price
    // nobody stated. A voided purchase is a refund of that purchase with no amount.

    /// `oneTimeProductNotification.notificationType`: 1 ONE_TIME_PRODUCT_PURCHASED, 2 ONE_TIME_PRODUCT_CANCELED.
    static let googleOneTimeKinds: [Int64: PaymentEventKind] = [1: .paymentSucceeded, 2: .paymentCanceled]

    /// `subscriptionNotification.notificationType` values Google documents (1 RECOVERED ... 13
    /// EXPIRED, 19 PRICE_CHANGE_UPDATED, 20 PENDING_PURCHASE_CANCELED). Stored and understood, never
    /// acted on: a subscription's money is read from the Play Developer API, which Tollgate does
    /// not call; its refunds arrive as voided purchases.
    static let googleSubscriptionTypes: Set<Int64> = Set(1...13).union([19, 20])

    func googlePlay(_ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let push = GooglePlayPush(body: body), let id = Self.text(push.messageID) else { throw .noEventID }
        let notification = push.notification
        var kind: PaymentEventKind?
        var understood = false
        var token: String?
        var googleOrder: String?
        if let oneTime = notification?["oneTimeProductNotification"] as? [String: Any] {
            token = Self.text(oneTime["purchaseToken"])
            kind = Self.int(oneTime["notificationType"]).flatMap { Self.googleOneTimeKinds[$0] }
            understood = kind != nil && token != nil
        } else if let voided = notification?["voidedPurchaseNotification"] as? [String: Any] {
            token = Self.text(voided["purchaseToken"])
            googleOrder = Self.text(voided["orderId"])
            kind = .refundSucceeded
            understood = token != nil && googleOrder != nil
        } else if let subscription = notification?["subscriptionNotification"] as? [String: Any] {
            understood = Self.int(subscription["notificationType"]).map(Self.googleSubscriptionTypes.contains) ?? false
        } else {
            understood = notification?["testNotification"] is [String: Any]
        }
        var result = event(id, kind, body, understood: understood)
        // Milliseconds as a decimal string; a time outside 2000-2100 is none.
        if let millis = Self.int(notification?["eventTimeMillis"]), (946_684_800_000...4_102_444_800_000).contains(millis) {
            result.occurredAt = Date(timeIntervalSince1970: Double(millis) / 1000)
        }
        guard understood, kind != nil, let token else { return result }
        result.providerPaymentID = token
        result.linkReferences = [token] + [googleOrder].compactMap { $0 }
        // One voided purchase is one refund: Google's order id names it.
        if let googleOrder { result.facts.refundID = "void:\(googleOrder)" }
        return result
    }
}

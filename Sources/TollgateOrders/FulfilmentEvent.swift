/// What the game backend is told when an order moves: grant, revoke, or for information.
/// Raw values are the `type` of the delivery's body (Standard Webhooks envelope).
public enum FulfilmentEvent: String, Sendable, CaseIterable, Codable {
    /// The order is paid: grant its lines to the player.
    case orderPaid = "order.paid"
    /// A refund or chargeback that took the items back was reversed (a dispute won, a refund
    /// failed): grant them again.
    case orderReinstated = "order.reinstated"
    /// Part of the money went back; `refunded_minor` is the total so far. The game decides
    /// what, if anything, to take back.
    case orderPartiallyRefunded = "order.partially_refunded"
    /// All of the money went back: revoke everything the order granted.
    case orderRefunded = "order.refunded"
    /// The card holder's bank took the money back: revoke everything the order granted.
    case orderChargedBack = "order.charged_back"
    /// A human must look at the order (its review reasons say why); items stay as they are.
    case orderNeedsReview = "order.needs_review"

    /// What a game backend gets unless its tenant file lists `events`: everything that grants
    /// or takes back, not the review notices.
    public static let defaultSubscription: Set<FulfilmentEvent> = [.orderPaid, .orderReinstated, .orderPartiallyRefunded, .orderRefunded, .orderChargedBack]

    /// Whether the event gives the player items (the only kind a game may decline).
    public var grants: Bool { self == .orderPaid || self == .orderReinstated }

    /// Whether the event takes items back (it must never reach the game before the order's grant).
    public var revokes: Bool { self == .orderRefunded || self == .orderChargedBack }

    /// Whether the player should hold what `order` bought, judged from its money facts rather
    /// than its status: paid, by a payment that was what the order asked (amount, currency, not
    /// after it closed), not declined by the game, and neither refunded in full nor charged back.
    ///
    /// `needs_review` hides those facts in its status, and a status pair alone cannot tell an
    /// order refunded before its review from one refunded after (a second revoke), nor one that
    /// left review with every refund failed (a grant owed): the facts can.
    public static func holdsItems(_ order: OrderState) -> Bool {
        guard !OrderStatus.beforePayment.contains(order.status), itemsTakenBack(order) == nil else { return false }
        let ledger = order.ledger
        guard ledger.paidBy != nil, !ledger.paidAfterClose, ledger.fulfilmentDeclined == nil else { return false }
        return ledger.paidCurrency?.uppercased() == order.currency.uppercased() && ledger.paidAmountMinor == order.amountMinor
    }

    /// What took the items back, if anything: chargebacks and refunds that return all the money
    /// received (sums that overflow count as taken: a human looks). Money received is the order's
    /// amount and any second payment: refunding a player charged twice returns the extra payment,
    /// and the items stay theirs.
    static func itemsTakenBack(_ order: OrderState) -> FulfilmentEvent? {
        let ledger = order.ledger
        let chargebacks = ledger.disputes.values.filter(\.fundsTaken)
        guard let refunded = ledger.refundedMinor else { return .orderRefunded }
        if ledger.extraPayments.isEmpty {
            if !chargebacks.isEmpty { return .orderChargedBack }
            return refunded >= order.amountMinor && order.amountMinor > 0 ? .orderRefunded : nil
        }
        // A dispute that states no amount is taken to be for the order's amount.
        let chargedBack = chargebacks.map { $0.amountMinor > 0 ? $0.amountMinor : order.amountMinor }
        guard let returned = OrderLedger.sum([refunded] + chargedBack) else { return chargebacks.isEmpty ? .orderRefunded : .orderChargedBack }
        guard let received = OrderLedger.sum([order.amountMinor] + ledger.extraPayments.values) else { return nil }
        guard returned >= received else { return nil }
        return chargebacks.isEmpty ? .orderRefunded : .orderChargedBack
    }

    /// The refunded total that concerns what the order bought: refunds beyond a second payment's
    /// amount (returning the extra charge of a player charged twice takes nothing back).
    static func refundedOfTheItems(_ order: OrderState) -> Int64 {
        let extra = OrderLedger.sum(order.ledger.extraPayments.values) ?? .max
        return max(0, order.refundedMinor - extra)
    }

    /// What the game is told when an order moves from `before` to `after`: the one place that
    /// decides grants and revokes, called by ``WritePlanner`` for every applied transition and
    /// by the decline of a grant.
    ///
    /// A grant when the player comes to hold the items (`order.paid` from before payment,
    /// `order.reinstated` after a refund or chargeback was reversed); a revoke when a refund of the
    /// whole amount or a chargeback takes them (never for a decline: the game granted nothing);
    /// a partial refund when the refunded total of an order whose items stay changes; a review
    /// notice when the order gains a review reason.
    public static func caused(from before: OrderState, to after: OrderState) -> [FulfilmentEvent] {
        var events: [FulfilmentEvent] = []
        let (held, holds) = (holdsItems(before), holdsItems(after))
        if !held, holds {
            events.append(OrderStatus.beforePayment.contains(before.status) ? .orderPaid : .orderReinstated)
        } else if held, !holds, let revoke = itemsTakenBack(after) {
            events.append(revoke)
        }
        let (refundedBefore, refundedAfter) = (refundedOfTheItems(before), refundedOfTheItems(after))
        if holds, refundedAfter != refundedBefore, refundedAfter > 0 || held {
            events.append(.orderPartiallyRefunded)
        }
        if !after.reviewReasons.subtracting(before.reviewReasons).isEmpty {
            events.append(.orderNeedsReview)
        }
        return events
    }
}

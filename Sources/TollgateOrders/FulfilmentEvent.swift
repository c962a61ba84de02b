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

    /// Statuses in which the player holds what the order bought: paid, part of the money back,
    /// or a dispute opened but no money taken yet.
    static let holdsItems: Set<OrderStatus> = [.paid, .fulfilled, .partiallyRefunded, .disputed]
    /// Statuses after which everything was taken back.
    static let itemsTakenBack: Set<OrderStatus> = [.refunded, .chargedBack]

    /// What the game is told when an order moves from `before` to `after`: the one place that
    /// decides grants and revokes, called by ``WritePlanner`` for every applied transition.
    ///
    /// A grant when the order first holds its items (from before payment) or holds them again
    /// (from refunded or charged back); a revoke when it stops holding them; a partial refund
    /// when the refunded total of an order that still holds its items changes; a review notice
    /// when the order gains a review reason. `needs_review` neither grants nor revokes: the items
    /// stay as they were until a human decides (and a later move out of it is judged from there).
    public static func caused(from before: OrderState, to after: OrderState) -> [FulfilmentEvent] {
        var events: [FulfilmentEvent] = []
        let (from, to) = (before.status, after.status)
        if holdsItems.contains(to) {
            if OrderStatus.beforePayment.contains(from) {
                events.append(.orderPaid)
            } else if itemsTakenBack.contains(from) {
                events.append(.orderReinstated)
            }
        } else if itemsTakenBack.contains(to), !itemsTakenBack.contains(from), !OrderStatus.beforePayment.contains(from) {
            events.append(to == .refunded ? .orderRefunded : .orderChargedBack)
        }
        if to == .partiallyRefunded, after.refundedMinor != before.refundedMinor || from != .partiallyRefunded {
            events.append(.orderPartiallyRefunded)
        }
        if !after.reviewReasons.subtracting(before.reviewReasons).isEmpty {
            events.append(.orderNeedsReview)
        }
        return events
    }
}

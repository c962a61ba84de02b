import Foundation
import Testing
import TollgateCore
import TollgateOrders

/// What the game backend is told when an order moves (``FulfilmentEvent/caused(from:to:)``), proven
/// on transitions made by real events through the state machine and the write planner, and the
/// game's decline of a grant (``OrderStateMachine/fulfilmentDeclined(_:reason:)``) as a ledger fact.
@Suite struct FulfilmentEventTests {
    static let amount: Int64 = 1000
    static let pending = OrderState(status: .pendingPayment, amountMinor: amount, currency: "USD")

    static let payment = OrderEvent(kind: .paymentSucceeded, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_1"))
    static func refund(_ id: String, _ amount: Int64) -> OrderEvent {
        OrderEvent(kind: .refundSucceeded, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_1", refundID: id))
    }
    static func dispute(_ kind: PaymentEventKind, stage: Int? = nil) -> OrderEvent {
        OrderEvent(kind: kind, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_1", disputeID: "dp_1", disputeStage: stage))
    }

    /// One row of the decision table: the order `history` leaves (from pending payment) moves
    /// from `from` to `to` on `event`, and the game is told `expected`.
    struct Row: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var history: [OrderEvent]
        var event: OrderEvent
        var from: OrderStatus
        var to: OrderStatus
        var expected: [FulfilmentEvent]
    }

    static let rows: [Row] = [
        Row(testDescription: "pending -> paid grants", history: [], event: payment,
            from: .pendingPayment, to: .paid, expected: [.orderPaid]),
        Row(testDescription: "paid -> partially_refunded tells the refunded total", history: [payment], event: refund("re_1", 400),
            from: .paid, to: .partiallyRefunded, expected: [.orderPartiallyRefunded]),
        Row(testDescription: "partially_refunded -> partially_refunded with more money back tells it again",
            history: [payment, refund("re_1", 400)], event: refund("re_2", 200),
            from: .partiallyRefunded, to: .partiallyRefunded, expected: [.orderPartiallyRefunded]),
        Row(testDescription: "partially_refunded -> refunded revokes", history: [payment, refund("re_1", 400)], event: refund("re_2", 600),
            from: .partiallyRefunded, to: .refunded, expected: [.orderRefunded]),
        Row(testDescription: "paid -> refunded revokes", history: [payment], event: refund("re_1", amount),
            from: .paid, to: .refunded, expected: [.orderRefunded]),
        Row(testDescription: "refunded -> paid (the refund failed) grants again",
            history: [payment, refund("re_1", amount)],
            event: OrderEvent(kind: .refundFailed, facts: EventFacts(paymentReference: "pi_1", refundID: "re_1")),
            from: .refunded, to: .paid, expected: [.orderReinstated]),
        Row(testDescription: "paid -> disputed tells nothing (no money taken yet)", history: [payment], event: dispute(.disputeOpened),
            from: .paid, to: .disputed, expected: []),
        Row(testDescription: "disputed -> charged_back revokes", history: [payment, dispute(.disputeOpened)], event: dispute(.disputeLost),
            from: .disputed, to: .chargedBack, expected: [.orderChargedBack]),
        Row(testDescription: "paid -> charged_back revokes", history: [payment], event: dispute(.disputeFundsWithdrawn),
            from: .paid, to: .chargedBack, expected: [.orderChargedBack]),
        Row(testDescription: "charged_back -> paid (dispute won) grants again",
            history: [payment, dispute(.disputeFundsWithdrawn)], event: dispute(.disputeWon),
            from: .chargedBack, to: .paid, expected: [.orderReinstated]),
        Row(testDescription: "charged_back -> paid (lost, then won at pre-arbitration) grants again",
            history: [payment, dispute(.disputeLost)], event: dispute(.disputeWon, stage: 4),
            from: .chargedBack, to: .paid, expected: [.orderReinstated]),
        // Through needs_review, judged from the money facts (a status pair cannot tell these apart).
        Row(testDescription: "refunded -> needs_review (over-refund) revokes nothing again",
            history: [payment, refund("re_1", amount)], event: refund("re_2", 300),
            from: .refunded, to: .needsReview, expected: [.orderNeedsReview]),
        Row(testDescription: "needs_review -> refunded (the extra refund failed) revokes nothing again",
            history: [payment, refund("re_1", amount), refund("re_2", 300)],
            event: OrderEvent(kind: .refundFailed, facts: EventFacts(paymentReference: "pi_1", refundID: "re_2")),
            from: .needsReview, to: .refunded, expected: []),
        Row(testDescription: "needs_review -> paid (every refund failed) grants again",
            history: [payment, refund("re_1", amount), OrderEvent(kind: .refundSucceeded, facts: EventFacts(paymentReference: "pi_1", refundID: "void_1"))],
            event: OrderEvent(kind: .refundFailed, facts: EventFacts(paymentReference: "pi_1", refundID: "re_1")),
            from: .needsReview, to: .needsReview, expected: [.orderReinstated]),
        Row(testDescription: "a player charged twice, the second payment refunded in full, keeps the items",
            history: [payment, OrderEvent(kind: .paymentSucceeded, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_2"))],
            event: OrderEvent(kind: .refundSucceeded, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_2", refundID: "re_2")),
            from: .needsReview, to: .needsReview, expected: []),
        Row(testDescription: "paid -> needs_review (a second payment) is a review notice only",
            history: [payment], event: OrderEvent(kind: .paymentSucceeded, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_2")),
            from: .paid, to: .needsReview, expected: [.orderNeedsReview]),
        Row(testDescription: "pending -> needs_review (payment of another amount) is a review notice, no grant",
            history: [], event: OrderEvent(kind: .paymentSucceeded, amountMinor: 1, currency: "USD", facts: EventFacts(paymentReference: "pi_1")),
            from: .pendingPayment, to: .needsReview, expected: [.orderNeedsReview]),
    ]

    /// `event` applied to `order`, or nil when the state machine does not apply it.
    static func applied(_ event: OrderEvent, to order: OrderState) -> OrderState? {
        guard case .applied(let next) = OrderStateMachine.apply(event, to: order) else { return nil }
        return next
    }

    /// Every row of the table in FulfilmentEvent.caused's doc comment, on a transition the state
    /// machine really makes: a grant when the order first holds its items or holds them again, a
    /// revoke when it stops, a partial refund when the refunded total changes, a notice for a new
    /// review reason, and nothing for a dispute that has taken no money yet.
    @Test(arguments: FulfilmentEventTests.rows)
    func eachTransitionTellsTheGameWhatTheDecisionTableSays(row: Row) throws {
        var before = Self.pending
        for event in row.history {
            before = try #require(Self.applied(event, to: before), "history event \(event.kind.rawValue) must apply")
        }
        #expect(before.status == row.from)
        let after = try #require(Self.applied(row.event, to: before))
        #expect(after.status == row.to)
        #expect(FulfilmentEvent.caused(from: before, to: after) == row.expected)
    }

    /// A payment of the wrong amount is money to look at, not a purchase to hand over: the game hears
    /// of the review and is never told to grant.
    @Test func aPaymentThatNeedsReviewNeverGrants() throws {
        let short = OrderEvent(kind: .paymentSucceeded, amountMinor: 1, currency: "USD", facts: EventFacts(paymentReference: "pi_1"))
        let after = try #require(Self.applied(short, to: Self.pending))
        #expect(after.reviewReasons == [.amountMismatch])
        let events = FulfilmentEvent.caused(from: Self.pending, to: after)
        #expect(events == [.orderNeedsReview])
        #expect(events.allSatisfy { !$0.grants })
    }

    /// An order that stays where it is, or gains nothing new, tells the game nothing.
    @Test func aTransitionThatChangesNothingTellsNothing() throws {
        let paid = try #require(Self.applied(Self.payment, to: Self.pending))
        #expect(FulfilmentEvent.caused(from: paid, to: paid).isEmpty)
        let disputed = try #require(Self.applied(Self.dispute(.disputeOpened), to: paid))
        #expect(FulfilmentEvent.caused(from: disputed, to: disputed).isEmpty)
    }

    // MARK: - The write planner's deliveries

    let key = OrderKey(tenant: "demo", orderID: "ord_1")

    func event(_ id: String, _ kind: PaymentEventKind, amount: Int64? = FulfilmentEventTests.amount,
               refundID: String? = nil, disputeID: String? = nil, stage: Int? = nil) -> PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: id, kind: kind, orderID: "ord_1",
                     providerPaymentID: "pi_1", facts: EventFacts(refundID: refundID, disputeID: disputeID, disputeStage: stage),
                     amountMinor: amount, currency: "USD", rawBody: [])
    }

    /// Payment, partial refund, full refund in one batch: the plan carries one delivery per
    /// message, in the order the transitions happened, each with the order as it left it.
    @Test func aLifecycleOfPaymentPartialRefundAndFullRefundPlansItsDeliveriesInOrder() {
        let plan = WritePlanner.plan(events: [event("evt_pay", .paymentSucceeded),
                                              event("evt_re1", .refundSucceeded, amount: 400, refundID: "re_1"),
                                              event("evt_re2", .refundSucceeded, amount: 600, refundID: "re_2")],
                                     orders: [key: Self.pending])
        #expect(plan.results == [.recorded(.applied), .recorded(.applied), .recorded(.applied)])
        #expect(plan.deliveries == [
            WritePlan.Delivery(order: key, event: .new(0), type: .orderPaid, status: .paid, refundedMinor: 0),
            WritePlan.Delivery(order: key, event: .new(1), type: .orderPartiallyRefunded, status: .partiallyRefunded, refundedMinor: 400),
            WritePlan.Delivery(order: key, event: .new(2), type: .orderRefunded, status: .refunded, refundedMinor: 1000),
        ])
    }

    /// A refund that arrives before its payment waits; once the payment applies, the grant is
    /// still planned before the revoke (decision order, not arrival order).
    @Test func aRefundBeforeItsPaymentIsStillToldAfterTheGrant() {
        let plan = WritePlanner.plan(events: [event("evt_re1", .refundSucceeded, amount: 1000, refundID: "re_1"),
                                              event("evt_pay", .paymentSucceeded)],
                                     orders: [key: Self.pending])
        #expect(plan.results == [.recorded(.deferred), .recorded(.applied)])
        #expect(plan.deliveries.map(\.type) == [.orderPaid, .orderRefunded])
        #expect(plan.deliveries.map(\.event) == [.new(1), .new(0)])
    }

    /// A dispute opened (nothing told), lost as a chargeback that takes the funds (revoked), then
    /// won (granted again): Adyen's NOTIFICATION_OF_CHARGEBACK, CHARGEBACK, CHARGEBACK_REVERSED.
    /// Planned one event at a time with the order carried forward, as separate callbacks would be.
    @Test func aDisputeLostThenWonRevokesAndThenReinstates() throws {
        var order = Self.pending
        var deliveries: [WritePlan.Delivery] = []
        let events = [event("evt_pay", .paymentSucceeded),
                      event("evt_dp_open", .disputeOpened, disputeID: "dp_1"),
                      event("evt_dp_withdrawn", .disputeFundsWithdrawn, disputeID: "dp_1"),
                      event("evt_dp_won", .disputeWon, disputeID: "dp_1")]
        var statuses: [OrderStatus] = []
        for event in events {
            let plan = WritePlanner.plan(events: [event], orders: [key: order])
            #expect(plan.results == [.recorded(.applied)], "\(event.providerEventID)")
            order = try #require(plan.orders[key])
            statuses.append(order.status)
            deliveries += plan.deliveries
        }
        #expect(statuses == [.paid, .disputed, .chargedBack, .paid])
        #expect(deliveries.map(\.type) == [.orderPaid, .orderChargedBack, .orderReinstated])
        #expect(deliveries.map(\.status) == [.paid, .chargedBack, .paid])
        #expect(deliveries.allSatisfy { $0.order == key && $0.refundedMinor == 0 && $0.event == .new(0) })
    }

    /// An ignored event (a late failure after payment) moves nothing, so it plans no delivery.
    @Test func anIgnoredEventPlansNoDelivery() {
        let paid = OrderStateMachine.apply(Self.payment, to: Self.pending)
        guard case .applied(let order) = paid else {
            Issue.record("the payment must apply")
            return
        }
        let plan = WritePlanner.plan(events: [event("evt_fail", .paymentFailed, amount: nil)], orders: [key: order])
        #expect(plan.results == [.recorded(.ignored)])
        #expect(plan.deliveries.isEmpty)
    }

    // MARK: - The game declines a grant

    static func isIgnored(_ decision: OrderDecision) -> Bool {
        if case .ignored = decision { return true }
        return false
    }

    /// A paid order the game declined waits for a human: `needs_review` with `fulfilment_declined`,
    /// the game's reason kept in the ledger, and the game told of the review, not of a revoke.
    @Test func aDeclinedGrantPutsAPaidOrderInReviewWithTheGamesReason() throws {
        let paid = try #require(Self.applied(Self.payment, to: Self.pending))
        guard case .applied(let declined) = OrderStateMachine.fulfilmentDeclined(paid, reason: "player_banned") else {
            Issue.record("a decline of a paid order must apply")
            return
        }
        #expect(declined.status == .needsReview)
        #expect(declined.reviewReasons == [.fulfilmentDeclined])
        #expect(declined.ledger.fulfilmentDeclined == "player_banned")
        #expect(declined.refundedMinor == 0)
        #expect(FulfilmentEvent.caused(from: paid, to: declined) == [.orderNeedsReview])
    }

    /// Only a paid order can be declined, and only once: the first reason stands.
    @Test func aDeclineIsIgnoredBeforePaymentAndWhenAlreadyDeclined() throws {
        for status in OrderStatus.beforePayment {
            let order = OrderState(status: status, amountMinor: Self.amount, currency: "USD")
            #expect(Self.isIgnored(OrderStateMachine.fulfilmentDeclined(order, reason: "player_banned")), "from \(status.rawValue)")
        }
        let paid = try #require(Self.applied(Self.payment, to: Self.pending))
        guard case .applied(let declined) = OrderStateMachine.fulfilmentDeclined(paid, reason: "player_banned") else {
            Issue.record("the first decline must apply")
            return
        }
        #expect(Self.isIgnored(OrderStateMachine.fulfilmentDeclined(declined, reason: "item_retired")))
        #expect(declined.ledger.fulfilmentDeclined == "player_banned")
    }

    /// An empty reason is recorded as "declined" (the fact must exist), a long one is cut to 200 characters.
    @Test func aDeclineReasonIsNeverEmptyNorUnbounded() throws {
        let paid = try #require(Self.applied(Self.payment, to: Self.pending))
        guard case .applied(let empty) = OrderStateMachine.fulfilmentDeclined(paid, reason: ""),
              case .applied(let long) = OrderStateMachine.fulfilmentDeclined(paid, reason: String(repeating: "r", count: 500)) else {
            Issue.record("a decline of a paid order must apply")
            return
        }
        #expect(empty.ledger.fulfilmentDeclined == "declined")
        #expect(empty.status == .needsReview)
        #expect(long.ledger.fulfilmentDeclined == String(repeating: "r", count: 200))
    }

    /// The decline is a fact, not a status: a refund that arrives afterwards is counted, yet the
    /// order stays in `needs_review` for the human, and the game is told no revoke of items it never granted.
    @Test func aRefundAfterADeclineKeepsTheOrderInReview() throws {
        let paid = try #require(Self.applied(Self.payment, to: Self.pending))
        guard case .applied(let declined) = OrderStateMachine.fulfilmentDeclined(paid, reason: "player_banned") else {
            Issue.record("a decline of a paid order must apply")
            return
        }
        let refunded = try #require(Self.applied(Self.refund("re_1", Self.amount), to: declined))
        #expect(refunded.status == .needsReview)
        #expect(refunded.refundedMinor == Self.amount)
        #expect(refunded.reviewReasons == [.fulfilmentDeclined])
        #expect(FulfilmentEvent.caused(from: declined, to: refunded).isEmpty)
        let charged = try #require(Self.applied(Self.dispute(.disputeLost), to: declined))
        #expect(charged.status == .needsReview)
    }

    /// The decline survives a store and load of the ledger (orders.ledger is JSON), and a ledger
    /// stored before the fact existed loads with no decline.
    @Test func theDeclineRoundTripsThroughTheLedgerJSONAndOldLedgersHaveNone() throws {
        let paid = try #require(Self.applied(Self.payment, to: Self.pending))
        guard case .applied(let declined) = OrderStateMachine.fulfilmentDeclined(paid, reason: "player_banned") else {
            Issue.record("a decline of a paid order must apply")
            return
        }
        let data = try JSONEncoder().encode(declined.ledger)
        let text = try #require(String(data: data, encoding: .utf8))
        #expect(text.contains(#""fulfilmentDeclined":"player_banned""#))
        let decoded = try JSONDecoder().decode(OrderLedger.self, from: data)
        #expect(decoded == declined.ledger)
        #expect(decoded.reviewReasons(amountMinor: Self.amount, currency: "USD") == [.fulfilmentDeclined])

        let undeclined = try JSONEncoder().encode(paid.ledger)
        #expect(!(String(data: undeclined, encoding: .utf8) ?? "").contains("fulfilmentDeclined"), "no key when never declined")
        let old = try JSONDecoder().decode(OrderLedger.self, from: Data(#"{"paidBy":"pi_1","paidAmountMinor":1000,"paidCurrency":"USD"}"#.utf8))
        #expect(old.fulfilmentDeclined == nil)
        #expect(old == paid.ledger)
        #expect(try JSONDecoder().decode(OrderLedger.self, from: Data("{}".utf8)).fulfilmentDeclined == nil)
    }
}

import Foundation
import Testing
import TollgateOrders

@Suite struct OrderStateMachineTests {
    func order(_ status: OrderStatus, refunded: Int64 = 0) -> OrderState {
        OrderState(status: status, amountMinor: 1999, currency: "USD", refundedMinor: refunded)
    }

    /// An order paid by `pi_1`, as a successful payment leaves it.
    var paid: OrderState {
        var ledger = OrderLedger()
        ledger.paidBy = "pi_1"
        ledger.paidAmountMinor = 1999
        ledger.paidCurrency = "USD"
        return OrderState(status: .paid, amountMinor: 1999, currency: "USD", ledger: ledger)
    }

    func after(_ events: [OrderEvent], from start: OrderState) -> OrderState {
        var state = start
        for event in events {
            if case .applied(let next) = OrderStateMachine.apply(event, to: state) { state = next }
        }
        return state
    }

    static let success = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "USD", facts: EventFacts(paymentReference: "pi_1"))
    static func refund(_ id: String?, _ amount: Int64, cumulative: Bool = false) -> OrderEvent {
        OrderEvent(kind: .refundSucceeded, amountMinor: amount, currency: "USD", facts: EventFacts(paymentReference: "pi_1", refundID: id, refundIsCumulative: cumulative))
    }
    static func dispute(_ kind: PaymentEventKind, _ id: String = "dp_1", stage: Int? = nil) -> OrderEvent {
        OrderEvent(kind: kind, amountMinor: 1999, currency: "USD", facts: EventFacts(paymentReference: "pi_1", disputeID: id, disputeStage: stage))
    }

    @Test(arguments: [OrderStatus.created, .pendingPayment, .authorized, .failed])
    func successPaysFromEveryPrePaymentStatus(from: OrderStatus) {
        #expect(OrderStateMachine.apply(Self.success, to: order(from)) == .applied(paid))
    }

    @Test func successWithOtherAmountOrCurrencyNeedsReviewWithItsReason() {
        let cheaper = OrderEvent(kind: .paymentSucceeded, amountMinor: 1, currency: "USD")
        let otherCurrency = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "EUR")
        #expect(after([cheaper], from: order(.pendingPayment)).reviewReasons == [.amountMismatch])
        #expect(after([otherCurrency], from: order(.pendingPayment)).reviewReasons == [.currencyMismatch])
        #expect(after([OrderEvent(kind: .paymentSucceeded)], from: order(.pendingPayment)).status == .needsReview)
        // Currency codes compare case-insensitively: Stripe sends "usd".
        let lower = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "usd", facts: EventFacts(paymentReference: "pi_1"))
        #expect(after([lower], from: order(.pendingPayment)) == paid)
    }

    @Test func lateFailureAfterSuccessIsIgnoredAndNeverRegresses() {
        guard case .ignored(let reason) = OrderStateMachine.apply(OrderEvent(kind: .paymentFailed), to: paid) else {
            Issue.record("a failure after paid must be ignored"); return
        }
        #expect(reason.contains("paid"))
    }

    @Test func theSamePaymentAgainIsIgnoredAnotherPaymentIsADoublePayment() {
        guard case .ignored = OrderStateMachine.apply(Self.success, to: paid) else { Issue.record("same payment counted twice"); return }
        var second = Self.success
        second.facts.paymentReference = "pi_2"
        let twice = after([second], from: paid)
        #expect(twice.status == .needsReview)
        #expect(twice.reviewReasons == [.doublePayment])
        #expect(twice.ledger.extraPayments == ["pi_2": 1999])
    }

    @Test(arguments: [OrderStatus.canceled, .expired])
    func aPaymentOnAClosedOrderGoesToAHuman(closed: OrderStatus) {
        let state = after([Self.success], from: order(closed))
        #expect(state.status == .needsReview)
        #expect(state.reviewReasons == [.paymentAfterClose])
        #expect(state.ledger.paidBy == "pi_1")
    }

    @Test func refundsAccumulateByIDAndCountOnce() {
        var state = paid
        for (id, amount, expected) in [("re_1", Int64(500), OrderStatus.partiallyRefunded), ("re_2", 1000, .partiallyRefunded), ("re_1", 500, .partiallyRefunded), ("re_3", 499, .refunded)] {
            state = after([Self.refund(id, amount)], from: state)
            #expect(state.status == expected)
        }
        #expect(state.refundedMinor == 1999)
    }

    @Test func aCumulativeTotalAndTheRefundsItSumsCountOnceInAnyOrder() {
        let events = [Self.refund("re_1", 300), Self.refund(nil, 300, cumulative: true), Self.refund("re_2", 200), Self.refund(nil, 500, cumulative: true)]
        for permutation in events.permutations() {
            let state = after(permutation, from: paid)
            #expect(state.refundedMinor == 500)
            #expect(state.status == .partiallyRefunded)
        }
        // An older redelivery of a smaller total never takes the refunded amount back.
        #expect(after([Self.refund(nil, 500, cumulative: true), Self.refund(nil, 300, cumulative: true)], from: paid).refundedMinor == 500)
    }

    @Test func aFailedRefundNeverCountsWhicheverArrivesFirst() {
        let failed = OrderEvent(kind: .refundFailed, facts: EventFacts(paymentReference: "pi_1", refundID: "re_1"))
        #expect(after([Self.refund("re_1", 1999), failed], from: paid).status == .paid)
        #expect(after([failed, Self.refund("re_1", 1999)], from: paid).status == .paid)
        #expect(after([failed, Self.refund("re_2", 100)], from: paid).refundedMinor == 100)
    }

    @Test func aRefundAboveThePaidAmountGoesToReview() {
        let state = after([Self.refund("re_1", 1500), Self.refund("re_2", 1000)], from: paid)
        #expect(state.status == .needsReview)
        #expect(state.reviewReasons == [.overRefund])
        #expect(state.refundedMinor == 2500, "the order keeps every fact needed to settle it")
    }

    @Test func aRefundInAnotherCurrencyGoesToReview() {
        var refund = Self.refund("re_1", 100)
        refund.currency = "EUR"
        #expect(after([refund], from: paid).reviewReasons == [.currencyMismatch])
    }

    /// Google Play voids a purchase without saying how much went back: never "ignored", the order
    /// goes to a human with the refund's id, until that refund is stated with its amount or fails.
    @Test func aRefundWithoutAnAmountGoesToReviewAndLeavesWhenStatedOrFailed() {
        let unpriced = OrderEvent(kind: .refundSucceeded, facts: EventFacts(paymentReference: "pi_1", refundID: "void:GPA.1"))
        let state = after([unpriced], from: paid)
        #expect(state.status == .needsReview && state.reviewReasons == [.unpricedRefund])
        #expect(state.ledger.unpricedRefunds == ["void:GPA.1"] && state.refundedMinor == 0)
        guard case .ignored = OrderStateMachine.apply(unpriced, to: state) else { Issue.record("a redelivery counted again"); return }
        #expect(after([unpriced, Self.refund("void:GPA.1", 1999)], from: paid).status == .refunded)
        let failed = OrderEvent(kind: .refundFailed, facts: EventFacts(paymentReference: "pi_1", refundID: "void:GPA.1"))
        #expect(after([unpriced, failed], from: paid).status == .paid)
        // Before the payment it waits, like any refund, and applies once the order is paid.
        guard case .deferred = OrderStateMachine.apply(unpriced, to: order(.pendingPayment)) else { Issue.record("not deferred"); return }
        // The ledger keeps it across a store and load.
        let decoded = try? JSONDecoder().decode(OrderLedger.self, from: JSONEncoder().encode(state.ledger))
        #expect(decoded == state.ledger)
    }

    @Test func refundBeforePaymentIsDeferredNotLost() {
        let refund = Self.refund("re_1", 1999)
        for start in OrderStatus.beforePayment {
            guard case .deferred = OrderStateMachine.apply(refund, to: order(start)) else { Issue.record("not deferred from \(start)"); return }
        }
        #expect(after([Self.success, refund], from: order(.pendingPayment)).status == .refunded)
    }

    @Test func disputesReturnWhenWonAndChargeBackWhenLost() {
        #expect(after([Self.dispute(.disputeOpened), Self.dispute(.disputeWon)], from: paid).status == .paid)
        #expect(after([Self.refund("re_1", 100), Self.dispute(.disputeOpened), Self.dispute(.disputeWon)], from: paid).status == .partiallyRefunded)
        #expect(after([Self.dispute(.disputeOpened), Self.dispute(.disputeLost)], from: paid).status == .chargedBack)
        // A chargeback without notice charges back; its reversal returns the order.
        #expect(after([Self.dispute(.disputeFundsWithdrawn)], from: paid).status == .chargedBack)
        #expect(after([Self.dispute(.disputeFundsWithdrawn), Self.dispute(.disputeWon)], from: paid).status == .paid)
        // A second chargeback (stage 4) after a reversal is final.
        #expect(after([Self.dispute(.disputeFundsWithdrawn), Self.dispute(.disputeWon), Self.dispute(.disputeLost, stage: 4)], from: paid).status == .chargedBack)
    }

    @Test func disputeOutcomesApplyInAnyOrder() {
        let life = [Self.dispute(.disputeOpened), Self.dispute(.disputeFundsWithdrawn), Self.dispute(.disputeLost)]
        for permutation in life.permutations() {
            #expect(after(permutation, from: paid).status == .chargedBack)
        }
        let won = [Self.dispute(.disputeOpened), Self.dispute(.disputeFundsWithdrawn), Self.dispute(.disputeWon)]
        for permutation in won.permutations() {
            #expect(after(permutation, from: paid).status == .paid)
        }
    }

    @Test func aSettledDisputeContradictedLaterGoesToReviewNeverFlips() {
        for order in [[Self.dispute(.disputeWon), Self.dispute(.disputeLost)], [Self.dispute(.disputeLost), Self.dispute(.disputeWon)]] {
            let state = after(order, from: paid)
            #expect(state.status == .needsReview)
            #expect(state.reviewReasons == [.disputeContradicted])
        }
    }

    @Test func cancelAndExpireOnlyBeforePayment() {
        for kind in [PaymentEventKind.paymentCanceled, .checkoutExpired] {
            for start in [OrderStatus.created, .pendingPayment, .failed] {
                guard case .applied = OrderStateMachine.apply(OrderEvent(kind: kind), to: order(start)) else { Issue.record("\(kind) from \(start)"); return }
            }
            guard case .ignored = OrderStateMachine.apply(OrderEvent(kind: kind), to: paid) else { Issue.record("\(kind) after paid"); return }
        }
    }

    @Test func otherEventsAreNeverActedOn() {
        for start in OrderStatus.allCases {
            guard case .ignored = OrderStateMachine.apply(OrderEvent(kind: .other), to: order(start)) else { Issue.record("other acted on"); return }
        }
    }

    /// Exhaustively: no event ever moves a paid-or-later order back to a pre-payment status,
    /// and nothing but a matching success reaches `paid` from before payment.
    @Test func noEventRegressesMoneyThatMoved() {
        let afterPayment: Set<OrderStatus> = [.paid, .fulfilled, .partiallyRefunded, .refunded, .disputed, .chargedBack, .needsReview]
        let events = PaymentEventKind.allCases.flatMap { kind in
            [OrderEvent(kind: kind), OrderEvent(kind: kind, amountMinor: 1999, currency: "USD", facts: EventFacts(paymentReference: "pi_1", refundID: "re_1", disputeID: "dp_1")),
             OrderEvent(kind: kind, amountMinor: 7, currency: "EUR", facts: EventFacts(paymentReference: "pi_9"))]
        }
        for start in OrderStatus.allCases {
            var state = order(start)
            if afterPayment.contains(start) { state.ledger = paid.ledger }
            for event in events {
                guard case .applied(let next) = OrderStateMachine.apply(event, to: state) else { continue }
                if afterPayment.contains(start) { #expect(!OrderStatus.beforePayment.contains(next.status), "\(start) -> \(next.status) on \(event.kind)") }
                if OrderStatus.beforePayment.contains(start) && next.status == .paid {
                    #expect(event.kind == .paymentSucceeded && event.amountMinor == 1999)
                }
            }
        }
    }

    /// Amounts near Int64.max (a signed event can carry any number) never trap: the sum is checked
    /// and the order goes to a human.
    @Test func aRefundThatWouldOverflowGoesToReviewInsteadOfTrapping() {
        let partly = after([Self.refund("re_0", 2)], from: paid)
        for amount in [Int64.max, Int64.max - 1] {
            let next = after([Self.refund("re_big", amount)], from: partly)
            #expect(next.status == .needsReview)
            #expect(next.reviewReasons.contains(.amountOverflow))
            #expect(next.refundedMinor == 2)
        }
    }
}

extension Array {
    /// Every ordering of the elements (Heap's algorithm); for the short lifecycles tests use.
    func permutations() -> [[Element]] {
        var result: [[Element]] = []
        var items = self
        func generate(_ n: Int) {
            guard n > 1 else { result.append(items); return }
            for i in 0..<n {
                generate(n - 1)
                items.swapAt(n % 2 == 0 ? i : 0, n - 1)
            }
        }
        generate(count)
        return result
    }
}

/// The review reasons are derived from the facts, so they converge too (found by exploring the
/// lifecycle graph: a sticky over-refund flag made a refund's failure order-dependent).
@Suite struct LedgerConvergenceTests {
    let machine = OrderStateMachineTests()

    @Test func anOverRefundThatOneRefundsFailureUndoesEndsTheSameInAnyOrder() {
        let failed = OrderEvent(kind: .refundFailed, amountMinor: 1000, currency: "USD", facts: EventFacts(paymentReference: "pi_1", refundID: "re_2"))
        let events = [OrderStateMachineTests.refund("re_1", 1500), OrderStateMachineTests.refund("re_2", 1000), failed]
        for permutation in events.permutations() {
            let state = machine.after(permutation, from: machine.paid)
            #expect(state.status == .partiallyRefunded)
            #expect(state.refundedMinor == 1500)
        }
    }

    @Test func aFinalStageAfterAContradictionEndsTheSameInAnyOrder() {
        let events = [OrderStateMachineTests.dispute(.disputeLost), OrderStateMachineTests.dispute(.disputeWon), OrderStateMachineTests.dispute(.disputeWon, stage: 4)]
        let endings = Set(events.permutations().map { machine.after($0, from: machine.paid).status })
        #expect(endings == [.needsReview], "a contradiction stays with a human whatever came after it")
    }

    @Test func aFailedRefundComesOffACumulativeTotalThatIncludedIt() {
        let failed = OrderEvent(kind: .refundFailed, amountMinor: 500, currency: "USD", facts: EventFacts(paymentReference: "pi_1", refundID: "re_1"))
        let events = [OrderStateMachineTests.refund("re_1", 500), OrderStateMachineTests.refund(nil, 500, cumulative: true), failed]
        for permutation in events.permutations() {
            #expect(machine.after(permutation, from: machine.paid).status == .paid)
        }
    }

    @Test func refundsAndAChargebackReturningMoreThanPaidGoToReview() {
        let chargeback = OrderStateMachineTests.dispute(.disputeFundsWithdrawn)
        #expect(machine.after([OrderStateMachineTests.refund("re_1", 500), chargeback], from: machine.paid).reviewReasons == [.refundAndChargeback])
        // A chargeback of only the rest is no double return.
        var rest = chargeback
        rest.amountMinor = 1499
        #expect(machine.after([OrderStateMachineTests.refund("re_1", 500), rest], from: machine.paid).status == .chargedBack)
    }
}

import Testing
import TollgateOrders

@Suite struct OrderStateMachineTests {
    func order(_ status: OrderStatus, refunded: Int64 = 0) -> OrderState {
        OrderState(status: status, amountMinor: 1999, currency: "USD", refundedMinor: refunded)
    }

    func status(after kinds: [OrderEvent], from start: OrderStatus) -> OrderStatus {
        var state = order(start)
        for event in kinds {
            if case .applied(let next) = OrderStateMachine.apply(event, to: state) { state = next }
        }
        return state.status
    }

    static let success = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "USD")

    @Test(arguments: [OrderStatus.created, .pendingPayment, .authorized, .failed])
    func successPaysFromEveryPrePaymentStatus(from: OrderStatus) {
        #expect(OrderStateMachine.apply(Self.success, to: order(from)) == .applied(order(.paid)))
    }

    @Test func successWithOtherAmountOrCurrencyNeedsReviewNeverPaid() {
        let cheaper = OrderEvent(kind: .paymentSucceeded, amountMinor: 1, currency: "USD")
        let otherCurrency = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "EUR")
        #expect(OrderStateMachine.apply(cheaper, to: order(.pendingPayment)) == .applied(order(.needsReview)))
        #expect(OrderStateMachine.apply(otherCurrency, to: order(.pendingPayment)) == .applied(order(.needsReview)))
        #expect(OrderStateMachine.apply(OrderEvent(kind: .paymentSucceeded), to: order(.pendingPayment)) == .applied(order(.needsReview)))
        // Currency codes compare case-insensitively: Stripe sends "usd".
        let lower = OrderEvent(kind: .paymentSucceeded, amountMinor: 1999, currency: "usd")
        #expect(OrderStateMachine.apply(lower, to: order(.pendingPayment)) == .applied(order(.paid)))
    }

    @Test func lateFailureAfterSuccessIsIgnoredAndNeverRegresses() {
        guard case .ignored(let reason) = OrderStateMachine.apply(OrderEvent(kind: .paymentFailed), to: order(.paid)) else {
            Issue.record("a failure after paid must be ignored"); return
        }
        #expect(reason.contains("paid"))
    }

    @Test func secondSuccessIsIgnored() {
        guard case .ignored = OrderStateMachine.apply(Self.success, to: order(.paid)) else { Issue.record("paid twice"); return }
    }

    @Test func refundsAccumulate() {
        var state = order(.paid)
        for (amount, expected) in [(Int64(500), OrderStatus.partiallyRefunded), (1000, .partiallyRefunded), (499, .refunded)] {
            guard case .applied(let next) = OrderStateMachine.apply(OrderEvent(kind: .refundSucceeded, amountMinor: amount, currency: "USD"), to: state) else {
                Issue.record("refund not applied"); return
            }
            #expect(next.status == expected)
            state = next
        }
        #expect(state.refundedMinor == 1999)
        guard case .ignored = OrderStateMachine.apply(OrderEvent(kind: .refundSucceeded, amountMinor: 1, currency: "USD"), to: state) else {
            Issue.record("refund after full refund must be ignored"); return
        }
    }

    @Test func refundBeforePaymentIsDeferredNotLost() {
        let refund = OrderEvent(kind: .refundSucceeded, amountMinor: 1999, currency: "USD")
        guard case .deferred = OrderStateMachine.apply(refund, to: order(.pendingPayment)) else { Issue.record("not deferred"); return }
        #expect(status(after: [Self.success, refund], from: .pendingPayment) == .refunded)
    }

    @Test func disputeReturnsToItsPriorStatusWhenWonAndChargesBackWhenLost() {
        #expect(status(after: [OrderEvent(kind: .disputeOpened), OrderEvent(kind: .disputeWon)], from: .fulfilled) == .fulfilled)
        #expect(status(after: [OrderEvent(kind: .refundSucceeded, amountMinor: 100), OrderEvent(kind: .disputeOpened), OrderEvent(kind: .disputeWon)], from: .paid)
            == .partiallyRefunded)
        #expect(status(after: [OrderEvent(kind: .disputeOpened), OrderEvent(kind: .disputeLost)], from: .paid) == .chargedBack)
    }

    @Test func cancelAndExpireOnlyBeforePayment() {
        for kind in [PaymentEventKind.paymentCanceled, .checkoutExpired] {
            for start in [OrderStatus.created, .pendingPayment, .failed] {
                guard case .applied = OrderStateMachine.apply(OrderEvent(kind: kind), to: order(start)) else { Issue.record("\(kind) from \(start)"); return }
            }
            guard case .ignored = OrderStateMachine.apply(OrderEvent(kind: kind), to: order(.paid)) else { Issue.record("\(kind) after paid"); return }
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
        let before: Set<OrderStatus> = [.created, .pendingPayment, .authorized, .failed, .canceled, .expired]
        let events = PaymentEventKind.allCases.flatMap { kind in
            [OrderEvent(kind: kind), OrderEvent(kind: kind, amountMinor: 1999, currency: "USD"), OrderEvent(kind: kind, amountMinor: 7, currency: "EUR")]
        }
        for start in OrderStatus.allCases {
            for event in events {
                guard case .applied(let next) = OrderStateMachine.apply(event, to: order(start)) else { continue }
                if afterPayment.contains(start) { #expect(!before.contains(next.status), "\(start) -> \(next.status) on \(event.kind)") }
                if before.contains(start) && next.status == .paid {
                    #expect(event == Self.success)
                }
            }
        }
    }

    /// Amounts near Int64.max (a signed event can carry any number) never trap: the sum is checked
    /// and the order goes to a human with its refunded total unchanged.
    @Test func aRefundThatWouldOverflowGoesToReviewInsteadOfTrapping() {
        var partly = order(.partiallyRefunded)
        partly.refundedMinor = 2
        for amount in [Int64.max, Int64.max - 1] {
            let decision = OrderStateMachine.apply(OrderEvent(kind: .refundSucceeded, amountMinor: amount, currency: "USD"), to: partly)
            guard case .applied(let next) = decision else {
                Issue.record("expected applied, got \(decision)")
                continue
            }
            #expect(next.status == .needsReview)
            #expect(next.refundedMinor == 2)
        }
    }
}

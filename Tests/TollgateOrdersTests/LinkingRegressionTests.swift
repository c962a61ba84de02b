import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateTestSupport

/// Findings of the adversarial review of the lifecycle change, kept as regression tests: events
/// linked through a chain of references (a session links the PaymentIntent, which links the charge
/// a legacy dispute names), orderings that once lost money, and provider types once mapped wrongly.
/// EventTables mirrors PaymentEventStore's reads (plan, create = applyWaiting); the migration's
/// own findings are tested against Postgres in `LifecycleMigrationTests`.
@Suite struct LinkingAndReviewRegressionTests {
    let x = OrderKey(tenant: "demo", orderID: "ord_x")
    let pi = PaymentLink(tenant: "demo", provider: .stripe, reference: "pi_1")

    func refund(_ eventID: String, _ refundID: String, _ amount: Int64) -> PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: eventID, kind: .refundSucceeded,
                     providerPaymentID: "pi_1", facts: EventFacts(refundID: refundID), amountMinor: amount, currency: "USD", rawBody: [])
    }

    /// A ledger paid in full by pi_1 (decoded, so it works for HEAD's and the WIP's ledger).
    func paidLedger() -> OrderLedger {
        try! JSONDecoder().decode(OrderLedger.self, from: Data(#"{"paidBy":"pi_1","paidAmountMinor":1000,"paidCurrency":"USD"}"#.utf8))
    }

    var payment: PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_pay", kind: .paymentSucceeded,
                     orderID: "ord_x", providerPaymentID: "pi_1", amountMinor: 1000, currency: "USD", rawBody: [])
    }

    // MARK: 1. Refunds and disputes waiting for a link are found through chains of references

    @Test func aRefundWaitingForItsPaymentsLinkAppliesWhenOrderCreationLinksThePayment() {
        var tables = EventTables()
        tables.write(tables.plan([refund("evt_r1", "re_1", 400)]))   // pending: no order linked to pi_1 yet
        tables.write(tables.plan([payment]))                         // pending: order not created yet
        tables.create(x, OrderState(status: .created, amountMinor: 1000, currency: "USD"))  // checkout create / seedOrders
        #expect(tables.orders[x]?.status == .partiallyRefunded, "the waiting refund applies as the order is created")
        #expect(tables.links[pi] == x)
        // Any later event on pi_1 finds the link, so the store never loads the unlinked refund again.
        tables.write(tables.plan([refund("evt_r2", "re_2", 200)]))
        #expect(tables.events[0].outcome == .applied, "re_1 is still \(tables.events[0].outcome): stranded")
        #expect(tables.orders[x]?.refundedMinor == 600, "refunded \(tables.orders[x]?.refundedMinor ?? -1), re_1 never counted")
    }

    /// Evaluating a queued event may link an older one into the queue ahead of it: the planner
    /// removes by reference, so neither is lost nor evaluated twice.
    @Test func aLinkedEventInsertedWhileScanningTheQueueIsEvaluatedOnce() {
        let pending = OrderState(status: .pendingPayment, amountMinor: 1000, currency: "USD")
        // Legacy Stripe dispute: charge only, no order.
        let dispute = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_dp", kind: .disputeFundsWithdrawn,
                                   linkReferences: ["ch_1"], facts: EventFacts(disputeID: "dp_1"), amountMinor: 1000, currency: "USD", rawBody: [])
        // payment_intent.succeeded without metadata (Checkout Session metadata is not copied to the PI).
        let intent = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_pi", kind: .paymentSucceeded,
                                  providerPaymentID: "pi_1", linkReferences: ["pi_1", "ch_1"], amountMinor: 1000, currency: "USD", rawBody: [])
        // checkout.session.completed: order reference, links the PaymentIntent only.
        let session = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_cs", kind: .paymentSucceeded,
                                   orderID: "ord_x", providerPaymentID: "pi_1", amountMinor: 1000, currency: "USD", rawBody: [])
        let plan = WritePlanner.plan(events: [dispute, intent, session], orders: [x: pending])
        #expect(plan.orders[x]?.status == .chargedBack, "order \(plan.orders[x]?.status.rawValue ?? "-")")
        #expect(plan.newEvents.map(\.outcome) == [.applied, .ignored, .applied], "outcomes \(plan.newEvents.map(\.outcome.rawValue))")
        #expect(plan.transitions.filter { $0.event == .new(1) }.count == 1, "the PI event evaluated \(plan.transitions.filter { $0.event == .new(1) }.count) times")
    }

    /// Same three events, one commit each (the store's normal path): the session links pi_1, the PI
    /// event is linked and evaluated and links ch_1; the references read widen until the dispute
    /// on ch_1 is read too.
    @Test func aDisputeLinkedThroughAChainOfReferencesApplies() {
        var tables = EventTables()
        tables.create(x, OrderState(status: .pendingPayment, amountMinor: 1000, currency: "USD"))
        let dispute = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_dp", kind: .disputeFundsWithdrawn,
                                   linkReferences: ["ch_1"], facts: EventFacts(disputeID: "dp_1"), amountMinor: 1000, currency: "USD", rawBody: [])
        let intent = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_pi", kind: .paymentSucceeded,
                                  providerPaymentID: "pi_1", linkReferences: ["pi_1", "ch_1"], amountMinor: 1000, currency: "USD", rawBody: [])
        let session = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_cs", kind: .paymentSucceeded,
                                   orderID: "ord_x", providerPaymentID: "pi_1", amountMinor: 1000, currency: "USD", rawBody: [])
        for event in [dispute, intent, session] { tables.write(tables.plan([event])) }
        #expect(tables.links[PaymentLink(tenant: "demo", provider: .stripe, reference: "ch_1")] == x)
        #expect(tables.orders[x]?.status == .chargedBack, "order \(tables.orders[x]?.status.rawValue ?? "-"); dispute row \(tables.events[0].outcome.rawValue), order \(tables.events[0].order?.orderID ?? "nil")")
    }

    // MARK: 2. Review reasons are derived, so a refund's failure converges in any order

    @Test func overRefundThenFailureEndsTheSameInAnyOrder() {
        let paid = OrderState(status: .paid, amountMinor: 1000, currency: "USD", ledger: paidLedger())
        let a = OrderEvent(kind: .refundSucceeded, amountMinor: 800, currency: "USD", facts: EventFacts(refundID: "re_1"))
        let b = OrderEvent(kind: .refundSucceeded, amountMinor: 400, currency: "USD", facts: EventFacts(refundID: "re_2"))
        let c = OrderEvent(kind: .refundFailed, facts: EventFacts(refundID: "re_2"))  // Adyen REFUND_FAILED, Stripe refund.failed
        func run(_ events: [OrderEvent]) -> OrderStatus {
            var order = paid
            for event in events { if case .applied(let next) = OrderStateMachine.apply(event, to: order) { order = next } }
            return order.status
        }
        #expect(run([a, b, c]) == run([c, a, b]), "\(run([a, b, c])) vs \(run([c, a, b]))")
    }

    // MARK: 4. Checkout.com dispute types (docs: evidence_required = debited; expired = cannot respond; resolved = closed)

    func checkout(_ type: String) throws -> PaymentEvent {
        let body = #"{"id":"evt_\#(type)","type":"\#(type)","created_on":"2024-01-01T00:00:00Z","data":{"id":"dsp_1","amount":1000,"currency":"USD","payment_id":"pay_1","payment_reference":"ord_x"}}"#
        return try #require(try PaymentEventNormalizer(tenant: "demo", source: "cko", provider: .checkout).normalize(headers: [:], body: Array(body.utf8)).first)
    }

    @Test func checkoutDisputeTypes() throws {
        #expect(try checkout("dispute_evidence_required").kind == .disputeFundsWithdrawn)
        #expect(try checkout("dispute_expired").kind == .disputeLost)
        #expect(try checkout("dispute_resolved").kind != .other)
    }

    // MARK: 4. Adyen disputeStatus is trimmed for the identity and the kind alike

    @Test func adyenDisputeStatusWithSpacesIsStillTheOutcome() throws {
        let body = #"{"live":"true","notificationItems":[{"NotificationRequestItem":{"additionalData":{"disputeStatus":" Lost "},"amount":{"currency":"EUR","value":1000},"eventCode":"CHARGEBACK","merchantReference":"ord_x","originalReference":"psp_pay","pspReference":"psp_dsp","success":"true"}}]}"#
        let event = try #require(try PaymentEventNormalizer(tenant: "demo", source: "adyen", provider: .adyen).normalize(headers: [:], body: Array(body.utf8)).first)
        #expect(event.providerEventID == "psp_dsp:CHARGEBACK:true:Lost")
        #expect(event.kind == .disputeLost, "kind \(event.kind)")
    }
}

/// The second review's findings, kept as tests.
@Suite struct SecondReviewRegressionTests {
    let machine = OrderStateMachineTests()

    /// A reference or id with a control character is none: Postgres refuses NUL, and U+001E/U+001F
    /// separate references where they are stored together.
    @Test func idsAndReferencesWithControlCharactersAreRefused() throws {
        let normalizer = PaymentEventNormalizer(tenant: "demo", source: "stripe", provider: .stripe)
        let body = #"{"id":"evt_1","type":"refund.created","data":{"object":{"id":"re_1","amount":100,"currency":"usd","status":"succeeded","payment_intent":"pi_1\u001fpi_2","charge":"ch_1"}}}"#
        let event = try #require(try normalizer.normalize(headers: [:], body: Array(body.utf8)).first)
        #expect(event.linkReferences == ["ch_1"])
        let nul = #"{"id":"evt\u0000","type":"refund.created","data":{"object":{}}}"#
        #expect(throws: NormalizationError.noEventID) { try normalizer.normalize(headers: [:], body: Array(nul.utf8)) }
    }

    /// An order paid before its payment's reference was recorded: a referenced payment is another one.
    @Test func aPaymentOnAnOrderPaidWithoutAReferenceIsADoublePayment() {
        var legacy = machine.paid
        legacy.ledger.paidBy = nil
        let state = machine.after([OrderStateMachineTests.success], from: legacy)
        #expect(state.reviewReasons == [.doublePayment])
    }

    /// A total the provider already lowered after a failure never hides an over-refund: paid 1999;
    /// re_1 (1200) fails; re_2 and re_3 arrive only in the total (2400).
    @Test func aLoweredTotalNeverHidesAnOverRefund() {
        let failed = OrderEvent(kind: .refundFailed, amountMinor: 1200, currency: "USD", facts: EventFacts(paymentReference: "pi_1", refundID: "re_1"))
        let events = [OrderStateMachineTests.refund("re_1", 1200), failed, OrderStateMachineTests.refund(nil, 2400, cumulative: true)]
        for permutation in events.permutations() {
            #expect(machine.after(permutation, from: machine.paid).reviewReasons.contains(.overRefund))
        }
    }

    /// The alert counts a reason added to an order already in review, not only entries into review.
    @Test func aReasonAddedInReviewIsReported() {
        var tables = EventTables()
        let order = OrderKey(tenant: "demo", orderID: "ord_1")
        var state = machine.paid
        state.ledger.legacyReview = true
        state.status = .needsReview
        tables.create(order, state)
        let second = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_2", kind: .paymentSucceeded, orderID: "ord_1",
                                  providerPaymentID: "pi_2", amountMinor: 1999, currency: "USD", rawBody: [])
        #expect(tables.plan([second]).reviewReasonsAdded == [order: [.doublePayment]])
    }
}

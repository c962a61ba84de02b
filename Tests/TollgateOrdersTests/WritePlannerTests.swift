import Testing
import TollgateOrders
import TollgateTestSupport

@Suite struct WritePlannerTests {
    let order = OrderKey(tenant: "demo", orderID: "ord_1")

    func event(_ id: String, _ kind: PaymentEventKind, amount: Int64? = 1000, order: String? = "ord_1") -> PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: id, kind: kind, orderID: order,
                     amountMinor: amount, currency: "USD", rawBody: [])
    }

    @Test func aBatchPlannedAtOnceEqualsItsEventsPlannedOneByOne() {
        // 10,000 random sequences; each batch of the sequence is planned whole on one side and
        // event by event (state carried forward) on the other. Results and rows must be identical.
        var batches = 0
        for seed in 0..<10_000 as Range<UInt64> {
            var generator = LifecycleGenerator(seed: seed)
            var whole = EventTables()
            var single = EventTables()
            for step in generator.steps(orders: 3, events: 12) {
                switch step {
                case .create(let key, let state):
                    whole.create(key, state)
                    single.create(key, state)
                case .deliver(let events):
                    batches += 1
                    let plan = whole.plan(events)
                    whole.write(plan)
                    var results: [CommitOutcome] = []
                    for event in events {
                        let one = single.plan([event])
                        single.write(one)
                        results += one.results
                    }
                    #expect(plan.results == results, "seed \(seed)")
                }
            }
            #expect(whole == single, "seed \(seed)")
            if whole != single { return }
        }
        #expect(batches > 10_000)
    }

    @Test func aRefundBeforeItsPaymentIsDeferredThenAppliedInTheSameBatch() {
        let tables = {
            var tables = EventTables()
            tables.create(order, OrderState(status: .pendingPayment, amountMinor: 1000, currency: "USD"))
            return tables
        }()
        let plan = tables.plan([event("re_1", .refundSucceeded, amount: 400), event("pi_1", .paymentSucceeded)])
        #expect(plan.results == [.recorded(.deferred), .recorded(.applied)])
        #expect(plan.newEvents.map(\.outcome) == [.applied, .applied])
        #expect(plan.transitions.map { [$0.from, $0.to] } == [[.pendingPayment, .paid], [.paid, .partiallyRefunded]])
        #expect(plan.transitions.map(\.event) == [.new(1), .new(0)])
        #expect(plan.orders[order]?.refundedMinor == 400)
    }

    @Test func aRedeliveryInsideOneBatchIsADuplicate() {
        var tables = EventTables()
        tables.create(order, OrderState(status: .pendingPayment, amountMinor: 1000, currency: "USD"))
        let plan = tables.plan([event("pi_1", .paymentSucceeded), event("pi_1", .paymentSucceeded)])
        #expect(plan.results == [.recorded(.applied), .duplicate])
        #expect(plan.newEvents.count == 1)
        tables.write(plan)
        #expect(tables.plan([event("pi_1", .paymentSucceeded)]).results == [.duplicate])
    }

    @Test func eventsForAnOrderNotCreatedYetWaitAndApplyOnCreation() {
        var tables = EventTables()
        let early = tables.plan([event("pi_1", .paymentSucceeded), event("re_1", .refundSucceeded, amount: 1000)])
        #expect(early.results == [.recorded(.pending), .recorded(.pending)])
        #expect(early.transitions.isEmpty)
        tables.write(early)
        tables.create(order, OrderState(status: .created, amountMinor: 1000, currency: "USD"))
        #expect(tables.orders[order]?.status == .refunded)
        #expect(tables.events.map(\.outcome) == [.applied, .applied])
        #expect(tables.transitions.map(\.to) == [.paid, .refunded])
    }

    @Test func anIgnoredEventLeavesATransitionRowAndTheOrderUnchanged() {
        var tables = EventTables()
        tables.create(order, OrderState(status: .paid, amountMinor: 1000, currency: "USD"))
        let plan = tables.plan([event("pf_1", .paymentFailed)])
        #expect(plan.results == [.recorded(.ignored)])
        #expect(plan.orders.isEmpty)
        #expect(plan.transitions.count == 1)
        #expect(plan.transitions.first?.from == plan.transitions.first?.to)
    }

    @Test func eventsWithoutAnOrderOrOfKindOtherAreOnlyStored() {
        let plan = EventTables().plan([event("x_1", .other), event("x_2", .paymentSucceeded, order: nil)])
        #expect(plan.results == [.recorded(.stored), .recorded(.stored)])
        #expect(plan.transitions.isEmpty)
    }
}

import TollgateCore
import TollgateOrders


/// The three tables a ``WritePlan`` writes, in memory: what the Postgres writer does, as plain
/// values, so planner properties can be checked without a database. Rows refer to events by key.
public struct EventTables: Equatable, Sendable {
    public struct EventRow: Equatable, Sendable {
        public var key: PaymentEventKey
        public var order: OrderKey?
        public var event: OrderEvent
        public var outcome: EventOutcome
        public var reason: String?
        public var links: [PaymentLink]

        public init(key: PaymentEventKey, order: OrderKey?, event: OrderEvent, outcome: EventOutcome, reason: String?, links: [PaymentLink] = []) {
            (self.key, self.order, self.event, self.outcome, self.reason, self.links) = (key, order, event, outcome, reason, links)
        }
    }

    public struct TransitionRow: Equatable, Sendable {
        public var order: OrderKey
        public var event: PaymentEventKey
        public var from: OrderStatus
        public var to: OrderStatus
        public var outcome: EventOutcome
        public var reason: String?

        public init(order: OrderKey, event: PaymentEventKey, from: OrderStatus, to: OrderStatus, outcome: EventOutcome, reason: String?) {
            (self.order, self.event, self.from, self.to, self.outcome, self.reason) = (order, event, from, to, outcome, reason)
        }
    }

    /// By row id order.
    public var events: [EventRow] = []
    public var orders: [OrderKey: OrderState] = [:]
    public var transitions: [TransitionRow] = []
    /// `order_links`: the first link of a reference wins.
    public var links: [PaymentLink: OrderKey] = [:]

    public init() {}

    /// Row ids are positions (plus one) in `events`.
    public func waiting(for keys: some Sequence<OrderKey>) -> [OrderKey: [WaitingEvent]] {
        var waiting: [OrderKey: [WaitingEvent]] = [:]
        let wanted = Set(keys)
        for (index, row) in events.enumerated() where [.deferred, .pending].contains(row.outcome) {
            guard let order = row.order, wanted.contains(order) else { continue }
            waiting[order, default: []].append(WaitingEvent(rowID: Int64(index + 1), event: row.event, outcome: row.outcome, reason: row.reason, links: row.links))
        }
        return waiting
    }

    /// Stored events without an order still waiting for one of `wanted` (row id order).
    public func unlinked(_ wanted: Set<PaymentLink>) -> [WaitingEvent] {
        events.enumerated().compactMap { index, row in
            guard row.outcome == .pending, row.order == nil, !wanted.isDisjoint(with: row.links) else { return nil }
            return WaitingEvent(rowID: Int64(index + 1), event: row.event, outcome: row.outcome, reason: row.reason, links: row.links)
        }
    }

    /// Plans `events` against these tables exactly as the store reads them (widening the
    /// references read until the plan links nothing it did not read for).
    public func plan(_ batch: [PaymentEvent], reevaluating: [OrderKey] = []) -> WritePlan {
        var references = Set(batch.filter { $0.kind != .other }.flatMap(\.links))
        let known = Set(events.map(\.key))
        while true {
            let linked = self.links.filter { references.contains($0.key) }
            let keys = Set(batch.compactMap(\.orderKey)).union(linked.values).union(reevaluating)
            let orders = self.orders.filter { keys.contains($0.key) }
            let waiting = waiting(for: orders.keys)
            let unlinked = unlinked(references.filter { linked[$0] == nil })
            let plan = WritePlanner.plan(events: batch, orders: orders, waiting: waiting, stored: Set(batch.map(\.key).filter(known.contains)),
                                         reevaluating: reevaluating, links: linked, unlinked: unlinked)
            let wider = references.union(plan.links.keys).union(unlinked.flatMap(\.links)).union(waiting.values.joined().flatMap(\.links))
            if wider == references { return plan }
            references = wider
        }
    }

    /// Creates an order and applies what waited for it, as checkout and seeding do.
    public mutating func create(_ order: OrderKey, _ state: OrderState) {
        orders[order] = state
        write(plan([], reevaluating: [order]))
    }

    public mutating func write(_ plan: WritePlan) {
        var rowOfNew: [Int] = []
        for new in plan.newEvents {
            rowOfNew.append(events.count)
            events.append(EventRow(key: new.event.key, order: new.event.orderKey, event: new.event.orderEvent, outcome: new.outcome, reason: new.reason,
                                   links: new.event.links))
        }
        for change in plan.outcomeChanges {
            let row = Int(change.rowID) - 1
            events[row].outcome = change.outcome
            events[row].reason = change.reason
            if let order = change.orderID { events[row].order = OrderKey(tenant: events[row].key.tenant, orderID: order) }
        }
        for (order, state) in plan.orders { orders[order] = state }
        for (link, order) in plan.links where links[link] == nil { links[link] = order }
        for transition in plan.transitions {
            let row = switch transition.event {
            case .stored(let rowID): Int(rowID) - 1
            case .new(let index): rowOfNew[index]
            }
            transitions.append(TransitionRow(order: transition.order, event: events[row].key, from: transition.from, to: transition.to,
                                             outcome: transition.outcome, reason: transition.reason))
        }
    }
}

/// Random lifecycles over a few orders: payments, failures, refunds, disputes, duplicates, events
/// for orders that do not exist yet (created later in the sequence), events without an order.
public struct LifecycleGenerator {
    public enum Step: Sendable {
        case deliver([PaymentEvent])
        case create(OrderKey, OrderState)
    }

    var random: SplitMix64
    var counter = 0
    var delivered: [PaymentEvent] = []

    public init(seed: UInt64) { random = SplitMix64(seed: seed) }

    public static let kinds: [PaymentEventKind] = [
        .paymentAuthorized, .paymentSucceeded, .paymentSucceeded, .paymentFailed, .paymentCanceled, .checkoutExpired,
        .refundSucceeded, .refundSucceeded, .refundSucceeded, .refundFailed, .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost, .other,
    ]

    public mutating func steps(orders: Int, events: Int) -> [Step] {
        let keys = (0..<orders).map { OrderKey(tenant: $0 % 2 == 0 ? "t1" : "t2", orderID: "o\($0)") }
        var uncreated = Set(keys.indices.filter { _ in random.next(below: 3) == 0 })
        var steps: [Step] = keys.indices.filter { !uncreated.contains($0) }.map { .create(keys[$0], state(for: $0)) }
        var remaining = events
        while remaining > 0 {
            if let index = uncreated.first, random.next(below: 8) == 0 {
                uncreated.remove(index)
                steps.append(.create(keys[index], state(for: index)))
                continue
            }
            let size = min(remaining, 1 + random.next(below: 6))
            remaining -= size
            steps.append(.deliver((0..<size).map { _ in event(keys) }))
        }
        return steps
    }

    public func state(for index: Int) -> OrderState {
        OrderState(status: index % 3 == 0 ? .created : .pendingPayment, amountMinor: 1000, currency: "USD")
    }

    public mutating func event(_ keys: [OrderKey]) -> PaymentEvent {
        if !delivered.isEmpty, random.next(below: 6) == 0 {
            return delivered[random.next(below: delivered.count)]  // a redelivery
        }
        counter += 1
        let order = keys[random.next(below: keys.count)]
        let kind = Self.kinds[random.next(below: Self.kinds.count)]
        let amount: Int64? = switch kind {
        case .refundSucceeded: [Int64(0), 100, 250, 500, 1000][random.next(below: 5)]
        case .paymentSucceeded: random.next(below: 5) == 0 ? 999 : 1000
        default: 1000
        }
        let currency = random.next(below: 12) == 0 ? "EUR" : "USD"
        // Payments name their order (and now and then a second payment reference: a double
        // charge); refunds and disputes mostly point only at the payment, as real providers send them.
        let payment = random.next(below: 10) == 0 ? "pi2_\(order.orderID)" : "pi_\(order.orderID)"
        let isPayment = [.paymentAuthorized, .paymentSucceeded, .paymentFailed, .paymentCanceled, .checkoutExpired].contains(kind)
        let namesOrder = isPayment ? random.next(below: 15) != 0 : random.next(below: 2) == 0
        var facts = EventFacts()
        switch kind {
        case .refundSucceeded where random.next(below: 3) == 0: facts.refundIsCumulative = true
        case .refundSucceeded, .refundFailed: facts.refundID = ["re_a", "re_b", "re_c"][random.next(below: 3)]
        case .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost: facts.disputeID = "dp_\(order.orderID)"
        default: break
        }
        let event = PaymentEvent(
            tenant: order.tenant, source: random.next(below: 2) == 0 ? "s1" : "s2", provider: .stripe, providerEventID: "evt_\(counter)",
            kind: kind, orderID: namesOrder ? order.orderID : nil, providerPaymentID: payment, facts: facts,
            amountMinor: amount, currency: currency, rawBody: []
        )
        delivered.append(event)
        return event
    }
}

extension SplitMix64 {
    public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

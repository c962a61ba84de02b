import TollgateOrders
import TollgateTestSupport

/// The write path as it was before the planner (`PaymentEventStore.insertAndApply` and
/// `applyWaiting` at 31ca7e1), transcribed statement by statement onto in-memory tables: an
/// independent reference the planner must reproduce row for row.
struct ReferenceLedger {
    var tables = EventTables()

    mutating func create(_ order: OrderKey, _ state: OrderState) {
        tables.orders[order] = state
        applyWaiting(order)
    }

    /// Per-event: insert (unless a duplicate), decide against the order, then re-evaluate waiting events.
    mutating func deliver(_ event: PaymentEvent) -> CommitOutcome {
        guard !tables.events.contains(where: { $0.key == event.key }) else { return .duplicate }
        let key = event.orderKey
        let order = key.flatMap { tables.orders[$0] }
        var outcome = EventOutcome.stored
        var reason: String?
        var decision: OrderDecision?
        if event.kind == .other || key == nil {
            outcome = .stored
        } else if let order {
            let made = OrderStateMachine.apply(event.orderEvent, to: order)
            decision = made
            switch made {
            case .applied: outcome = .applied
            case .ignored(let why): (outcome, reason) = (.ignored, why)
            case .deferred(let why): (outcome, reason) = (.deferred, why)
            }
        } else {
            (outcome, reason) = (.pending, "order not created yet")
        }
        tables.events.append(.init(key: event.key, order: key, event: event.orderEvent, outcome: outcome, reason: reason))
        if let order, let key, let decision {
            switch decision {
            case .applied(let next):
                record(key, event.key, from: order, to: next, .applied, nil)
                applyWaiting(key)
            case .ignored(let why):
                record(key, event.key, from: order, to: order, .ignored, why)
            case .deferred:
                break
            }
        }
        return .recorded(outcome)
    }

    private mutating func record(_ order: OrderKey, _ event: PaymentEventKey, from: OrderState, to next: OrderState, _ outcome: EventOutcome, _ reason: String?) {
        if next != from { tables.orders[order] = next }
        tables.transitions.append(.init(order: order, event: event, from: from.status, to: next.status, outcome: outcome, reason: reason))
    }

    /// Oldest waiting event first; after one applies, the scan starts again.
    private mutating func applyWaiting(_ order: OrderKey) {
        var progressed = true
        while progressed {
            progressed = false
            let waiting = tables.events.indices.filter { tables.events[$0].order == order && [.deferred, .pending].contains(tables.events[$0].outcome) }
            for index in waiting {
                let state = tables.orders[order]!
                let row = tables.events[index]
                switch OrderStateMachine.apply(row.event, to: state) {
                case .applied(let next):
                    record(order, row.key, from: state, to: next, .applied, nil)
                    (tables.events[index].outcome, tables.events[index].reason) = (.applied, nil)
                    progressed = true
                case .ignored(let why):
                    record(order, row.key, from: state, to: state, .ignored, why)
                    (tables.events[index].outcome, tables.events[index].reason) = (.ignored, why)
                case .deferred(let why):
                    (tables.events[index].outcome, tables.events[index].reason) = (.deferred, why)
                }
                if progressed { break }
            }
        }
    }
}

/// What committing one event did, as its caller is told.
public enum CommitOutcome: Sendable, Equatable {
    /// Newly stored, with what it did to its order when it arrived.
    case recorded(EventOutcome)
    /// Already stored by an earlier delivery: nothing was applied.
    case duplicate
}

/// The `payment_events.outcome` values (see migration 0002).
public enum EventOutcome: String, Sendable, CaseIterable {
    /// Moved its order (a transition row says how).
    case applied
    /// Did not apply and never will (reason recorded, with a transition row from = to).
    case ignored
    /// May apply once the order moves on (a refund before its payment); re-evaluated after each transition.
    case deferred
    /// Its order does not exist yet; evaluated when the order is created.
    case pending
    /// Kept but not acted on (kind `other`, or no order reference).
    case stored
}

/// An event already stored that is still waiting (`deferred` or `pending`) for its order.
public struct WaitingEvent: Sendable, Equatable {
    public var rowID: Int64
    public var event: OrderEvent
    public var outcome: EventOutcome
    public var reason: String?

    public init(rowID: Int64, event: OrderEvent, outcome: EventOutcome, reason: String?) {
        self.rowID = rowID
        self.event = event
        self.outcome = outcome
        self.reason = reason
    }
}

/// Which event a transition or outcome belongs to: one stored before, or one this plan inserts.
public enum PlannedEventReference: Hashable, Sendable {
    case stored(rowID: Int64)
    /// An index into ``WritePlan/newEvents``.
    case new(Int)
}

/// Everything one commit writes, decided before anything is written.
public struct WritePlan: Sendable, Equatable {
    /// A new `payment_events` row with its final outcome.
    public struct NewEvent: Sendable, Equatable {
        public var event: PaymentEvent
        public var outcome: EventOutcome
        public var reason: String?
    }

    /// A stored event whose outcome changes (a deferred refund that now applies).
    public struct OutcomeChange: Sendable, Equatable {
        public var rowID: Int64
        public var outcome: EventOutcome
        public var reason: String?
    }

    /// An `order_transitions` row: an event evaluated against an order.
    public struct Transition: Sendable, Equatable {
        public var order: OrderKey
        public var event: PlannedEventReference
        public var from: OrderStatus
        public var to: OrderStatus
        public var outcome: EventOutcome
        public var reason: String?
    }

    /// One per input event, in input order.
    public var results: [CommitOutcome] = []
    /// In arrival order (their row ids must be assigned in this order).
    public var newEvents: [NewEvent] = []
    public var outcomeChanges: [OutcomeChange] = []
    /// In decision order (their row ids must be assigned in this order: an order's chain).
    public var transitions: [Transition] = []
    /// The final state of every order that changed.
    public var orders: [OrderKey: OrderState] = [:]
}

/// Decides what a commit writes: the one place where an event's outcome is decided.
///
/// Pure: the locked orders, their waiting events and the keys already stored go in; the rows to
/// write come out. The batch path, the per-event path and the re-evaluation of waiting events
/// after an order is created all call ``plan(events:orders:waiting:stored:reevaluating:)``, so
/// they cannot disagree. Planning a batch at once equals planning its events one by one with the
/// state carried forward (a property test holds it to that).
public enum WritePlanner {
    /// - Parameters:
    ///   - events: new deliveries, in arrival order.
    ///   - orders: the current state of every existing order the events name (locked by the caller).
    ///   - waiting: per order, its stored `deferred`/`pending` events in row id order.
    ///   - stored: which of the events' keys are already stored.
    ///   - reevaluating: orders whose waiting events are evaluated first (an order just created).
    public static func plan(
        events: [PaymentEvent], orders: [OrderKey: OrderState], waiting: [OrderKey: [WaitingEvent]] = [:],
        stored: Set<PaymentEventKey> = [], reevaluating: [OrderKey] = []
    ) -> WritePlan {
        var planning = Planning(orders: orders, waiting: waiting)
        for order in reevaluating { planning.applyWaiting(order) }
        var seen = stored
        for event in events {
            guard seen.insert(event.key).inserted else {
                planning.plan.results.append(.duplicate)
                continue
            }
            planning.plan.results.append(.recorded(planning.decide(event)))
        }
        return planning.plan
    }

    private struct Queued {
        var reference: PlannedEventReference
        var event: OrderEvent
    }

    private struct Planning {
        var orders: [OrderKey: OrderState]
        var queues: [OrderKey: [Queued]]
        var waitingOutcomes: [Int64: (EventOutcome, String?)]
        var plan = WritePlan()

        init(orders: [OrderKey: OrderState], waiting: [OrderKey: [WaitingEvent]]) {
            self.orders = orders
            self.queues = waiting.mapValues { $0.map { Queued(reference: .stored(rowID: $0.rowID), event: $0.event) } }
            self.waitingOutcomes = [:]
            for event in waiting.values.joined() { waitingOutcomes[event.rowID] = (event.outcome, event.reason) }
        }

        /// Decides a new event and returns its outcome on arrival.
        mutating func decide(_ event: PaymentEvent) -> EventOutcome {
            let index = plan.newEvents.count
            guard event.kind != .other, let key = event.orderKey else {
                plan.newEvents.append(.init(event: event, outcome: .stored, reason: nil))
                return .stored
            }
            guard orders[key] != nil else {
                plan.newEvents.append(.init(event: event, outcome: .pending, reason: "order not created yet"))
                queues[key, default: []].append(Queued(reference: .new(index), event: event.orderEvent))
                return .pending
            }
            plan.newEvents.append(.init(event: event, outcome: .stored, reason: nil))
            let outcome = evaluate(event.orderEvent, reference: .new(index), order: key)
            if outcome == .deferred {
                queues[key, default: []].append(Queued(reference: .new(index), event: event.orderEvent))
            } else if outcome == .applied {
                applyWaiting(key)
            }
            return outcome
        }

        /// Evaluates one event against its order, records the outcome and any transition.
        mutating func evaluate(_ event: OrderEvent, reference: PlannedEventReference, order key: OrderKey) -> EventOutcome {
            let order = orders[key]!
            switch OrderStateMachine.apply(event, to: order) {
            case .applied(let next):
                plan.transitions.append(.init(order: key, event: reference, from: order.status, to: next.status, outcome: .applied, reason: nil))
                if next != order {
                    orders[key] = next
                    plan.orders[key] = next
                }
                record(reference, .applied, nil)
                return .applied
            case .ignored(let why):
                plan.transitions.append(.init(order: key, event: reference, from: order.status, to: order.status, outcome: .ignored, reason: why))
                record(reference, .ignored, why)
                return .ignored
            case .deferred(let why):
                record(reference, .deferred, why)
                return .deferred
            }
        }

        /// Evaluates the order's waiting events, oldest first, until none applies: each applied
        /// one may make an earlier-deferred one legal, so the scan restarts after it.
        mutating func applyWaiting(_ key: OrderKey) {
            guard orders[key] != nil else { return }
            var progressed = true
            while progressed {
                progressed = false
                var index = 0
                while index < (queues[key]?.count ?? 0) {
                    let queued = queues[key]![index]
                    switch evaluate(queued.event, reference: queued.reference, order: key) {
                    case .applied:
                        queues[key]!.remove(at: index)
                        progressed = true
                    case .ignored:
                        queues[key]!.remove(at: index)
                    default:
                        index += 1
                    }
                    if progressed { break }
                }
            }
        }

        private mutating func record(_ reference: PlannedEventReference, _ outcome: EventOutcome, _ reason: String?) {
            switch reference {
            case .new(let index):
                plan.newEvents[index].outcome = outcome
                plan.newEvents[index].reason = reason
            case .stored(let rowID):
                guard let current = waitingOutcomes[rowID], current != (outcome, reason) else { return }
                waitingOutcomes[rowID] = (outcome, reason)
                plan.outcomeChanges.removeAll { $0.rowID == rowID }
                plan.outcomeChanges.append(.init(rowID: rowID, outcome: outcome, reason: reason))
            }
        }
    }
}

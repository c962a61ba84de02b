import TollgateCore

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

/// An event already stored that is still waiting (`deferred` or `pending`) for its order, or
/// (`pending` without an order) for a payment that links it to one.
public struct WaitingEvent: Sendable, Equatable {
    public var rowID: Int64
    public var event: OrderEvent
    public var outcome: EventOutcome
    public var reason: String?
    /// The links the event's references make (see ``PaymentLink``): how an unlinked event is found.
    public var links: [PaymentLink]

    public init(rowID: Int64, event: OrderEvent, outcome: EventOutcome, reason: String?, links: [PaymentLink] = []) {
        self.rowID = rowID
        self.event = event
        self.outcome = outcome
        self.reason = reason
        self.links = links
    }
}

/// A provider reference (payment, refund or dispute id) known to belong to an order: how events
/// that carry no order reference (refunds, disputes, Adyen modifications) find their order.
/// Stored in `order_links`; references are unique per tenant and provider.
public struct PaymentLink: Hashable, Sendable {
    public var tenant: String
    public var provider: Provider
    public var reference: String

    public init(tenant: String, provider: Provider, reference: String) {
        self.tenant = tenant
        self.provider = provider
        self.reference = reference
    }
}

extension PaymentEvent {
    /// The links this event's references would use or create.
    public var links: [PaymentLink] { linkReferences.map { PaymentLink(tenant: tenant, provider: provider, reference: $0) } }
}

/// Which event a transition or outcome belongs to: one stored before, or one this plan inserts.
public enum PlannedEventReference: Hashable, Sendable, Comparable {
    case stored(rowID: Int64)
    /// An index into ``WritePlan/newEvents``.
    case new(Int)

    /// Arrival order: stored rows by id, then this plan's new events (which get higher ids).
    public static func < (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.stored(let a), .stored(let b)): a < b
        case (.new(let a), .new(let b)): a < b
        case (.stored, .new): true
        case (.new, .stored): false
        }
    }
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
        /// Set when a payment linked the event to its order.
        public var orderID: String?
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

    /// A message for the game backend that an applied transition caused (the outbox row is
    /// written in the same transaction, if the tenant's backend takes this event).
    public struct Delivery: Sendable, Equatable {
        public var order: OrderKey
        public var event: PlannedEventReference
        public var type: FulfilmentEvent
        /// The order as the transition left it: what the message says.
        public var status: OrderStatus
        public var refundedMinor: Int64

        public init(order: OrderKey, event: PlannedEventReference, type: FulfilmentEvent, status: OrderStatus, refundedMinor: Int64) {
            self.order = order
            self.event = event
            self.type = type
            self.status = status
            self.refundedMinor = refundedMinor
        }
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
    /// New references of orders (inserted; an existing link is never moved).
    public var links: [PaymentLink: OrderKey] = [:]
    /// Review reasons the plan gives orders that did not have them (what operators are alerted on).
    public var reviewReasonsAdded: [OrderKey: Set<ReviewReason>] = [:]
    /// In decision order: an order's messages reach its game in the order its transitions happened.
    public var deliveries: [Delivery] = []

    public init() {}
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
    ///   - links: the stored links of the events' references.
    ///   - unlinked: stored events waiting for a link that one of the events' references may create.
    ///   - linking: links made outside any event (checkout opened the payment), applied first.
    public static func plan(
        events: [PaymentEvent], orders: [OrderKey: OrderState], waiting: [OrderKey: [WaitingEvent]] = [:],
        stored: Set<PaymentEventKey> = [], reevaluating: [OrderKey] = [],
        links: [PaymentLink: OrderKey] = [:], unlinked: [WaitingEvent] = [], linking: [PaymentLink: OrderKey] = [:]
    ) -> WritePlan {
        var planning = Planning(orders: orders, waiting: waiting, links: links, unlinked: unlinked)
        for (link, order) in linking where orders[order] != nil { planning.link([link], to: order) }
        for order in Set(reevaluating).union(linking.values).sorted() { planning.applyWaiting(order) }
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
        /// The links the event creates for its order once evaluated against it.
        var links: [PaymentLink]
    }

    private struct Planning {
        var orders: [OrderKey: OrderState]
        var queues: [OrderKey: [Queued]]
        var waitingOutcomes: [Int64: (EventOutcome, String?)]
        var links: [PaymentLink: OrderKey]
        /// Events waiting for a link, by the references that would link them.
        var unlinked: [PaymentLink: [Queued]] = [:]
        /// Orders that waiting events were just linked to (their queue needs a pass).
        var newlyLinked: Set<OrderKey> = []
        /// Order ids of events linked during this plan.
        var linkedOrders: [PlannedEventReference: String] = [:]
        var plan = WritePlan()

        init(orders: [OrderKey: OrderState], waiting: [OrderKey: [WaitingEvent]], links: [PaymentLink: OrderKey], unlinked: [WaitingEvent]) {
            self.orders = orders
            self.links = links
            self.waitingOutcomes = [:]
            self.queues = [:]
            self.queues = waiting.mapValues { $0.map { Queued(reference: .stored(rowID: $0.rowID), event: $0.event, links: $0.links) } }
            for event in waiting.values.joined() { waitingOutcomes[event.rowID] = (event.outcome, event.reason) }
            for event in unlinked {
                waitingOutcomes[event.rowID] = (event.outcome, event.reason)
                let queued = Queued(reference: .stored(rowID: event.rowID), event: event.event, links: event.links)
                for link in event.links { self.unlinked[link, default: []].append(queued) }
            }
        }

        /// The order an event belongs to: through a link of one of its references first (the
        /// payment is the authority on money), else its own order reference.
        func resolve(_ event: PaymentEvent) -> OrderKey? {
            for link in event.links {
                if let order = links[link] { return order }
            }
            return event.orderKey
        }

        /// Decides a new event and returns its outcome on arrival.
        mutating func decide(_ event: PaymentEvent) -> EventOutcome {
            let index = plan.newEvents.count
            let queued = Queued(reference: .new(index), event: event.orderEvent, links: event.links)
            guard event.kind != .other else {
                plan.newEvents.append(.init(event: event, outcome: .stored, reason: nil))
                return .stored
            }
            guard let key = resolve(event) else {
                guard !event.links.isEmpty else {
                    plan.newEvents.append(.init(event: event, outcome: .stored, reason: "no order reference"))
                    return .stored
                }
                plan.newEvents.append(.init(event: event, outcome: .pending, reason: "no order linked to \(event.linkReferences.joined(separator: ", ")) yet"))
                for link in event.links { unlinked[link, default: []].append(queued) }
                return .pending
            }
            var resolved = event
            resolved.orderID = key.orderID
            guard orders[key] != nil else {
                plan.newEvents.append(.init(event: resolved, outcome: .pending, reason: "order not created yet"))
                queues[key, default: []].append(queued)
                return .pending
            }
            plan.newEvents.append(.init(event: resolved, outcome: .stored, reason: nil))
            let outcome = evaluate(queued, order: key)
            if outcome == .deferred {
                queues[key, default: []].append(queued)
            }
            if outcome == .applied || newlyLinked.remove(key) != nil {
                applyWaiting(key)
            }
            return outcome
        }

        /// Links `links` to `key` (first link wins) and moves events waiting for them to the order.
        mutating func link(_ newLinks: [PaymentLink], to key: OrderKey) {
            for link in newLinks where links[link] == nil {
                links[link] = key
                plan.links[link] = key
                for waiting in unlinked.removeValue(forKey: link) ?? [] where linkedOrders[waiting.reference] == nil {
                    queues[key, default: []].append(waiting)
                    linkedOrders[waiting.reference] = key.orderID
                    record(waiting.reference, .pending, "linked to its order")
                    newlyLinked.insert(key)
                }
                // Waiting events are evaluated in arrival (row id) order, however they were linked.
                queues[key]?.sort { $0.reference < $1.reference }
            }
        }

        /// Evaluates one event against its order, records the outcome and any transition.
        mutating func evaluate(_ queued: Queued, order key: OrderKey) -> EventOutcome {
            let (event, reference) = (queued.event, queued.reference)
            let order = orders[key]!
            link(queued.links, to: key)
            switch OrderStateMachine.apply(event, to: order) {
            case .applied(let next):
                plan.transitions.append(.init(order: key, event: reference, from: order.status, to: next.status, outcome: .applied, reason: nil))
                for type in FulfilmentEvent.caused(from: order, to: next) {
                    plan.deliveries.append(.init(order: key, event: reference, type: type, status: next.status, refundedMinor: next.refundedMinor))
                }
                if next != order {
                    orders[key] = next
                    plan.orders[key] = next
                    let added = next.reviewReasons.subtracting(order.reviewReasons)
                    if !added.isEmpty { plan.reviewReasonsAdded[key, default: []].formUnion(added) }
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
        /// one may make an earlier-deferred one legal, and evaluating one may link older events
        /// into the queue, so the scan restarts after either.
        mutating func applyWaiting(_ key: OrderKey) {
            guard orders[key] != nil else { return }
            newlyLinked.remove(key)
            var restart = true
            while restart {
                restart = false
                var index = 0
                while index < (queues[key]?.count ?? 0) {
                    let queued = queues[key]![index]
                    let outcome = evaluate(queued, order: key)
                    if outcome == .applied || outcome == .ignored {
                        // By reference: linking may have re-sorted the queue under the index.
                        queues[key]!.removeAll { $0.reference == queued.reference }
                    }
                    if outcome == .applied || newlyLinked.remove(key) != nil {
                        restart = true
                        break
                    }
                    if outcome != .ignored { index += 1 }
                }
            }
        }

        private mutating func record(_ reference: PlannedEventReference, _ outcome: EventOutcome, _ reason: String?) {
            switch reference {
            case .new(let index):
                plan.newEvents[index].outcome = outcome
                plan.newEvents[index].reason = reason
                if let order = linkedOrders[reference] { plan.newEvents[index].event.orderID = order }
            case .stored(let rowID):
                guard let current = waitingOutcomes[rowID], current != (outcome, reason) else { return }
                waitingOutcomes[rowID] = (outcome, reason)
                plan.outcomeChanges.removeAll { $0.rowID == rowID }
                plan.outcomeChanges.append(.init(rowID: rowID, outcome: outcome, reason: reason, orderID: linkedOrders[reference]))
            }
        }
    }
}

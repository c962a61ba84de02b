import Logging
import NIOCore
import PostgresNIO
import TollgateOrders

/// What committing one event did.
public enum CommitOutcome: Sendable, Equatable {
    /// Newly stored, with what it did to its order.
    case recorded(EventOutcome)
    /// Already stored by an earlier delivery: nothing was applied.
    case duplicate
}

/// The `payment_events.outcome` values (see migration 0002).
public enum EventOutcome: String, Sendable {
    case applied, ignored, deferred, pending, stored
}

/// Writes payment events and their order transitions durably and exactly once.
///
/// Postgres is the truth: the unique key (tenant, source, provider event id) makes a second
/// delivery a no-op, and each event's insert, order update and transition rows commit together.
/// Within one transaction every event runs in its own savepoint, so one failing event never takes
/// its batch-mates down with it. Orders are locked up front in (tenant, order id) order, so two
/// instances committing overlapping batches cannot deadlock.
public struct PaymentEventStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Commits `events` in one transaction. Returns one result per event, in order: an outcome,
    /// or the error that rolled back that event alone. Throws if the transaction itself failed
    /// (then nothing was committed).
    public func commit(_ events: [PaymentEvent]) async throws -> [Result<CommitOutcome, any Error>] {
        // Fast path: a handful of multi-row statements for the whole batch. If anything in it
        // fails (a bad event, or a race with another instance on the same event id), the batch
        // is retried on the isolated path, where each event has its own savepoint.
        do {
            return try await PostgresMetrics.measure("commit_events_batch") {
                try await client.withTransaction(logger: logger) { connection in
                    try await commitBatch(events, on: connection).map { .success($0) }
                }
            }
        } catch {
            logger.debug("batch fast path failed; committing event by event", metadata: ["error": "\(String(reflecting: error))"])
        }
        return try await PostgresMetrics.measure("commit_events") {
            try await client.withTransaction(logger: logger) { connection in
                var orders = try await lockOrders(for: events, on: connection)
                var results: [Result<CommitOutcome, any Error>] = []
                for event in events {
                    results.append(await commitOne(event, orders: &orders, on: connection))
                }
                return results
            }
        }
    }

    typealias OrderKey = String  // "tenant\u{0}order"

    static func key(_ tenant: String, _ order: String) -> OrderKey { tenant + "\u{0}" + order }

    func lockOrders(for events: [PaymentEvent], on connection: PostgresConnection) async throws -> [OrderKey: OrderState] {
        var byTenant: [String: Set<String>] = [:]
        for event in events {
            if let order = event.orderID { byTenant[event.tenant, default: []].insert(order) }
        }
        var orders: [OrderKey: OrderState] = [:]
        for tenant in byTenant.keys.sorted() {
            let ids = byTenant[tenant]!.sorted()
            let rows = try await connection.query("""
                SELECT order_id, status, amount_minor, currency, refunded_minor, status_before_dispute
                FROM orders WHERE tenant = \(tenant) AND order_id = ANY(\(ids))
                ORDER BY order_id FOR UPDATE
                """, logger: logger)
            for try await (id, status, amount, currency, refunded, before) in rows.decode((String, String, Int64, String, Int64, String?).self) {
                guard let status = OrderStatus(rawValue: status) else { continue }
                orders[Self.key(tenant, id)] = OrderState(
                    status: status, amountMinor: amount, currency: currency, refundedMinor: refunded,
                    statusBeforeDispute: before.flatMap(OrderStatus.init(rawValue:))
                )
            }
        }
        return orders
    }

    private func commitOne(_ event: PaymentEvent, orders: inout [OrderKey: OrderState], on connection: PostgresConnection) async -> Result<CommitOutcome, any Error> {
        do {
            try await connection.query("SAVEPOINT event", logger: logger)
            var working = orders
            let outcome = try await insertAndApply(event, orders: &working, on: connection)
            try await connection.query("RELEASE SAVEPOINT event", logger: logger)
            orders = working
            return .success(outcome)
        } catch {
            logger.error("event rolled back", metadata: ["provider_event_id": "\(event.providerEventID)", "error": "\(String(reflecting: error))"])
            do {
                try await connection.query("ROLLBACK TO SAVEPOINT event", logger: logger)
            } catch {
                return .failure(error)
            }
            return .failure(error)
        }
    }

    private func insertAndApply(_ event: PaymentEvent, orders: inout [OrderKey: OrderState], on connection: PostgresConnection) async throws -> CommitOutcome {
        let orderKey = event.orderID.map { Self.key(event.tenant, $0) }
        let order = orderKey.flatMap { orders[$0] }
        let decision: OrderDecision?
        let outcome: EventOutcome
        var reason: String?
        if event.kind == .other || event.orderID == nil {
            (decision, outcome) = (nil, .stored)
        } else if let order {
            let made = OrderStateMachine.apply(event.orderEvent, to: order)
            decision = made
            switch made {
            case .applied: outcome = .applied
            case .ignored(let why): (outcome, reason) = (.ignored, why)
            case .deferred(let why): (outcome, reason) = (.deferred, why)
            }
        } else {
            (decision, outcome, reason) = (nil, .pending, "order not created yet")
        }

        let rows = try await connection.query("""
            INSERT INTO payment_events (tenant, source, provider, provider_event_id, kind, order_id, provider_payment_id,
                amount_minor, currency, occurred_at, understood, raw_body, outcome, outcome_reason)
            VALUES (\(event.tenant), \(event.source), \(event.provider), \(event.providerEventID), \(event.kind.rawValue),
                \(event.orderID), \(event.providerPaymentID), \(event.amountMinor), \(event.currency), \(event.occurredAt),
                \(event.understood), \(ByteBuffer(bytes: event.rawBody)), \(outcome.rawValue), \(reason))
            ON CONFLICT ON CONSTRAINT payment_events_dedup DO NOTHING
            RETURNING id
            """, logger: logger)
        var eventRowID: Int64?
        for try await id in rows.decode(Int64.self) { eventRowID = id }
        guard let eventRowID else { return .duplicate }

        guard let order, let orderKey, let decision else { return .recorded(outcome) }
        switch decision {
        case .applied(let next):
            try await record(transition: order, to: next, event: eventRowID, outcome: .applied, reason: nil, tenant: event.tenant, orderID: event.orderID!, on: connection)
            orders[orderKey] = try await applyWaiting(tenant: event.tenant, orderID: event.orderID!, from: next, on: connection)
        case .ignored(let why):
            try await record(transition: order, to: order, event: eventRowID, outcome: .ignored, reason: why, tenant: event.tenant, orderID: event.orderID!, on: connection)
        case .deferred:
            break
        }
        return .recorded(outcome)
    }

    /// Writes the order's new state (if it changed) and its transition row.
    private func record(transition from: OrderState, to next: OrderState, event: Int64, outcome: EventOutcome, reason: String?,
                        tenant: String, orderID: String, on connection: PostgresConnection) async throws {
        if next != from {
            try await connection.query("""
                UPDATE orders SET status = \(next.status.rawValue), refunded_minor = \(next.refundedMinor),
                    status_before_dispute = \(next.statusBeforeDispute?.rawValue), version = version + 1, updated_at = now()
                WHERE tenant = \(tenant) AND order_id = \(orderID)
                """, logger: logger)
        }
        try await connection.query("""
            INSERT INTO order_transitions (tenant, order_id, event_id, from_status, to_status, outcome, reason)
            VALUES (\(tenant), \(orderID), \(event), \(from.status.rawValue), \(next.status.rawValue), \(outcome.rawValue), \(reason))
            """, logger: logger)
    }

    /// Applies the order's deferred and pending events, oldest first, until none applies.
    /// Called after an order moved (a deferred refund may now apply) or was created.
    func applyWaiting(tenant: String, orderID: String, from start: OrderState, on connection: PostgresConnection) async throws -> OrderState {
        var state = start
        var progressed = true
        while progressed {
            progressed = false
            let rows = try await connection.query("""
                SELECT id, kind, amount_minor, currency FROM payment_events
                WHERE tenant = \(tenant) AND order_id = \(orderID) AND outcome IN ('deferred', 'pending')
                ORDER BY id
                """, logger: logger)
            var waiting: [(Int64, OrderEvent)] = []
            for try await (id, kind, amount, currency) in rows.decode((Int64, String, Int64?, String?).self) {
                waiting.append((id, OrderEvent(kind: PaymentEventKind(rawValue: kind) ?? .other, amountMinor: amount, currency: currency)))
            }
            for (id, event) in waiting {
                let outcome: EventOutcome
                var reason: String?
                switch OrderStateMachine.apply(event, to: state) {
                case .applied(let next):
                    try await record(transition: state, to: next, event: id, outcome: .applied, reason: nil, tenant: tenant, orderID: orderID, on: connection)
                    state = next
                    outcome = .applied
                    progressed = true
                case .ignored(let why):
                    try await record(transition: state, to: state, event: id, outcome: .ignored, reason: why, tenant: tenant, orderID: orderID, on: connection)
                    (outcome, reason) = (.ignored, why)
                case .deferred(let why):
                    (outcome, reason) = (.deferred, why)
                }
                try await connection.query("UPDATE payment_events SET outcome = \(outcome.rawValue), outcome_reason = \(reason) WHERE id = \(id)", logger: logger)
                if progressed { break }
            }
        }
        return state
    }

    /// Inserts orders in `pending_payment` (dev and test seeding, until checkout creates orders),
    /// then applies any events that arrived for them first.
    public func seedOrders(tenant: String, orders: [(id: String, amountMinor: Int64, currency: String)]) async throws {
        try await client.withTransaction(logger: logger) { connection in
            for order in orders {
                try await connection.query("""
                    INSERT INTO orders (tenant, order_id, status, amount_minor, currency)
                    VALUES (\(tenant), \(order.id), 'pending_payment', \(order.amountMinor), \(order.currency))
                    """, logger: logger)
                _ = try await applyWaiting(
                    tenant: tenant, orderID: order.id,
                    from: OrderState(status: .pendingPayment, amountMinor: order.amountMinor, currency: order.currency),
                    on: connection
                )
            }
        }
    }
}

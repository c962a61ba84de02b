import Logging
import NIOCore
import PostgresNIO
import TollgateFulfilment
import TollgateOrders

/// Writes payment events and their order transitions durably and exactly once.
///
/// Postgres is the truth: the unique key (tenant, provider account, provider event id) makes a second
/// delivery a no-op, and each event's insert, order update and transition rows commit together.
/// What to write is decided by ``WritePlanner`` alone; this type only reads its inputs (the
/// locked orders, their waiting events, the keys already stored) and writes its plan.
///
/// References are locked (advisory locks, in key order) and then orders (in (tenant, order id)
/// order), so two instances committing overlapping batches do not deadlock in the first round; a
/// later round (a chain of links) locks more references after rows, and a deadlock there aborts
/// the transaction before anything is acknowledged (503, the provider retries).
public struct PaymentEventStore: Sendable {
    /// Per tenant, the events its game backend takes.
    public typealias FulfilmentSubscriptions = [String: Set<FulfilmentEvent>]

    /// A plan kept linking references it had not read for, round after round.
    struct LinkChainTooLong: Error {
        var references: Int
    }

    let client: PostgresClient
    let logger: Logger
    /// Per tenant, the events its game backend takes: the outbox rows a plan's transitions
    /// cause are written for these alone (a tenant without a backend gets none).
    let fulfilment: FulfilmentSubscriptions

    public init(client: PostgresClient, logger: Logger, fulfilment: FulfilmentSubscriptions = [:]) {
        self.client = client
        self.logger = logger
        self.fulfilment = fulfilment
    }

    /// Commits `events` in one transaction. Returns one result per event, in order: an outcome,
    /// or the error that rolled back that event alone. Throws if the transaction itself failed
    /// (then nothing was committed).
    public func commit(_ events: [PaymentEvent]) async throws -> [Result<CommitOutcome, any Error>] {
        // Fast path: the whole batch planned at once and written with a handful of multi-row
        // statements. If anything in it fails (a bad event, or a race with another instance on
        // the same event id), the batch is redone event by event, each in its own savepoint, so
        // one bad event never fails its batch-mates.
        var lockedElsewhere = false
        do {
            return try await commitWholeBatch(events).map { .success($0) }
        } catch {
            // Shutting down: redoing the batch event by event would only fail each event.
            try Task.checkCancellation()
            lockedElsewhere = Self.isLockTimeout(error)
            logger.debug("batch fast path failed; committing event by event", metadata: ["error": "\(String(reflecting: error))"])
        }
        // A row held elsewhere (an operator's open transaction) made the batch wait out its lock
        // timeout. Locking every row of the batch up front again would wait on it again and fail
        // the whole batch; so each event then locks its own rows inside its savepoint, and only
        // the events of the held row fail (503, retried), within a second lock timeout.
        return try await commitEventByEvent(events, lockingFirst: !lockedElsewhere)
    }

    /// Whether `error` is Postgres cancelling a statement at `lock_timeout` (SQLSTATE 55P03).
    static func isLockTimeout(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "55P03"
    }

    /// The fast path alone: the whole batch in one plan and one transaction, or nothing.
    func commitWholeBatch(_ events: [PaymentEvent]) async throws -> [CommitOutcome] {
        let plan = try await PostgresMetrics.measure("commit_events_batch") {
            try await client.transaction(logger: logger) { connection in
                let plan = try await planCommit(events, on: connection)
                try await write(plan, on: connection)
                return plan
            }
        }
        OrderMetrics.record([plan])
        return plan.results
    }

    /// The isolated path: one savepoint per event. With `lockingFirst`, every row of the batch is
    /// locked before the first event, in key order as the batch path locks (no deadlock between
    /// instances); without it each event locks its own rows in its savepoint (a row held
    /// elsewhere fails only its events; a deadlock, which Postgres breaks, only one event).
    func commitEventByEvent(_ events: [PaymentEvent], lockingFirst: Bool = true) async throws -> [Result<CommitOutcome, any Error>] {
        let (results, plans) = try await PostgresMetrics.measure("commit_events") {
            try await client.transaction(logger: logger) { connection in
                if lockingFirst {
                    // References before orders, always.
                    let links = Set(events.flatMap(\.links))
                    _ = try await lockReferences(links, on: connection)
                    _ = try await lockOrders(Set(events.compactMap(\.orderKey)), linkedBy: links, on: connection)
                }
                var results: [Result<CommitOutcome, any Error>] = []
                var plans: [WritePlan] = []
                for event in events {
                    let (result, plan) = try await commitOne(event, on: connection)
                    results.append(result)
                    if let plan { plans.append(plan) }
                }
                return (results, plans)
            }
        }
        OrderMetrics.record(plans)
        return results
    }

    /// The event's outcome, and the plan written for it if it was kept. Throws when its savepoint
    /// cannot be rolled back to (the whole transaction is then lost).
    private func commitOne(_ event: PaymentEvent, on connection: PostgresConnection) async throws -> (Result<CommitOutcome, any Error>, WritePlan?) {
        do {
            try await connection.command("SAVEPOINT event", logger: logger)
            do {
                let plan = try await planCommit([event], on: connection)
                try await write(plan, on: connection)
                try await connection.command("RELEASE SAVEPOINT event", logger: logger)
                return (.success(plan.results[0]), plan)
            } catch let error as PlanOutdated {
                // Another instance stored this very event after we looked: it is a duplicate.
                logger.debug("event stored concurrently", metadata: ["reason": "\(error.reason)"])
                try await connection.command("ROLLBACK TO SAVEPOINT event", logger: logger)
                return (.success(.duplicate), nil)
            }
        } catch {
            logger.error("event rolled back", metadata: ["provider_event_id": "\(event.providerEventID)", "error": "\(String(reflecting: error))"])
            // Without its savepoint the transaction stays aborted and COMMIT would end it as a
            // rollback: the events before this one must then fail with it, not be acknowledged.
            try await connection.command("ROLLBACK TO SAVEPOINT event", logger: logger)
            return (.failure(error), nil)
        }
    }

    /// Reads what the planner needs for `events` (locking their references and orders) and plans
    /// the commit.
    ///
    /// An event linked during the plan links its own references in turn (a PaymentIntent that a
    /// Checkout Session links carries the charge a legacy dispute names), so the references read
    /// are widened until the plan creates no link it did not read for: every event waiting for
    /// any of them is in the plan. The first round covers nearly every batch.
    func planCommit(
        _ events: [PaymentEvent], reevaluating: [OrderKey] = [], linking: [PaymentLink: OrderKey] = [:], on connection: PostgresConnection
    ) async throws -> WritePlan {
        var references = Set(events.filter { $0.kind != .other }.flatMap(\.links)).union(linking.keys)
        let named = Set(events.compactMap(\.orderKey)).union(reevaluating).union(linking.values)
        // Three round trips a round: references locked (and stored keys read), orders locked
        // (with the links among them), waiting events read.
        let stored = try await lockReferences(references, storedAmong: events.map(\.key), on: connection)
        var locked = references
        for round in 1... {
            if round > 1 { _ = try await lockReferences(references.subtracting(locked), on: connection) }
            locked.formUnion(references)
            let (orders, linked) = try await lockOrders(named, linkedBy: references, on: connection)
            let (waiting, unlinked) = try await waitingEvents(for: Array(orders.keys), unlinkedBy: references.filter { linked[$0] == nil }, on: connection)
            let plan = WritePlanner.plan(events: events, orders: orders, waiting: waiting, stored: stored, reevaluating: reevaluating,
                                         links: linked, unlinked: unlinked, linking: linking)
            let wider = references.union(plan.links.keys).union(unlinked.flatMap(\.links)).union(waiting.values.joined().flatMap(\.links))
            if wider == references { return plan }
            // References only grow within a finite set, so this ends; a chain this long is not a
            // payment's, and a plan that linked what it did not read could strand events: refuse
            // it (503, the provider retries) rather than write it.
            guard round < 32 else { throw LinkChainTooLong(references: wider.count) }
            references = wider
        }
        throw LinkChainTooLong(references: references.count)
    }

    /// Applies the order's deferred and pending events, oldest first, until none applies.
    /// Called when an order was created (callbacks that raced ahead of it are waiting).
    func applyWaiting(tenant: String, orderID: String, on connection: PostgresConnection) async throws {
        try await write(planCommit([], reevaluating: [OrderKey(tenant: tenant, orderID: orderID)], on: connection), on: connection)
    }

    /// Links a payment opened for an order (checkout) to it, and applies the callbacks that
    /// arrived for that payment before anything named the order. A reference already linked
    /// stays where it is.
    func link(_ link: PaymentLink, to order: OrderKey, on connection: PostgresConnection) async throws {
        try await write(planCommit([], linking: [link: order], on: connection), on: connection)
    }

    /// Inserts orders in `pending_payment` (dev and test seeding, until checkout creates orders),
    /// then applies any events that arrived for them first.
    public func seedOrders(tenant: String, orders: [(id: String, amountMinor: Int64, currency: String)]) async throws {
        try await client.transaction(logger: logger) { connection in
            for order in orders {
                try await connection.checkedQuery("""
                    INSERT INTO orders (tenant, order_id, status, amount_minor, currency)
                    VALUES (\(tenant), \(order.id), 'pending_payment', \(order.amountMinor), \(order.currency))
                    """, logger: logger)
                try await applyWaiting(tenant: tenant, orderID: order.id, on: connection)
            }
        }
    }
}

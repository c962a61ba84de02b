import Foundation
import Logging
import PostgresNIO
import TollgateCore
import TollgateOrders

/// The rows behind ``WritePlanner``: what it reads (locked orders, waiting events, stored keys)
/// and how its plan is written, one multi-row statement per table.
extension PaymentEventStore {
    /// The plan was made on a view another instance has since changed (it stored one of the
    /// plan's new events first): nothing of it may be kept.
    struct PlanOutdated: Error {
        var reason: String
    }

    /// Locks `keys`' orders in (tenant, order id) order and returns the ones that exist.
    func lockOrders(_ keys: Set<OrderKey>, on connection: PostgresConnection) async throws -> [OrderKey: OrderState] {
        guard !keys.isEmpty else { return [:] }
        let sorted = keys.sorted()
        let rows = try await connection.query("""
            SELECT o.tenant, o.order_id, o.status, o.amount_minor, o.currency, o.refunded_minor, o.status_before_dispute
            FROM orders o JOIN unnest(\(sorted.map(\.tenant)), \(sorted.map(\.orderID))) AS k(tenant, order_id)
              ON o.tenant = k.tenant AND o.order_id = k.order_id
            ORDER BY o.tenant, o.order_id FOR UPDATE OF o
            """, logger: logger)
        var orders: [OrderKey: OrderState] = [:]
        for try await (tenant, id, status, amount, currency, refunded, before) in rows.decode((String, String, String, Int64, String, Int64, String?).self) {
            guard let status = OrderStatus(rawValue: status) else { continue }
            orders[OrderKey(tenant: tenant, orderID: id)] = OrderState(
                status: status, amountMinor: amount, currency: currency, refundedMinor: refunded,
                statusBeforeDispute: before.flatMap(OrderStatus.init(rawValue:))
            )
        }
        return orders
    }

    /// The `deferred` and `pending` events of `orders`, oldest first.
    func waitingEvents(for orders: [OrderKey], on connection: PostgresConnection) async throws -> [OrderKey: [WaitingEvent]] {
        guard !orders.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT e.id, e.tenant, e.order_id, e.kind, e.amount_minor, e.currency, e.outcome, e.outcome_reason
            FROM payment_events e JOIN unnest(\(orders.map(\.tenant)), \(orders.map(\.orderID))) AS k(tenant, order_id)
              ON e.tenant = k.tenant AND e.order_id = k.order_id
            WHERE e.outcome IN ('deferred', 'pending')
            ORDER BY e.id
            """, logger: logger)
        var waiting: [OrderKey: [WaitingEvent]] = [:]
        for try await (id, tenant, order, kind, amount, currency, outcome, reason) in rows.decode((Int64, String, String, String, Int64?, String?, String, String?).self) {
            waiting[OrderKey(tenant: tenant, orderID: order), default: []].append(WaitingEvent(
                rowID: id, event: OrderEvent(kind: PaymentEventKind(rawValue: kind) ?? .other, amountMinor: amount, currency: currency),
                outcome: EventOutcome(rawValue: outcome) ?? .deferred, reason: reason
            ))
        }
        return waiting
    }

    /// Which of `keys` are already stored.
    func storedKeys(_ keys: [PaymentEventKey], on connection: PostgresConnection) async throws -> Set<PaymentEventKey> {
        guard !keys.isEmpty else { return [] }
        let rows = try await connection.query("""
            SELECT e.tenant, e.source, e.provider_event_id FROM payment_events e
            JOIN unnest(\(keys.map(\.tenant)), \(keys.map(\.source)), \(keys.map(\.providerEventID))) AS k(tenant, source, id)
              ON e.tenant = k.tenant AND e.source = k.source AND e.provider_event_id = k.id
            """, logger: logger)
        var stored = Set<PaymentEventKey>()
        for try await (tenant, source, id) in rows.decode((String, String, String).self) {
            stored.insert(PaymentEventKey(tenant: tenant, source: source, providerEventID: id))
        }
        return stored
    }

    /// Writes `plan`. Throws ``PlanOutdated`` (before anything else is written) when another
    /// instance stored one of its new events since it was planned.
    func write(_ plan: WritePlan, on connection: PostgresConnection) async throws {
        let ids = try await insertEvents(plan.newEvents, on: connection)
        guard ids.count == plan.newEvents.count else { throw PlanOutdated(reason: "concurrent insert of the same event") }
        try await updateOutcomes(plan.outcomeChanges, on: connection)
        try await updateOrders(plan.orders, on: connection)
        try await insertTransitions(plan.transitions.map { transition in
            switch transition.event {
            case .stored(let rowID): (transition, rowID)
            case .new(let index): (transition, ids[plan.newEvents[index].event.key]!)
            }
        }, on: connection)
    }

    /// One INSERT for all new events, row ids assigned in arrival order; returns them by key.
    private func insertEvents(_ plans: [WritePlan.NewEvent], on connection: PostgresConnection) async throws -> [PaymentEventKey: Int64] {
        guard !plans.isEmpty else { return [:] }
        // Optional values travel as text ('' for none) so every column is a plain array bind.
        let e = plans.map(\.event)
        let rows = try await connection.query("""
            INSERT INTO payment_events (tenant, source, provider, provider_event_id, kind, order_id, provider_payment_id,
                amount_minor, currency, occurred_at, understood, raw_body, outcome, outcome_reason)
            SELECT tenant, source, provider, id, kind, NULLIF(order_id, ''), NULLIF(payment_id, ''),
                NULLIF(amount, '')::bigint, NULLIF(currency, ''), NULLIF(occurred, '')::timestamptz, understood,
                decode(body, 'base64'), outcome, NULLIF(reason, '')
            FROM unnest(\(e.map(\.tenant)), \(e.map(\.source)), \(e.map(\.provider.rawValue)), \(e.map(\.providerEventID)),
                \(e.map(\.kind.rawValue)), \(e.map { $0.orderID ?? "" }), \(e.map { $0.providerPaymentID ?? "" }),
                \(e.map { $0.amountMinor.map(String.init) ?? "" }), \(e.map { $0.currency ?? "" }),
                \(e.map { $0.occurredAt.map(ISO8601Timestamp.format) ?? "" }), \(e.map(\.understood)),
                \(e.map { Data($0.rawBody).base64EncodedString() }), \(plans.map(\.outcome.rawValue)), \(plans.map { $0.reason ?? "" }))
              WITH ORDINALITY AS v(tenant, source, provider, id, kind, order_id, payment_id, amount, currency, occurred, understood, body, outcome, reason, n)
            ORDER BY n
            ON CONFLICT ON CONSTRAINT payment_events_dedup DO NOTHING
            RETURNING tenant, source, provider_event_id, id
            """, logger: logger)
        var ids: [PaymentEventKey: Int64] = [:]
        for try await (tenant, source, eventID, id) in rows.decode((String, String, String, Int64).self) {
            ids[PaymentEventKey(tenant: tenant, source: source, providerEventID: eventID)] = id
        }
        return ids
    }

    private func updateOutcomes(_ changes: [WritePlan.OutcomeChange], on connection: PostgresConnection) async throws {
        guard !changes.isEmpty else { return }
        try await connection.query("""
            UPDATE payment_events e SET outcome = v.outcome, outcome_reason = NULLIF(v.reason, '')
            FROM unnest(\(changes.map(\.rowID)), \(changes.map(\.outcome.rawValue)), \(changes.map { $0.reason ?? "" })) AS v(id, outcome, reason)
            WHERE e.id = v.id
            """, logger: logger)
    }

    private func updateOrders(_ orders: [OrderKey: OrderState], on connection: PostgresConnection) async throws {
        guard !orders.isEmpty else { return }
        let changed = orders.sorted { $0.key < $1.key }
        try await connection.query("""
            UPDATE orders o SET status = v.status, refunded_minor = v.refunded::bigint,
                status_before_dispute = NULLIF(v.before, ''), version = o.version + 1, updated_at = now()
            FROM unnest(\(changed.map(\.key.tenant)), \(changed.map(\.key.orderID)), \(changed.map(\.value.status.rawValue)),
                \(changed.map { String($0.value.refundedMinor) }), \(changed.map { $0.value.statusBeforeDispute?.rawValue ?? "" }))
              AS v(tenant, order_id, status, refunded, before)
            WHERE o.tenant = v.tenant AND o.order_id = v.order_id
            """, logger: logger)
    }

    /// Transition rows in decision order, so each order's chain reads in row id order.
    private func insertTransitions(_ rows: [(WritePlan.Transition, Int64)], on connection: PostgresConnection) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query("""
            INSERT INTO order_transitions (tenant, order_id, event_id, from_status, to_status, outcome, reason)
            SELECT tenant, order_id, event_id, from_status, to_status, outcome, NULLIF(reason, '')
            FROM unnest(\(rows.map(\.0.order.tenant)), \(rows.map(\.0.order.orderID)), \(rows.map(\.1)),
                \(rows.map(\.0.from.rawValue)), \(rows.map(\.0.to.rawValue)), \(rows.map(\.0.outcome.rawValue)),
                \(rows.map { $0.0.reason ?? "" }))
              WITH ORDINALITY AS v(tenant, order_id, event_id, from_status, to_status, outcome, reason, n)
            ORDER BY n
            """, logger: logger)
    }
}

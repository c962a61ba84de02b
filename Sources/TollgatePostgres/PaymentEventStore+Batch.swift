import Foundation
import TollgateCore
import Logging
import PostgresNIO
import TollgateOrders

/// The batch fast path: decisions are made in memory against the locked orders, then written
/// with one multi-row statement per table.
extension PaymentEventStore {
    /// The fast path cannot decide this batch alone; the isolated path will.
    struct BatchNeedsIsolatedPath: Error {
        var reason: String
    }

    private struct Planned {
        var event: PaymentEvent
        var outcome: EventOutcome
        var reason: String?
        /// (from, to, outcome, reason) when the event was evaluated against an order.
        var transition: (from: OrderState, to: OrderState, outcome: EventOutcome, reason: String?)?
    }

    func commitBatch(_ events: [PaymentEvent], on connection: PostgresConnection) async throws -> [CommitOutcome] {
        var orders = try await lockOrders(for: events, on: connection)
        // Orders with deferred or pending events need those replayed in order: rare, so the
        // isolated path handles them.
        if try await anyWaitingEvents(for: events, on: connection) {
            throw BatchNeedsIsolatedPath(reason: "waiting events")
        }
        let stored = try await existingKeys(for: events, on: connection)

        // Decide, in arrival order, exactly as the isolated path would.
        var seen = stored
        var plans: [Planned?] = []
        var changedOrders: [OrderKey: (tenant: String, id: String)] = [:]
        for event in events {
            let dedupKey = Self.dedupKey(event)
            guard seen.insert(dedupKey).inserted else { plans.append(nil); continue }
            var plan = Planned(event: event, outcome: .stored)
            if event.kind != .other, let orderID = event.orderID {
                let key = Self.key(event.tenant, orderID)
                if let order = orders[key] {
                    switch OrderStateMachine.apply(event.orderEvent, to: order) {
                    case .applied(let next):
                        plan.outcome = .applied
                        plan.transition = (order, next, .applied, nil)
                        orders[key] = next
                        changedOrders[key] = (event.tenant, orderID)
                    case .ignored(let why):
                        (plan.outcome, plan.reason) = (.ignored, why)
                        plan.transition = (order, order, .ignored, why)
                    case .deferred:
                        // A later event in this batch may make it apply; the isolated path replays that.
                        throw BatchNeedsIsolatedPath(reason: "deferred event")
                    }
                } else {
                    (plan.outcome, plan.reason) = (.pending, "order not created yet")
                }
            }
            plans.append(plan)
        }

        let fresh = plans.compactMap { $0 }
        let ids = try await insertEvents(fresh, on: connection)
        // Another instance stored one of "our" new events after we looked: our decisions may be
        // wrong, so give up this transaction and let the isolated path decide.
        guard ids.count == fresh.count else { throw BatchNeedsIsolatedPath(reason: "concurrent insert of the same event") }

        try await updateOrders(changedOrders.map { ($0.value.tenant, $0.value.id, orders[$0.key]!) }, on: connection)
        try await insertTransitions(fresh.compactMap { plan in
            plan.transition.map { (plan.event, ids[Self.dedupKey(plan.event)]!, $0) }
        }, on: connection)
        return plans.map { $0.map { .recorded($0.outcome) } ?? .duplicate }
    }

    static func dedupKey(_ event: PaymentEvent) -> String {
        event.tenant + "\u{0}" + event.source + "\u{0}" + event.providerEventID
    }

    private func existingKeys(for events: [PaymentEvent], on connection: PostgresConnection) async throws -> Set<String> {
        let rows = try await connection.query("""
            SELECT e.tenant, e.source, e.provider_event_id FROM payment_events e
            JOIN unnest(\(events.map(\.tenant)), \(events.map(\.source)), \(events.map(\.providerEventID))) AS k(tenant, source, id)
              ON e.tenant = k.tenant AND e.source = k.source AND e.provider_event_id = k.id
            """, logger: logger)
        var keys = Set<String>()
        for try await (tenant, source, id) in rows.decode((String, String, String).self) {
            keys.insert(tenant + "\u{0}" + source + "\u{0}" + id)
        }
        return keys
    }

    /// One INSERT for all new events; returns their row ids by dedup key.
    private func insertEvents(_ plans: [Planned], on connection: PostgresConnection) async throws -> [String: Int64] {
        guard !plans.isEmpty else { return [:] }
        // Optional values travel as text ('' for none) so every column is a plain text[] bind.
        let e = plans.map(\.event)
        let rows = try await connection.query("""
            INSERT INTO payment_events (tenant, source, provider, provider_event_id, kind, order_id, provider_payment_id,
                amount_minor, currency, occurred_at, understood, raw_body, outcome, outcome_reason)
            SELECT tenant, source, provider, id, kind, NULLIF(order_id, ''), NULLIF(payment_id, ''),
                NULLIF(amount, '')::bigint, NULLIF(currency, ''), NULLIF(occurred, '')::timestamptz, understood,
                decode(body, 'base64'), outcome, NULLIF(reason, '')
            FROM unnest(\(e.map(\.tenant)), \(e.map(\.source)), \(e.map(\.provider)), \(e.map(\.providerEventID)),
                \(e.map(\.kind.rawValue)), \(e.map { $0.orderID ?? "" }), \(e.map { $0.providerPaymentID ?? "" }),
                \(e.map { $0.amountMinor.map(String.init) ?? "" }), \(e.map { $0.currency ?? "" }),
                \(e.map { $0.occurredAt.map(ISO8601Timestamp.format) ?? "" }), \(e.map(\.understood)),
                \(e.map { Data($0.rawBody).base64EncodedString() }), \(plans.map(\.outcome.rawValue)), \(plans.map { $0.reason ?? "" }))
              AS v(tenant, source, provider, id, kind, order_id, payment_id, amount, currency, occurred, understood, body, outcome, reason)
            ON CONFLICT ON CONSTRAINT payment_events_dedup DO NOTHING
            RETURNING tenant, source, provider_event_id, id
            """, logger: logger)
        var ids: [String: Int64] = [:]
        for try await (tenant, source, eventID, id) in rows.decode((String, String, String, Int64).self) {
            ids[tenant + "\u{0}" + source + "\u{0}" + eventID] = id
        }
        return ids
    }

    private func updateOrders(_ orders: [(tenant: String, id: String, state: OrderState)], on connection: PostgresConnection) async throws {
        guard !orders.isEmpty else { return }
        try await connection.query("""
            UPDATE orders o SET status = v.status, refunded_minor = v.refunded::bigint,
                status_before_dispute = NULLIF(v.before, ''), version = o.version + 1, updated_at = now()
            FROM unnest(\(orders.map(\.tenant)), \(orders.map(\.id)), \(orders.map(\.state.status.rawValue)),
                \(orders.map { String($0.state.refundedMinor) }), \(orders.map { $0.state.statusBeforeDispute?.rawValue ?? "" }))
              AS v(tenant, order_id, status, refunded, before)
            WHERE o.tenant = v.tenant AND o.order_id = v.order_id
            """, logger: logger)
    }

    private func insertTransitions(_ rows: [(PaymentEvent, Int64, (from: OrderState, to: OrderState, outcome: EventOutcome, reason: String?))], on connection: PostgresConnection) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query("""
            INSERT INTO order_transitions (tenant, order_id, event_id, from_status, to_status, outcome, reason)
            SELECT tenant, order_id, event_id, from_status, to_status, outcome, NULLIF(reason, '')
            FROM unnest(\(rows.map(\.0.tenant)), \(rows.map { $0.0.orderID ?? "" }), \(rows.map(\.1)),
                \(rows.map(\.2.from.status.rawValue)), \(rows.map(\.2.to.status.rawValue)), \(rows.map(\.2.outcome.rawValue)),
                \(rows.map { $0.2.reason ?? "" }))
              AS v(tenant, order_id, event_id, from_status, to_status, outcome, reason)
            ORDER BY event_id
            """, logger: logger)
    }

    private func anyWaitingEvents(for events: [PaymentEvent], on connection: PostgresConnection) async throws -> Bool {
        let withOrders = events.filter { $0.orderID != nil }
        guard !withOrders.isEmpty else { return false }
        let rows = try await connection.query("""
            SELECT 1 FROM payment_events e
            JOIN unnest(\(withOrders.map(\.tenant)), \(withOrders.map { $0.orderID! })) AS k(tenant, order_id)
              ON e.tenant = k.tenant AND e.order_id = k.order_id
            WHERE e.outcome IN ('deferred', 'pending') LIMIT 1
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }
}

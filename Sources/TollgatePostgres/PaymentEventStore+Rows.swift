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

    /// Serializes commits that use or create the same links: a refund that finds no link and a
    /// payment that creates it, committed at once by two instances, would otherwise each miss the
    /// other (the refund stored unlinked after the payment looked for waiting events). Taken in
    /// key order, before any row lock in a plan's first round. In the same round trip: which of
    /// `keys` are already stored (read on a snapshot older than the locks, which is fine: the
    /// insert's ON CONFLICT is the guard).
    func lockReferences(_ links: Set<PaymentLink>, storedAmong keys: [PaymentEventKey] = [], on connection: PostgresConnection) async throws -> Set<PaymentEventKey> {
        guard !links.isEmpty || !keys.isEmpty else { return [] }
        let references = links.map { "\($0.tenant)\u{1F}\($0.provider.rawValue)\u{1F}\($0.reference)" }
        // UNION ALL runs its branches in order: the locks are held before the statement returns.
        let rows = try await connection.query("""
            SELECT '', '', '', count(pg_advisory_xact_lock(k))
            FROM (SELECT DISTINCT hashtextextended(r, 11) AS k FROM unnest(\(references)::text[]) AS r ORDER BY 1) s
            UNION ALL
            SELECT e.tenant, e.account, e.provider_event_id, 0 FROM payment_events e
            JOIN unnest(\(keys.map(\.tenant)), \(keys.map(\.account)), \(keys.map(\.providerEventID))) AS k(tenant, account, id)
              ON e.tenant = k.tenant AND e.account = k.account AND e.provider_event_id = k.id
            """, logger: logger)
        var stored = Set<PaymentEventKey>()
        for try await (tenant, account, id, _) in rows.decode((String, String, String, Int64).self) where !id.isEmpty {
            stored.insert(PaymentEventKey(tenant: tenant, account: account, providerEventID: id))
        }
        return stored
    }

    /// A stored event as the state machine reads it (see ``encodedFacts(_:)``).
    static func orderEvent(kind: String, amount: Int64?, currency: String?, payment: String?, facts: String) -> OrderEvent {
        var decoded = (facts.isEmpty ? nil : try? JSONDecoder().decode(EventFacts.self, from: Data(facts.utf8))) ?? EventFacts()
        decoded.paymentReference = decoded.paymentReference ?? payment
        return OrderEvent(kind: PaymentEventKind(rawValue: kind) ?? .other, amountMinor: amount, currency: currency, facts: decoded)
    }

    static func links(_ joined: String, tenant: String, provider: Provider?) -> [PaymentLink] {
        guard let provider, !joined.isEmpty else { return [] }
        return joined.split(separator: "\u{1F}").map { PaymentLink(tenant: tenant, provider: provider, reference: String($0)) }
    }

    /// Locks, in (tenant, order id) order, the orders `keys` name and the orders `links` point
    /// at; returns the ones that exist and which of `links` point where.
    func lockOrders(_ keys: Set<OrderKey>, linkedBy links: Set<PaymentLink> = [], on connection: PostgresConnection) async throws
        -> (orders: [OrderKey: OrderState], links: [PaymentLink: OrderKey]) {
        guard !keys.isEmpty || !links.isEmpty else { return ([:], [:]) }
        let sorted = keys.sorted()
        let wanted = Array(links)
        let rows = try await connection.query("""
            WITH linked AS (
                SELECT l.tenant, l.order_id, l.provider, l.reference FROM order_links l
                JOIN unnest(\(wanted.map(\.tenant))::text[], \(wanted.map(\.provider.rawValue))::text[], \(wanted.map(\.reference))::text[])
                  AS k(tenant, provider, reference)
                  ON l.tenant = k.tenant AND l.provider = k.provider AND l.reference = k.reference
            )
            SELECT o.tenant, o.order_id, o.status, o.amount_minor, o.currency, o.refunded_minor, o.ledger::text,
                COALESCE((SELECT string_agg(linked.provider || E'\\x1f' || linked.reference, E'\\x1e') FROM linked
                          WHERE linked.tenant = o.tenant AND linked.order_id = o.order_id), '')
            FROM orders o JOIN (
                SELECT * FROM unnest(\(sorted.map(\.tenant))::text[], \(sorted.map(\.orderID))::text[]) AS n(tenant, order_id)
                UNION SELECT tenant, order_id FROM linked
            ) k ON o.tenant = k.tenant AND o.order_id = k.order_id
            ORDER BY o.tenant, o.order_id FOR UPDATE OF o
            """, logger: logger)
        var orders: [OrderKey: OrderState] = [:]
        var found: [PaymentLink: OrderKey] = [:]
        for try await (tenant, id, status, amount, currency, refunded, ledger, linkedHere)
            in rows.decode((String, String, String, Int64, String, Int64, String, String).self) {
            guard let status = OrderStatus(rawValue: status) else { continue }
            let key = OrderKey(tenant: tenant, orderID: id)
            orders[key] = OrderState(
                status: status, amountMinor: amount, currency: currency, refundedMinor: refunded,
                ledger: try JSONDecoder().decode(OrderLedger.self, from: Data(ledger.utf8))
            )
            for pair in linkedHere.split(separator: "\u{1E}") {
                let parts = pair.split(separator: "\u{1F}", maxSplits: 1)
                guard parts.count == 2, let provider = Provider(rawValue: String(parts[0])) else { continue }
                found[PaymentLink(tenant: tenant, provider: provider, reference: String(parts[1]))] = key
            }
        }
        return (orders, found)
    }

    /// The `deferred` and `pending` events of `orders` (by order), and the stored events still
    /// waiting for one of `links` to name their order; each oldest first. One round trip.
    func waitingEvents(for orders: [OrderKey], unlinkedBy links: Set<PaymentLink> = [], on connection: PostgresConnection) async throws
        -> (waiting: [OrderKey: [WaitingEvent]], unlinked: [WaitingEvent]) {
        guard !orders.isEmpty || !links.isEmpty else { return ([:], []) }
        let scopes = Set(links.map { "\($0.tenant)\u{1F}\($0.provider.rawValue)" }).sorted()
        let rows = try await connection.query("""
            SELECT e.id, e.tenant, COALESCE(e.order_id, ''), e.kind, e.amount_minor, e.currency, e.outcome, e.outcome_reason,
                e.provider, array_to_string(e.link_refs, E'\\x1f'), COALESCE(e.facts::text, ''), e.provider_payment_id
            FROM payment_events e JOIN unnest(\(orders.map(\.tenant))::text[], \(orders.map(\.orderID))::text[]) AS k(tenant, order_id)
              ON e.tenant = k.tenant AND e.order_id = k.order_id
            WHERE e.outcome IN ('deferred', 'pending')
            UNION ALL
            SELECT e.id, e.tenant, '', e.kind, e.amount_minor, e.currency, e.outcome, e.outcome_reason,
                e.provider, array_to_string(e.link_refs, E'\\x1f'), COALESCE(e.facts::text, ''), e.provider_payment_id
            FROM payment_events e
            WHERE e.outcome = 'pending' AND e.order_id IS NULL AND e.link_refs && \(links.map(\.reference))::text[]
              AND e.tenant || E'\\x1f' || e.provider = ANY(\(scopes)::text[])
            ORDER BY 1
            """, logger: logger)
        var waiting: [OrderKey: [WaitingEvent]] = [:]
        var unlinked: [WaitingEvent] = []
        for try await (id, tenant, order, kind, amount, currency, outcome, reason, provider, refs, facts, payment)
            in rows.decode((Int64, String, String, String, Int64?, String?, String, String?, String, String, String, String?).self) {
            let event = WaitingEvent(
                rowID: id, event: Self.orderEvent(kind: kind, amount: amount, currency: currency, payment: payment, facts: facts),
                outcome: EventOutcome(rawValue: outcome) ?? .pending, reason: reason,
                links: Self.links(refs, tenant: tenant, provider: Provider(rawValue: provider))
            )
            if !order.isEmpty {
                waiting[OrderKey(tenant: tenant, orderID: order), default: []].append(event)
            } else if event.links.contains(where: links.contains) {
                // The array overlap matched a reference; only one of these links really is one.
                unlinked.append(event)
            }
        }
        return (waiting, unlinked)
    }

    /// Writes `plan`. Throws ``PlanOutdated`` (before anything else is written) when another
    /// instance stored one of its new events since it was planned.
    func write(_ plan: WritePlan, on connection: PostgresConnection) async throws {
        let ids = try await insertEvents(plan.newEvents, on: connection)
        guard ids.count == plan.newEvents.count else { throw PlanOutdated(reason: "concurrent insert of the same event") }
        try await updateOutcomes(plan.outcomeChanges, on: connection)
        try await updateOrdersAndLinks(plan.orders, links: plan.links, on: connection)
        func rowID(_ reference: PlannedEventReference) -> Int64 {
            switch reference {
            case .stored(let rowID): rowID
            case .new(let index): ids[plan.newEvents[index].event.key]!
            }
        }
        try await insertTransitions(plan.transitions.map { ($0, rowID($0.event)) }, on: connection)
        let subscribed = plan.deliveries.filter { fulfilment[$0.order.tenant]?.contains($0.type) == true }
        try await Self.insertDeliveries(subscribed.map { ($0, rowID($0.event)) }, logger: logger, on: connection)
    }

    /// The outbox rows of `deliveries` (each of a type its tenant's game backend takes), in
    /// decision order. Each body is built here,
    /// in the transaction that moves the order, so every attempt sends the same bytes: the order
    /// as the transition left it, its lines and the payment that paid it.
    static func insertDeliveries(_ rows: [(WritePlan.Delivery, Int64?)], logger: Logger, on connection: PostgresConnection) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query("""
            INSERT INTO deliveries (tenant, order_id, type, event_id, body)
            SELECT v.tenant, v.order_id, v.type, NULLIF(v.event_id, 0), jsonb_build_object(
                'type', v.type,
                'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'data', jsonb_build_object(
                    'tenant', o.tenant, 'order_id', o.order_id, 'player_id', o.player_id, 'status', v.status,
                    'amount_minor', o.amount_minor, 'currency', o.currency, 'refunded_minor', v.refunded,
                    'lines', COALESCE((SELECT jsonb_agg(jsonb_build_object('sku', l.sku, 'quantity', l.quantity) ORDER BY l.line)
                                       FROM order_lines l WHERE l.tenant = o.tenant AND l.order_id = o.order_id),
                                      -- Orders from before order_lines (migration 0005) kept what they bought in items.
                                      (SELECT jsonb_agg(jsonb_build_object('sku', i->'sku', 'quantity', i->'quantity'))
                                       FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.items) = 'array' THEN o.items ELSE '[]'::jsonb END) i
                                       WHERE jsonb_typeof(i) = 'object'),
                                      '[]'::jsonb),
                    'payment', jsonb_build_object('provider', COALESCE(e.provider, o.provider, ''), 'id', COALESCE(o.ledger->>'paidBy', ''))))::text
            FROM unnest(\(rows.map(\.0.order.tenant)), \(rows.map(\.0.order.orderID)), \(rows.map(\.0.type.rawValue)), \(rows.map { $0.1 ?? 0 }),
                \(rows.map(\.0.status.rawValue)), \(rows.map(\.0.refundedMinor)))
              WITH ORDINALITY AS v(tenant, order_id, type, event_id, status, refunded, n)
            JOIN orders o ON o.tenant = v.tenant AND o.order_id = v.order_id
            LEFT JOIN payment_events e ON e.id = NULLIF(v.event_id, 0)
            ORDER BY v.n
            """, logger: logger)
    }

    /// One INSERT for all new events, row ids assigned in arrival order; returns them by key.
    private func insertEvents(_ plans: [WritePlan.NewEvent], on connection: PostgresConnection) async throws -> [PaymentEventKey: Int64] {
        guard !plans.isEmpty else { return [:] }
        // Optional values travel as text ('' for none) so every column is a plain array bind.
        let e = plans.map(\.event)
        let rows = try await connection.query("""
            INSERT INTO payment_events (tenant, source, account, provider, provider_event_id, kind, order_id, provider_payment_id,
                amount_minor, currency, occurred_at, understood, raw_body, outcome, outcome_reason, link_refs, facts)
            SELECT tenant, source, account, provider, id, kind, NULLIF(order_id, ''), NULLIF(payment_id, ''),
                NULLIF(amount, '')::bigint, NULLIF(currency, ''), NULLIF(occurred, '')::timestamptz, understood,
                decode(body, 'base64'), outcome, NULLIF(reason, ''), string_to_array(refs, E'\\x1f'), NULLIF(facts, '')::jsonb
            FROM unnest(\(e.map(\.tenant)), \(e.map(\.source)), \(e.map(\.account)), \(e.map(\.provider.rawValue)), \(e.map(\.providerEventID)),
                \(e.map(\.kind.rawValue)), \(e.map { $0.orderID ?? "" }), \(e.map { $0.providerPaymentID ?? "" }),
                \(e.map { $0.amountMinor.map(String.init) ?? "" }), \(e.map { $0.currency ?? "" }),
                \(e.map { $0.occurredAt.map(ISO8601Timestamp.format) ?? "" }), \(e.map(\.understood)),
                \(e.map { Data($0.rawBody).base64EncodedString() }), \(plans.map(\.outcome.rawValue)), \(plans.map { $0.reason ?? "" }),
                \(e.map { $0.linkReferences.joined(separator: "\u{1F}") }), \(e.map(Self.encodedFacts)))
              WITH ORDINALITY AS v(tenant, source, account, provider, id, kind, order_id, payment_id, amount, currency, occurred, understood, body,
                outcome, reason, refs, facts, n)
            ORDER BY n
            ON CONFLICT ON CONSTRAINT payment_events_dedup DO NOTHING
            RETURNING tenant, account, provider_event_id, id
            """, logger: logger)
        var ids: [PaymentEventKey: Int64] = [:]
        for try await (tenant, account, eventID, id) in rows.decode((String, String, String, Int64).self) {
            ids[PaymentEventKey(tenant: tenant, account: account, providerEventID: eventID)] = id
        }
        return ids
    }

    /// The facts column: what the event says beyond its kind, amount and payment (a payment
    /// reference equal to `provider_payment_id` is not repeated). Empty (NULL) for a plain payment.
    static func encodedFacts(_ event: PaymentEvent) -> String {
        var facts = event.orderEvent.facts
        if facts.paymentReference == event.providerPaymentID { facts.paymentReference = nil }
        guard facts != EventFacts(), let data = try? JSONEncoder().encode(facts) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    private func updateOutcomes(_ changes: [WritePlan.OutcomeChange], on connection: PostgresConnection) async throws {
        guard !changes.isEmpty else { return }
        try await connection.query("""
            UPDATE payment_events e SET outcome = v.outcome, outcome_reason = NULLIF(v.reason, ''),
                order_id = COALESCE(NULLIF(v.order_id, ''), e.order_id)
            FROM unnest(\(changes.map(\.rowID)), \(changes.map(\.outcome.rawValue)), \(changes.map { $0.reason ?? "" }),
                \(changes.map { $0.orderID ?? "" })) AS v(id, outcome, reason, order_id)
            WHERE e.id = v.id
            """, logger: logger)
    }

    /// The orders' new state and the new links, in one statement (a data-modifying CTE runs
    /// whether or not the UPDATE refers to it). A link already there stays where it is.
    func updateOrdersAndLinks(_ orders: [OrderKey: OrderState], links: [PaymentLink: OrderKey], on connection: PostgresConnection) async throws {
        guard !orders.isEmpty || !links.isEmpty else { return }
        let changed = orders.sorted { $0.key < $1.key }
        let linked = links.sorted { ($0.key.tenant, $0.key.provider.rawValue, $0.key.reference) < ($1.key.tenant, $1.key.provider.rawValue, $1.key.reference) }
        try await connection.query("""
            WITH new_links AS (
                INSERT INTO order_links (tenant, provider, reference, order_id)
                SELECT * FROM unnest(\(linked.map(\.key.tenant))::text[], \(linked.map(\.key.provider.rawValue))::text[],
                    \(linked.map(\.key.reference))::text[], \(linked.map(\.value.orderID))::text[])
                ON CONFLICT DO NOTHING
            )
            UPDATE orders o SET status = v.status, refunded_minor = v.refunded::bigint, ledger = v.ledger::jsonb,
                review_reasons = string_to_array(v.reasons, ','), version = o.version + 1, updated_at = now()
            FROM unnest(\(changed.map(\.key.tenant))::text[], \(changed.map(\.key.orderID))::text[], \(changed.map(\.value.status.rawValue))::text[],
                \(changed.map { String($0.value.refundedMinor) })::text[],
                \(try changed.map { String(decoding: try JSONEncoder().encode($0.value.ledger), as: UTF8.self) })::text[],
                \(changed.map { $0.value.reviewReasons.map(\.rawValue).sorted().joined(separator: ",") })::text[])
              AS v(tenant, order_id, status, refunded, ledger, reasons)
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

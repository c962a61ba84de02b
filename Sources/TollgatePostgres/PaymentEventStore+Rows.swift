import Foundation
import Logging
import PostgresNIO
import TollgateCore
import TollgateOrders

/// The rows behind ``WritePlanner``: what it reads (locked orders, waiting events, stored keys)
/// and how its plan is written: one statement, a multi-row data-modifying CTE per table.
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
        let rows = try await connection.checkedQuery("""
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
        let rows = try await connection.checkedQuery("""
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
        let rows = try await connection.checkedQuery("""
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

    /// Writes `plan`: its events, outcome changes, orders, links and transitions in one
    /// statement (``writeRows(_:on:)``), then its outbox rows. Throws ``PlanOutdated`` when
    /// another instance stored one of its new events since it was planned; the caller's
    /// transaction or savepoint then rolls back what the statement wrote.
    func write(_ plan: WritePlan, on connection: PostgresConnection) async throws {
        let ids = try await writeRows(plan, on: connection)
        guard ids.count == plan.newEvents.count else { throw PlanOutdated(reason: "concurrent insert of the same event") }
        let subscribed = plan.deliveries.filter { fulfilment[$0.order.tenant]?.contains($0.type) == true }
        try await Self.insertDeliveries(subscribed.map { delivery in
            switch delivery.event {
            case .stored(let rowID): (delivery, rowID)
            case .new(let index): (delivery, ids[plan.newEvents[index].event.key])
            }
        }, logger: logger, on: connection)
    }

    /// The outbox rows of `deliveries` (each of a type its tenant's game backend takes), in
    /// decision order. Each body is built here,
    /// in the transaction that moves the order, so every attempt sends the same bytes: the order
    /// as the transition left it, its lines and the payment that paid it.
    static func insertDeliveries(_ rows: [(WritePlan.Delivery, Int64?)], logger: Logger, on connection: PostgresConnection) async throws {
        guard !rows.isEmpty else { return }
        try await connection.checkedQuery("""
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

    /// The facts column: what the event says beyond its kind, amount and payment (a payment
    /// reference equal to `provider_payment_id` is not repeated). Empty (NULL) for a plain payment.
    static func encodedFacts(_ event: PaymentEvent) -> String {
        var facts = event.orderEvent.facts
        if facts.paymentReference == event.providerPaymentID { facts.paymentReference = nil }
        guard facts != EventFacts(), let data = try? JSONEncoder().encode(facts) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Every row of `plan` but the outbox's in one statement, one data-modifying CTE per table
    /// (each runs whether or not the final SELECT reads it): the new events (one multi-row INSERT,
    /// row ids in arrival order; ON CONFLICT on the dedup key is the durable guard), the stored
    /// events whose outcome changes, the new links (a link already there stays where it is), the
    /// orders' new state, and the transitions in decision order (so each order's chain reads in
    /// row id order), which find their new events' ids in the insert's RETURNING. Returns the new
    /// events' row ids by key; one missing (stored concurrently by another instance) leaves its
    /// transitions out, and the caller discards the whole plan.
    func writeRows(_ plan: WritePlan, on connection: PostgresConnection) async throws -> [PaymentEventKey: Int64] {
        let e = plan.newEvents.map(\.event)
        let changes = plan.outcomeChanges
        let orders = plan.orders.sorted { $0.key < $1.key }
        let links = plan.links.sorted { ($0.key.tenant, $0.key.provider.rawValue, $0.key.reference) < ($1.key.tenant, $1.key.provider.rawValue, $1.key.reference) }
        let transitions = plan.transitions
        guard !e.isEmpty || !changes.isEmpty || !orders.isEmpty || !links.isEmpty || !transitions.isEmpty else { return [:] }
        // A transition names a stored row by id, or a new event by its key (its id comes back from the insert).
        let stored = transitions.map { if case .stored(let rowID) = $0.event { rowID } else { Int64(0) } }
        let newKey = transitions.map { transition -> PaymentEventKey? in
            if case .new(let index) = transition.event { plan.newEvents[index].event.key } else { nil }
        }
        // Optional values travel as text ('' for none) so every column is a plain array bind.
        let rows = try await connection.checkedQuery("""
            WITH new_events AS (
                INSERT INTO payment_events (tenant, source, account, provider, provider_event_id, kind, order_id, provider_payment_id,
                    amount_minor, currency, occurred_at, understood, raw_body, outcome, outcome_reason, link_refs, facts)
                SELECT tenant, source, account, provider, id, kind, NULLIF(order_id, ''), NULLIF(payment_id, ''),
                    NULLIF(amount, '')::bigint, NULLIF(currency, ''), NULLIF(occurred, '')::timestamptz, understood,
                    decode(body, 'base64'), outcome, NULLIF(reason, ''), string_to_array(refs, E'\\x1f'), NULLIF(facts, '')::jsonb
                FROM unnest(\(e.map(\.tenant))::text[], \(e.map(\.source))::text[], \(e.map(\.account))::text[], \(e.map(\.provider.rawValue))::text[],
                    \(e.map(\.providerEventID))::text[], \(e.map(\.kind.rawValue))::text[], \(e.map { $0.orderID ?? "" })::text[],
                    \(e.map { $0.providerPaymentID ?? "" })::text[], \(e.map { $0.amountMinor.map(String.init) ?? "" })::text[],
                    \(e.map { $0.currency ?? "" })::text[], \(e.map { $0.occurredAt.map(ISO8601Timestamp.format) ?? "" })::text[],
                    \(e.map(\.understood))::bool[], \(e.map { Data($0.rawBody).base64EncodedString() })::text[],
                    \(plan.newEvents.map(\.outcome.rawValue))::text[], \(plan.newEvents.map { $0.reason ?? "" })::text[],
                    \(e.map { $0.linkReferences.joined(separator: "\u{1F}") })::text[], \(e.map(Self.encodedFacts))::text[])
                  WITH ORDINALITY AS v(tenant, source, account, provider, id, kind, order_id, payment_id, amount, currency, occurred, understood,
                    body, outcome, reason, refs, facts, n)
                ORDER BY n
                ON CONFLICT ON CONSTRAINT payment_events_dedup DO NOTHING
                RETURNING tenant, account, provider_event_id, id
            ), outcome_changes AS (
                UPDATE payment_events e SET outcome = v.outcome, outcome_reason = NULLIF(v.reason, ''),
                    order_id = COALESCE(NULLIF(v.order_id, ''), e.order_id)
                FROM unnest(\(changes.map(\.rowID))::bigint[], \(changes.map(\.outcome.rawValue))::text[], \(changes.map { $0.reason ?? "" })::text[],
                    \(changes.map { $0.orderID ?? "" })::text[]) AS v(id, outcome, reason, order_id)
                WHERE e.id = v.id
            ), new_links AS (
                INSERT INTO order_links (tenant, provider, reference, order_id)
                SELECT * FROM unnest(\(links.map(\.key.tenant))::text[], \(links.map(\.key.provider.rawValue))::text[],
                    \(links.map(\.key.reference))::text[], \(links.map(\.value.orderID))::text[])
                ON CONFLICT DO NOTHING
            ), changed_orders AS (
                UPDATE orders o SET status = v.status, refunded_minor = v.refunded::bigint, ledger = v.ledger::jsonb,
                    review_reasons = string_to_array(v.reasons, ','), version = o.version + 1, updated_at = now()
                FROM unnest(\(orders.map(\.key.tenant))::text[], \(orders.map(\.key.orderID))::text[], \(orders.map(\.value.status.rawValue))::text[],
                    \(orders.map { String($0.value.refundedMinor) })::text[],
                    \(try orders.map { String(decoding: try JSONEncoder().encode($0.value.ledger), as: UTF8.self) })::text[],
                    \(orders.map { $0.value.reviewReasons.map(\.rawValue).sorted().joined(separator: ",") })::text[])
                  AS v(tenant, order_id, status, refunded, ledger, reasons)
                WHERE o.tenant = v.tenant AND o.order_id = v.order_id
            ), new_transitions AS (
                INSERT INTO order_transitions (tenant, order_id, event_id, from_status, to_status, outcome, reason)
                SELECT v.tenant, v.order_id, COALESCE(NULLIF(v.stored_id, 0), n.id), v.from_status, v.to_status, v.outcome, NULLIF(v.reason, '')
                FROM unnest(\(transitions.map(\.order.tenant))::text[], \(transitions.map(\.order.orderID))::text[], \(stored)::bigint[],
                    \(newKey.map { $0?.tenant ?? "" })::text[], \(newKey.map { $0?.account ?? "" })::text[], \(newKey.map { $0?.providerEventID ?? "" })::text[],
                    \(transitions.map(\.from.rawValue))::text[], \(transitions.map(\.to.rawValue))::text[], \(transitions.map(\.outcome.rawValue))::text[],
                    \(transitions.map { $0.reason ?? "" })::text[])
                  WITH ORDINALITY AS v(tenant, order_id, stored_id, event_tenant, event_account, event_id, from_status, to_status, outcome, reason, k)
                LEFT JOIN new_events n ON v.stored_id = 0 AND n.tenant = v.event_tenant AND n.account = v.event_account AND n.provider_event_id = v.event_id
                WHERE v.stored_id <> 0 OR n.id IS NOT NULL
                ORDER BY v.k
            )
            SELECT tenant, account, provider_event_id, id FROM new_events
            """, logger: logger)
        var ids: [PaymentEventKey: Int64] = [:]
        for try await (tenant, account, eventID, id) in rows.decode((String, String, String, Int64).self) {
            ids[PaymentEventKey(tenant: tenant, account: account, providerEventID: eventID)] = id
        }
        return ids
    }
}

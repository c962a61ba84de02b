import Foundation
import Logging
import PostgresNIO
import TollgateCore
import TollgateFulfilment
import TollgateOrders

/// The fulfilment outbox in Postgres (`deliveries`, `delivery_attempts`, `game_endpoints`,
/// migration 0006): leases for the workers, what an attempt's end writes, and what operators
/// do (list, retry, replay, pause, resume).
///
/// Rows are written by ``PaymentEventStore`` in the transaction of the transition that causes
/// them; this type never creates one except the review notice of a declined grant, which is a
/// transition too.
public struct DeliveryStore: DeliveryQueue {
    let client: PostgresClient
    let logger: Logger
    /// What each tenant's backend takes (a declined grant's review notice goes only if asked for).
    let fulfilment: PaymentEventStore.FulfilmentSubscriptions

    public init(client: PostgresClient, logger: Logger, fulfilment: PaymentEventStore.FulfilmentSubscriptions = [:]) {
        self.client = client
        self.logger = logger
        self.fulfilment = fulfilment
    }

    public func lease(capacity: [String: Int], limits: [String: Int], limit: Int, worker: String, for lease: Duration) async throws -> [LeasedDelivery] {
        guard limit > 0, !capacity.isEmpty else { return [] }
        let tenants = capacity.keys.sorted()
        // Per tenant (paused and disabled endpoints left out first), an index range scan of its
        // due rows (deliveries_due), oldest first, stopping at its free slots: a backlog of one
        // tenant costs the others nothing. The locking level holds every condition, so Postgres
        // re-checks them all on the newest version of a row another worker just finished.
        let rows = try await client.checkedQuery("""
            WITH caps AS (
                SELECT c.tenant, c.slots, c.maximum FROM unnest(\(tenants)::text[], \(tenants.map { capacity[$0]! })::int[],
                    \(tenants.map { limits[$0] ?? capacity[$0]! })::int[]) AS c(tenant, slots, maximum)
                WHERE NOT EXISTS (SELECT 1 FROM game_endpoints g WHERE g.tenant = c.tenant AND g.state <> 'active')
            ),
            picked AS (
                SELECT due.id FROM caps c CROSS JOIN LATERAL (
                    SELECT d.id, d.next_attempt_at FROM deliveries d
                    WHERE d.tenant = c.tenant AND d.status = 'pending' AND d.next_attempt_at <= now() AND d.type = ANY(\(FulfilmentEvent.allCases.map(\.rawValue)))
                      AND (d.lease_until IS NULL OR d.lease_until < now())
                      AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.tenant = d.tenant AND p.order_id = d.order_id AND p.id < d.id
                                      AND p.status IN ('pending', 'failed'))
                    ORDER BY d.next_attempt_at, d.id
                    LIMIT LEAST(c.slots, GREATEST(0, c.maximum - (SELECT count(*) FROM deliveries l
                        WHERE l.tenant = c.tenant AND l.lease_until > now())))
                    FOR UPDATE OF d SKIP LOCKED
                ) due
                ORDER BY due.next_attempt_at, due.id
                LIMIT \(limit)
            )
            UPDATE deliveries d SET lease_until = now() + make_interval(secs => \(Double(lease.milliseconds) / 1000)),
                leased_by = \(worker), attempts = d.attempts + 1
            FROM picked WHERE d.id = picked.id
            RETURNING d.id, d.tenant, d.order_id, d.type, d.webhook_id, d.body, d.attempts
            """, logger: logger)
        // Only the types this version knows are leased: a row a newer version wrote waits for it.
        var leased: [LeasedDelivery] = []
        for try await (id, tenant, order, type, webhookID, body, attempts) in rows.decode((Int64, String, String, String, String, String, Int32).self) {
            guard let event = FulfilmentEvent(rawValue: type) else { continue }
            leased.append(LeasedDelivery(id: id, tenant: tenant, orderID: order, type: event, webhookID: webhookID, body: Array(body.utf8), attempt: Int(attempts)))
        }
        return leased.sorted { $0.id < $1.id }
    }

    public func finish(_ delivery: LeasedDelivery, _ record: AttemptRecord, worker: String) async throws -> Bool {
        let (recorded, reviewReasons) = try await client.transaction(logger: logger) { connection -> (Bool, Set<ReviewReason>) in
            let (status, delay, refund): (String, Double, Int32) = switch record.next {
            case .delivered: ("delivered", 0, 0)
            case .declined: ("declined", 0, 0)
            case .failed: ("failed", 0, 0)
            case .retry(let after): ("pending", Double(after.milliseconds) / 1000, 0)
            // Not the delivery's fault: its attempt is given back, and it waits for the endpoint.
            case .endpointGone: ("pending", 0, 1)
            }
            let updated = try await connection.checkedQuery("""
                UPDATE deliveries SET status = \(status), lease_until = NULL, leased_by = NULL,
                    attempts = attempts - \(refund), next_attempt_at = now() + make_interval(secs => \(delay)),
                    last_status = \(record.httpStatus.map(Int32.init)), last_error = \(record.error),
                    finished_at = CASE WHEN \(status) = 'pending' THEN NULL ELSE now() END
                WHERE id = \(delivery.id) AND status = 'pending' AND leased_by = \(worker) AND attempts = \(Int32(delivery.attempt))
                RETURNING id
                """, logger: logger)
            var found = false
            for try await _ in updated.decode(Int64.self) { found = true }
            guard found else { return (false, []) }
            try await connection.checkedQuery("""
                INSERT INTO delivery_attempts (delivery_id, attempt, worker, started_at, latency_ms, http_status, error, response)
                VALUES (\(delivery.id), \(Int32(delivery.attempt)), \(worker), \(record.startedAt), \(Int32(clamping: record.latency.milliseconds)),
                        \(record.httpStatus.map(Int32.init)), \(record.error), \(String(record.response.prefix(4096))))
                """, logger: logger)
            var reasons: Set<ReviewReason> = []
            switch record.next {
            case .endpointGone:
                try await connection.checkedQuery("""
                    INSERT INTO game_endpoints (tenant, state, reason) VALUES (\(delivery.tenant), 'disabled', 'answered 410 Gone')
                    ON CONFLICT (tenant) DO UPDATE SET state = 'disabled', reason = excluded.reason, changed_at = now()
                    WHERE game_endpoints.state = 'active'
                    """, logger: logger)
            case .declined(let reason):
                reasons = try await declineOrder(of: delivery, reason: reason, on: connection)
            default: break
            }
            return (true, reasons)
        }
        // Counted once committed (a failed finish is retried and would count it again).
        if !reviewReasons.isEmpty {
            var counted = WritePlan()
            counted.reviewReasonsAdded[OrderKey(tenant: delivery.tenant, orderID: delivery.orderID)] = reviewReasons
            OrderMetrics.record([counted])
        }
        return recorded
    }

    /// The game declined the grant: the order's ledger records it (the state machine decides
    /// what that means: `needs_review`, `fulfilment_declined`), with a transition naming the
    /// delivery and the review notice for the game if it takes those.
    /// Returns the review reasons the order gained.
    func declineOrder(of delivery: LeasedDelivery, reason: String, on connection: PostgresConnection) async throws -> Set<ReviewReason> {
        let key = OrderKey(tenant: delivery.tenant, orderID: delivery.orderID)
        let events = PaymentEventStore(client: client, logger: logger, fulfilment: fulfilment)
        // What queued behind the refused grant (a revoke, a grant again) is about items the game
        // never gave: it ends with the grant; a human settles the order.
        try await connection.checkedQuery("""
            UPDATE deliveries SET status = 'declined', finished_at = now(), lease_until = NULL, leased_by = NULL,
                last_error = 'the order''s grant was declined (delivery ' || \(delivery.id)::text || ')'
            WHERE tenant = \(key.tenant) AND order_id = \(key.orderID) AND id > \(delivery.id) AND status = 'pending'
              AND type <> 'order.needs_review'
            """, logger: logger)
        guard let order = try await events.lockOrders([key], on: connection).orders[key] else { return [] }
        let decision = OrderStateMachine.fulfilmentDeclined(order, reason: reason)
        let (next, outcome, why): (OrderState, String, String?) = switch decision {
        case .applied(let next): (next, "applied", "fulfilment declined: \(reason)")
        case .ignored(let why), .deferred(let why): (order, "ignored", why)
        }
        try await connection.checkedQuery("""
            INSERT INTO order_transitions (tenant, order_id, event_id, delivery_id, from_status, to_status, outcome, reason)
            VALUES (\(key.tenant), \(key.orderID), NULL, \(delivery.id), \(order.status.rawValue), \(next.status.rawValue), \(outcome), \(why))
            """, logger: logger)
        guard next != order else { return [] }
        var plan = WritePlan()
        plan.orders[key] = next
        _ = try await events.writeRows(plan, on: connection)
        let notices = FulfilmentEvent.caused(from: order, to: next).filter { fulfilment[key.tenant]?.contains($0) == true }.map {
            WritePlan.Delivery(order: key, event: .stored(rowID: 0), type: $0, status: next.status, refundedMinor: next.refundedMinor)
        }
        try await PaymentEventStore.insertDeliveries(notices.map { ($0, nil) }, logger: logger, on: connection)
        return next.reviewReasons.subtracting(order.reviewReasons)
    }
}

// MARK: - Operators

extension DeliveryStore {
    /// One delivery as operators see it, with its attempts.
    public struct Listed: Sendable {
        public struct Attempt: Sendable {
            public var attempt: Int
            public var worker: String
            public var startedAt: Date
            public var latencyMilliseconds: Int
            public var httpStatus: Int?
            public var error: String?
            /// What the game answered, at most 4 KiB.
            public var response: String?
        }

        public var id: Int64
        public var tenant: String
        public var orderID: String
        public var type: String
        public var webhookID: String
        public var status: String
        public var attempts: Int
        public var nextAttemptAt: Date
        public var leasedUntil: Date?
        public var lastStatus: Int?
        public var lastError: String?
        public var createdAt: Date
        public var finishedAt: Date?
        public var attemptLog: [Attempt]
    }

    /// A game backend's state for operators: active, paused (by an operator) or disabled (410).
    public struct Endpoint: Sendable, Equatable {
        public var tenant: String
        public var state: String
        public var reason: String?
        public var changedAt: Date?
    }

    public static let statuses: Set<String> = ["pending", "delivered", "declined", "failed"]

    /// The newest deliveries of `tenant` (optionally of one status or order), newest first, each
    /// with its attempts.
    public func list(tenant: String, status: String? = nil, orderID: String? = nil, limit: Int = 100) async throws -> [Listed] {
        let rows = try await client.checkedQuery("""
            SELECT d.id, d.tenant, d.order_id, d.type, d.webhook_id, d.status, d.attempts, d.next_attempt_at, d.lease_until,
                d.last_status, d.last_error, d.created_at, d.finished_at
            FROM deliveries d
            WHERE d.tenant = \(tenant) AND (\(status ?? "") = '' OR d.status = \(status ?? "")) AND (\(orderID ?? "") = '' OR d.order_id = \(orderID ?? ""))
            ORDER BY d.id DESC LIMIT \(max(1, min(limit, 1000)))
            """, logger: logger)
        var listed: [Listed] = []
        for try await (id, tenant, order, type, webhookID, status, attempts, next, lease, lastStatus, lastError, created, finished)
            in rows.decode((Int64, String, String, String, String, String, Int32, Date, Date?, Int32?, String?, Date, Date?).self) {
            listed.append(Listed(id: id, tenant: tenant, orderID: order, type: type, webhookID: webhookID, status: status, attempts: Int(attempts),
                                 nextAttemptAt: next, leasedUntil: lease, lastStatus: lastStatus.map(Int.init), lastError: lastError, createdAt: created,
                                 finishedAt: finished, attemptLog: []))
        }
        guard !listed.isEmpty else { return [] }
        let attempts = try await client.checkedQuery("""
            SELECT delivery_id, attempt, worker, started_at, latency_ms, http_status, error, response FROM delivery_attempts
            WHERE delivery_id = ANY(\(listed.map(\.id))) ORDER BY id
            """, logger: logger)
        var byDelivery: [Int64: [Listed.Attempt]] = [:]
        for try await (delivery, attempt, worker, started, latency, status, error, response)
            in attempts.decode((Int64, Int32, String, Date, Int32, Int32?, String?, String?).self) {
            byDelivery[delivery, default: []].append(.init(attempt: Int(attempt), worker: worker, startedAt: started, latencyMilliseconds: Int(latency),
                                                           httpStatus: status.map(Int.init), error: error, response: response))
        }
        return listed.map { var row = $0; row.attemptLog = byDelivery[row.id] ?? []; return row }
    }

    /// Makes a failed delivery (or a pending one no worker holds) due now, with the whole retry
    /// schedule ahead of it again. False when there is no such delivery.
    public func retry(id: Int64, tenant: String) async throws -> Bool {
        let rows = try await client.checkedQuery("""
            UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), finished_at = NULL
            WHERE id = \(id) AND tenant = \(tenant)
              AND (status = 'failed' OR (status = 'pending' AND (lease_until IS NULL OR lease_until < now())))
            RETURNING id
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Makes every delivery of `tenant` that failed since `since` due again (after an outage of
    /// the game backend), each with the whole schedule ahead. Returns how many.
    public func replay(tenant: String, since: Date) async throws -> Int {
        let rows = try await client.checkedQuery("""
            UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), finished_at = NULL
            WHERE tenant = \(tenant) AND status = 'failed' AND finished_at >= \(since)
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows.decode(Int64.self) { count += 1 }
        return count
    }

    /// Pauses a tenant's endpoint (nothing is leased for it; deliveries wait, their schedules
    /// untouched) or makes it active again (also after a 410 disabled it).
    public func setEndpoint(tenant: String, active: Bool, reason: String?) async throws -> Endpoint {
        let state = active ? "active" : "paused"
        let rows = try await client.checkedQuery("""
            INSERT INTO game_endpoints (tenant, state, reason) VALUES (\(tenant), \(state), \(reason))
            ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, reason = excluded.reason, changed_at = now()
            RETURNING tenant, state, reason, changed_at
            """, logger: logger)
        for try await (tenant, state, reason, changed) in rows.decode((String, String, String?, Date).self) {
            return Endpoint(tenant: tenant, state: state, reason: reason, changedAt: changed)
        }
        return Endpoint(tenant: tenant, state: state, reason: reason, changedAt: nil)
    }

    public func endpoint(tenant: String) async throws -> Endpoint {
        let rows = try await client.checkedQuery("SELECT tenant, state, reason, changed_at FROM game_endpoints WHERE tenant = \(tenant)", logger: logger)
        for try await (tenant, state, reason, changed) in rows.decode((String, String, String?, Date).self) {
            return Endpoint(tenant: tenant, state: state, reason: reason, changedAt: changed)
        }
        return Endpoint(tenant: tenant, state: "active", reason: nil, changedAt: nil)
    }

    /// Deliveries by status for a tenant (what `tollgate deliveries` and the gauges show).
    public func counts(tenant: String) async throws -> [String: Int] {
        let rows = try await client.checkedQuery("SELECT status, count(*)::bigint FROM deliveries WHERE tenant = \(tenant) GROUP BY status", logger: logger)
        var counts: [String: Int] = [:]
        for try await (status, count) in rows.decode((String, Int64).self) { counts[status] = Int(count) }
        return counts
    }
}

extension DeliveryStore.Listed {
    /// As the admin listener and `tollgate deliveries list` show it.
    public var json: JSONValue {
        func date(_ value: Date?) -> JSONValue { value.map { .string(ISO8601Timestamp.format($0)) } ?? .null }
        return .object([
            ("id", .int(Int(id))), ("tenant", .string(tenant)), ("order_id", .string(orderID)), ("type", .string(type)),
            ("webhook_id", .string(webhookID)), ("status", .string(status)), ("attempts", .int(attempts)),
            ("next_attempt_at", date(nextAttemptAt)), ("leased_until", date(leasedUntil)), ("last_status", lastStatus.map(JSONValue.int) ?? .null),
            ("last_error", lastError.map(JSONValue.string) ?? .null), ("created_at", date(createdAt)), ("finished_at", date(finishedAt)),
            ("attempt_log", .array(attemptLog.map { attempt in
                .object([("attempt", .int(attempt.attempt)), ("worker", .string(attempt.worker)), ("started_at", date(attempt.startedAt)),
                         ("latency_ms", .int(attempt.latencyMilliseconds)), ("status", attempt.httpStatus.map(JSONValue.int) ?? .null),
                         ("error", attempt.error.map(JSONValue.string) ?? .null), ("response", attempt.response.map(JSONValue.string) ?? .null)])
            })),
        ])
    }
}

extension DeliveryStore.Endpoint {
    public var json: JSONValue {
        .object([("tenant", .string(tenant)), ("state", .string(state)), ("reason", reason.map(JSONValue.string) ?? .null),
                 ("changed_at", changedAt.map { .string(ISO8601Timestamp.format($0)) } ?? .null)])
    }
}

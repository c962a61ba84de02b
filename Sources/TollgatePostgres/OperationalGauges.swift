import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// What Postgres holds that an operator must act on, exported as gauges every `interval`:
/// payment events still waiting to apply, and orders waiting for a human.
///
/// Counters such as `tollgate_orders_needs_review_total` say what this process did since it
/// started; these say what the database holds now, whichever instance wrote it and across
/// restarts, so an order left in review or an event that never applied stays visible until it is
/// settled. Every instance exports the same values; the alert rules take `max` over instances.
///
/// - `tollgate_payment_events_waiting{tenant,outcome}`: events stored `pending` (their order or
///   the payment that links them is not known yet) or `deferred` (money back before the payment).
/// - `tollgate_payment_events_oldest_waiting_age_seconds{tenant,outcome}`: how long the oldest of
///   them has waited (0 when none waits). Normally seconds: a checkout or the payment's own
///   callback follows; hours mean the event it waits for was lost or never sent.
/// - `tollgate_orders_awaiting_review{tenant}`: orders in status `needs_review` now.
/// - `tollgate_operational_gauges_last_success_timestamp_seconds`: when the values were last read,
///   so stale gauges (Postgres unreachable) are themselves alertable.
public final class OperationalGauges: Service, Sendable {
    /// Time between refreshes: 30 s. The alerts on these wait for minutes or hours, and each
    /// refresh reads only the partial indexes of waiting events and orders in review.
    public static let defaultInterval: Duration = .seconds(30)

    /// One reading of the database.
    public struct Snapshot: Equatable, Sendable {
        public struct WaitingKey: Hashable, Sendable {
            public var tenant: String
            /// `pending` or `deferred`, as stored in `payment_events.outcome`.
            public var outcome: String
            public init(tenant: String, outcome: String) { (self.tenant, self.outcome) = (tenant, outcome) }
        }

        public struct Waiting: Equatable, Sendable {
            public var count: Int
            /// Seconds since the oldest of them was received, on Postgres's clock (the one that stamped it).
            public var oldestAgeSeconds: Double
        }

        public var waitingEvents: [WaitingKey: Waiting] = [:]
        /// Orders in `needs_review`, by tenant.
        public var ordersAwaitingReview: [String: Int] = [:]
        /// Deliveries to game backends not delivered: pending (by tenant, with the oldest's age)
        /// and failed (dead letters until an operator replays them).
        public var pendingDeliveries: [String: Waiting] = [:]
        public var failedDeliveries: [String: Int] = [:]
    }

    /// The label sets published last time: one that disappears (its last event applied, its last
    /// order settled) is set to 0, or its old value would stay on `/metrics` and keep an alert firing.
    private struct Published {
        var waiting: Set<Snapshot.WaitingKey> = []
        var review: Set<String> = []
        var deliveries: Set<String> = []
    }

    private let client: PostgresClient
    private let interval: Duration
    private let logger: Logger
    private let published = NIOLockedValueBox(Published())

    public init(client: PostgresClient, interval: Duration = OperationalGauges.defaultInterval, logger: Logger) {
        self.client = client
        self.interval = interval
        self.logger = logger
    }

    /// Refreshes every `interval`, the first after one interval: at start-up the edge may still be
    /// migrating, and a query against a missing table would only log noise.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while true {
                do { try await Task.sleep(for: self.interval) } catch { return }  // cancelled: shutting down
                do {
                    try await self.refresh()
                } catch {
                    if Task.isCancelled { return }  // shutting down mid-refresh: nothing to report
                    // Counted by PostgresMetrics; the last-success gauge stops advancing, which the alerts watch.
                    self.logger.warning("operational gauges not refreshed", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
    }

    /// Reads the database once and publishes what it found.
    @discardableResult
    public func refresh() async throws -> Snapshot {
        let snapshot = try await read()
        publish(snapshot, at: Date())
        return snapshot
    }

    /// One reading, without publishing it.
    public func read() async throws -> Snapshot {
        try await PostgresMetrics.measure("operational_gauges") {
            try await client.withConnection { connection in
                var snapshot = Snapshot()
                // Each read answered from a partial index: payment_events_waiting_since (index-only:
                // it holds received_at), orders_needs_review.
                let waiting = try await connection.checkedQuery("""
                    SELECT tenant, outcome, count(*), EXTRACT(EPOCH FROM now() - min(received_at))::float8
                    FROM payment_events WHERE outcome IN ('deferred', 'pending') GROUP BY tenant, outcome
                    """, logger: logger)
                for try await (tenant, outcome, count, age) in waiting.decode((String, String, Int64, Double).self) {
                    snapshot.waitingEvents[Snapshot.WaitingKey(tenant: tenant, outcome: outcome)] =
                        Snapshot.Waiting(count: Int(count), oldestAgeSeconds: max(0, age))
                }
                let review = try await connection.checkedQuery(
                    "SELECT tenant, count(*) FROM orders WHERE status = 'needs_review' GROUP BY tenant", logger: logger)
                for try await (tenant, count) in review.decode((String, Int64).self) {
                    snapshot.ordersAwaitingReview[tenant] = Int(count)
                }
                // The partial index deliveries_due holds the pending ones; failed ones are few.
                let deliveries = try await connection.checkedQuery("""
                    SELECT tenant, status, count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8
                    FROM deliveries WHERE status IN ('pending', 'failed') GROUP BY tenant, status
                    """, logger: logger)
                for try await (tenant, status, count, age) in deliveries.decode((String, String, Int64, Double).self) {
                    if status == "pending" {
                        snapshot.pendingDeliveries[tenant] = Snapshot.Waiting(count: Int(count), oldestAgeSeconds: max(0, age))
                    } else {
                        snapshot.failedDeliveries[tenant] = Int(count)
                    }
                }
                return snapshot
            }
        }
    }

    private func publish(_ snapshot: Snapshot, at now: Date) {
        // Under the lock: two refreshes never interleave their writes, and the zeroing below sees
        // exactly the label sets the previous refresh wrote.
        published.withLockedValue { published in
            for key in published.waiting.union(snapshot.waitingEvents.keys) {
                let waiting = snapshot.waitingEvents[key] ?? Snapshot.Waiting(count: 0, oldestAgeSeconds: 0)
                let labels = [("tenant", key.tenant), ("outcome", key.outcome)]
                Gauge(label: "tollgate_payment_events_waiting", dimensions: labels).record(waiting.count)
                Gauge(label: "tollgate_payment_events_oldest_waiting_age_seconds", dimensions: labels).record(waiting.oldestAgeSeconds)
            }
            for tenant in published.review.union(snapshot.ordersAwaitingReview.keys) {
                Gauge(label: "tollgate_orders_awaiting_review", dimensions: [("tenant", tenant)])
                    .record(snapshot.ordersAwaitingReview[tenant] ?? 0)
            }
            for tenant in published.deliveries.union(snapshot.pendingDeliveries.keys).union(snapshot.failedDeliveries.keys) {
                let pending = snapshot.pendingDeliveries[tenant] ?? Snapshot.Waiting(count: 0, oldestAgeSeconds: 0)
                Gauge(label: "tollgate_fulfilment_deliveries", dimensions: [("tenant", tenant), ("status", "pending")]).record(pending.count)
                Gauge(label: "tollgate_fulfilment_deliveries", dimensions: [("tenant", tenant), ("status", "failed")])
                    .record(snapshot.failedDeliveries[tenant] ?? 0)
                Gauge(label: "tollgate_fulfilment_oldest_pending_age_seconds", dimensions: [("tenant", tenant)]).record(pending.oldestAgeSeconds)
            }
            published = Published(waiting: Set(snapshot.waitingEvents.keys), review: Set(snapshot.ordersAwaitingReview.keys),
                                  deliveries: Set(snapshot.pendingDeliveries.keys).union(snapshot.failedDeliveries.keys))
            Gauge(label: "tollgate_operational_gauges_last_success_timestamp_seconds").record(now.timeIntervalSince1970)
        }
    }
}

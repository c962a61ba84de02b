import Foundation
import Logging
import PostgresNIO

/// `--verify` for a tenant with a game backend (the `fulfilment` scenario): the outbox in
/// Postgres against what the game-backend simulator acknowledged.
extension LoadVerifier {
    /// One delivery the simulator applied or declined (`GET /_sim/deliveries`), in its order.
    public struct GameDelivery: Sendable, Equatable {
        public var webhookID: String
        public var type: String
        public var orderID: String
        public var outcome: String

        public init(webhookID: String, type: String, orderID: String, outcome: String) {
            self.webhookID = webhookID
            self.type = type
            self.orderID = orderID
            self.outcome = outcome
        }

        public static func list(json: [String: Any]) -> [GameDelivery] {
            ((json["deliveries"] as? [[String: Any]]) ?? []).compactMap { entry in
                guard let id = entry["webhook_id"] as? String, let type = entry["type"] as? String, let order = entry["order_id"] as? String else { return nil }
                return GameDelivery(webhookID: id, type: type, orderID: order, outcome: entry["outcome"] as? String ?? "")
            }
        }
    }

    static let grants: Set<String> = ["order.paid", "order.reinstated"]
    static let revokes: Set<String> = ["order.refunded", "order.charged_back"]

    /// The run's deliveries still waiting (pending), for settling before the checks.
    public static func pendingDeliveries(client: PostgresClient, tenant: String, orders: [String], logger: Logger) async throws -> Int {
        let rows = try await client.query("""
            SELECT count(*)::bigint FROM deliveries WHERE tenant = \(tenant) AND order_id = ANY(\(orders)) AND status = 'pending'
            """, logger: logger)
        var count: Int64 = 0
        for try await value in rows.decode(Int64.self) { count = value }
        return Int(count)
    }

    public func fulfilmentChecks(orders: [String], game: [GameDelivery]) async throws -> [Verification.Check] {
        var checks: [Verification.Check] = []
        // Postgres: the run's deliveries, and the orders that were ever paid (a payment applied).
        var stored: [(order: String, type: String, webhookID: String, status: String)] = []
        let rows = try await client.query("""
            SELECT order_id, type, webhook_id, status FROM deliveries WHERE tenant = \(tenant) AND order_id = ANY(\(orders)) ORDER BY id
            """, logger: logger)
        for try await row in rows.decode((String, String, String, String).self) { stored.append(row) }
        var paidOrders: Set<String> = []
        let paid = try await client.query("""
            SELECT DISTINCT t.order_id FROM order_transitions t JOIN payment_events e ON e.id = t.event_id
            WHERE t.tenant = \(tenant) AND t.order_id = ANY(\(orders)) AND t.outcome = 'applied' AND e.kind = 'payment.succeeded'
              AND t.from_status IN ('created', 'pending_payment', 'authorized', 'failed', 'canceled', 'expired')
            """, logger: logger)
        for try await order in paid.decode(String.self) { paidOrders.insert(order) }

        let run = Set(orders)
        let acknowledged = game.filter { run.contains($0.orderID) }
        let grantRows = stored.filter { $0.type == "order.paid" }
        let grantsByOrder = Dictionary(grouping: grantRows, by: \.order)
        let ackByID = Dictionary(grouping: acknowledged, by: \.webhookID)
        let missing = paidOrders.filter { grantsByOrder[$0] == nil }
        let twice = grantsByOrder.filter { $0.value.count > 1 }.map(\.key)
        let unacknowledged = grantRows.filter { ackByID[$0.webhookID]?.count != 1 }
        let gameGrants = acknowledged.filter { $0.type == "order.paid" }
        let gameGrantsTwice = Dictionary(grouping: gameGrants, by: \.orderID).filter { $0.value.count > 1 }.map(\.key)
        check(&checks, "every paid order's grant acknowledged once",
              missing.isEmpty && twice.isEmpty && unacknowledged.isEmpty && gameGrantsTwice.isEmpty,
              "\(paidOrders.count) orders paid, \(grantRows.count) grants in the outbox, \(gameGrants.count) acknowledged by the game; "
              + "\(missing.count) paid without a grant, \(twice.count) with two, \(unacknowledged.count) not acknowledged under their webhook-id once, "
              + "\(gameGrantsTwice.count) granted twice by the game" + Self.examples(missing.sorted() + twice + unacknowledged.map(\.order) + gameGrantsTwice))

        var revokedBeforeGrant: [String] = []
        var revokesSeen = 0
        for (order, deliveries) in Dictionary(grouping: acknowledged, by: \.orderID) {
            let firstGrant = deliveries.firstIndex { Self.grants.contains($0.type) }
            if let firstRevoke = deliveries.firstIndex(where: { Self.revokes.contains($0.type) }) {
                revokesSeen += 1
                if firstGrant.map({ $0 > firstRevoke }) ?? true { revokedBeforeGrant.append(order) }
            }
        }
        check(&checks, "every revoke after its grant", revokedBeforeGrant.isEmpty,
              "\(revokesSeen) orders revoked by the game; \(revokedBeforeGrant.count) before their grant" + Self.examples(revokedBeforeGrant.sorted()))

        let unfinished = stored.filter { $0.status != "delivered" }
        check(&checks, "every delivery completed", unfinished.isEmpty,
              "\(stored.count) deliveries; " + Dictionary(grouping: stored, by: \.status).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")
              + Self.examples(unfinished.map { "\($0.order) \($0.type) \($0.status)" }))

        // Figures: commit to the game's acknowledgement.
        let latency = try await client.query("""
            SELECT count(*)::bigint,
                COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), 0)::float8,
                COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), 0)::float8,
                COALESCE(extract(epoch FROM max(finished_at) - min(created_at)), 0)::float8,
                COALESCE(avg(attempts), 0)::float8
            FROM deliveries WHERE tenant = \(tenant) AND order_id = ANY(\(orders)) AND status = 'delivered'
            """, logger: logger)
        for try await (count, p50, p99, span, attempts) in latency.decode((Int64, Double, Double, Double, Double).self) {
            let rate = span > 0 ? Double(count) / span : 0
            check(&checks, "commit-to-delivery latency", true,
                  String(format: "%d deliveries, %.0f/s; commit to acknowledgement p50 %.0f ms, p99 %.0f ms; %.2f attempts per delivery",
                         count, rate, p50 * 1000, p99 * 1000, attempts))
        }
        return checks
    }

    private func check(_ checks: inout [Verification.Check], _ name: String, _ passed: Bool, _ detail: String) {
        checks.append(.init(name: name, passed: passed, detail: detail))
    }

    static func examples(_ list: [String]) -> String {
        list.isEmpty ? "" : " (first: \(list.prefix(3).joined(separator: "; ")))"
    }
}

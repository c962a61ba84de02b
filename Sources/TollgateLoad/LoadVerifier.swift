import Foundation
import Logging
import PostgresNIO
import TollgateOrders

/// `--verify`: reads Postgres and the generator's ledger and checks the money invariants, each
/// with its counts. Any violation fails the run.
public struct LoadVerifier: Sendable {
    let client: PostgresClient
    let tenant: String
    let logger: Logger
    /// Checks that every payment opened at the simulator belongs to one order (its `/_sim/stats`).
    let simulatorStats: (@Sendable () async throws -> SimulatorCounts)?

    /// What the provider simulator counted (`GET /_sim/stats`).
    public struct SimulatorCounts: Sendable {
        public var paymentsOpened: Int
        public var ordersWithMoreThanOnePayment: Int
        public var deliveriesPending: Int

        public init(json: [String: Any]) {
            paymentsOpened = json["payment_intents_created"] as? Int ?? -1
            ordersWithMoreThanOnePayment = json["orders_with_more_than_one_payment"] as? Int ?? -1
            deliveriesPending = (json["deliveries"] as? [String: Any])?["pending"] as? Int ?? 0
        }
    }

    public init(client: PostgresClient, tenant: String, logger: Logger, simulatorStats: (@Sendable () async throws -> SimulatorCounts)? = nil) {
        self.client = client
        self.tenant = tenant
        self.logger = logger
        self.simulatorStats = simulatorStats
    }

    public func verify(_ ledger: LoadLedger) async throws -> Verification {
        var checks: [Verification.Check] = []
        func check(_ name: String, _ passed: Bool, _ detail: String) { checks.append(.init(name: name, passed: passed, detail: detail)) }

        // Events stored for the orders the generator sent webhooks for.
        var stored: [String: Int] = [:]
        let events = try await client.query("""
            SELECT source, provider_event_id, count(*)::bigint FROM payment_events
            WHERE tenant = \(tenant) AND order_id = ANY(\(ledger.seededOrders)) GROUP BY source, provider_event_id
            """, logger: logger)
        for try await (source, id, count) in events.decode((String, String, Int64).self) { stored["\(source)|\(id)"] = Int(count) }

        let acknowledged = ledger.genuine.filter(\.value).map(\.key)
        let missing = acknowledged.filter { stored[$0] == nil }
        let twice = acknowledged.filter { (stored[$0] ?? 0) > 1 }
        check("acknowledged events stored exactly once", missing.isEmpty && twice.isEmpty,
              "\(acknowledged.count) unique genuine events answered 2xx; \(missing.count) missing, \(twice.count) stored more than once"
              + (missing.isEmpty ? "" : " (first missing: \(missing.sorted().prefix(3).joined(separator: ", ")))"))
        let unanswered = ledger.genuine.filter { !$0.value }.map(\.key)
        let unansweredStored = unanswered.filter { stored[$0] != nil }.count
        check("unacknowledged events", true, "\(unanswered.count) genuine events never answered 2xx (\(unansweredStored) of them stored anyway: safe, the provider's retry is a duplicate)")

        let forgedStored = ledger.forged.filter { stored[$0] != nil }
        check("no forged or stale event stored", forgedStored.isEmpty && ledger.forgedAcknowledged.isEmpty,
              "\(ledger.forged.count) forged/stale sent; \(forgedStored.count) stored, \(ledger.forgedAcknowledged.count) acknowledged")
        let unexplained = stored.keys.filter { ledger.genuine[$0] == nil }
        check("no event stored that was not genuinely sent", unexplained.isEmpty, "\(stored.count) events stored for the seeded orders; \(unexplained.count) unexplained")

        // Every applied transition legal, and each order's applied transitions a chain.
        let orderIDs = ledger.orderIDs
        let transitions = try await client.query("""
            SELECT t.order_id, t.from_status, t.to_status, e.kind FROM order_transitions t JOIN payment_events e ON e.id = t.event_id
            WHERE t.tenant = \(tenant) AND t.order_id = ANY(\(orderIDs)) AND t.outcome = 'applied' ORDER BY t.id
            """, logger: logger)
        var lastStatus: [String: String] = [:]
        var paidBy: [String: Int] = [:]
        var applied = 0
        var illegal: [String] = []
        for try await (order, from, to, kind) in transitions.decode((String, String, String, String).self) {
            applied += 1
            if let previous = lastStatus[order], previous != from { illegal.append("\(order): \(previous) then from \(from)") }
            lastStatus[order] = to
            if !Self.isLegal(kind: kind, from: from, to: to) { illegal.append("\(order): \(kind) \(from) -> \(to)") }
            if kind == PaymentEventKind.paymentSucceeded.rawValue, to == OrderStatus.paid.rawValue { paidBy[order, default: 0] += 1 }
        }
        check("no illegal transition", illegal.isEmpty, "\(applied) applied transitions over \(lastStatus.count) orders; \(illegal.count) illegal"
              + (illegal.isEmpty ? "" : " (\(illegal.prefix(3).joined(separator: "; ")))"))
        let paidTwice = paidBy.filter { $0.value > 1 }
        check("no order paid twice", paidTwice.isEmpty, "\(paidBy.count) orders paid; \(paidTwice.count) paid more than once")

        let overRefunded = try await client.query("""
            SELECT count(*)::bigint FROM orders WHERE tenant = \(tenant) AND order_id = ANY(\(orderIDs)) AND refunded_minor > amount_minor
            """, logger: logger)
        var over: Int64 = 0
        for try await count in overRefunded.decode(Int64.self) { over = count }
        check("no order refunded more than it was paid", over == 0, "\(over) over-refunded")

        // Checkout: one order per key, one payment per order.
        let keys = Array(ledger.checkoutKeys.keys)
        let answeredTwice = ledger.checkoutKeys.filter { $0.value.count > 1 }
        let duplicates = try await client.query("""
            SELECT count(*)::bigint FROM (SELECT 1 FROM orders WHERE tenant = \(tenant) AND idempotency_key = ANY(\(keys))
            GROUP BY player_id, idempotency_key HAVING count(*) > 1) AS d
            """, logger: logger)
        var keysWithTwoOrders: Int64 = 0
        for try await count in duplicates.decode(Int64.self) { keysWithTwoOrders = count }
        let ordersMade = Set(ledger.checkoutKeys.values.flatMap { $0 }).count
        if !keys.isEmpty {
            check("every checkout key made at most one order", answeredTwice.isEmpty && keysWithTwoOrders == 0,
                  "\(keys.count) keys, \(ordersMade) orders answered; \(answeredTwice.count) keys answered with two orders, \(keysWithTwoOrders) with two rows")
            if let simulatorStats {
                let stats = try await simulatorStats()
                check("every checkout order opened at most one payment", stats.ordersWithMoreThanOnePayment == 0,
                      "\(stats.paymentsOpened) payments opened at the provider; \(stats.ordersWithMoreThanOnePayment) orders with more than one")
            }
        }
        return Verification(checks: checks)
    }

    /// Whether `kind` may move an order from `from` to `to` (the state machine's table, with its
    /// computed targets: refunds, disputes won, and mismatches sent to review).
    static func isLegal(kind: String, from: String, to: String) -> Bool {
        guard let kind = PaymentEventKind(rawValue: kind), let from = OrderStatus(rawValue: from), let to = OrderStatus(rawValue: to),
              let rule = OrderStateMachine.transitions[kind], rule.from.contains(from)
        else { return false }
        switch kind {
        case .paymentSucceeded: return to == .paid || to == .needsReview
        case .refundSucceeded: return [.partiallyRefunded, .refunded, .needsReview].contains(to)
        case .disputeWon: return true
        default: return to == rule.to
        }
    }
}

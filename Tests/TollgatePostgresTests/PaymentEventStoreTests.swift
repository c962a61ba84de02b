import Foundation
import Logging
import PostgresNIO
import Testing
import TollgateOrders
import TollgatePostgres
import TollgateTestSupport
import TollgateCore

/// Exactly-once against the real Postgres: each test migrates a fresh database.
@Suite struct PaymentEventStoreTests {
    let support = MigratorTests()

    func withStore(_ body: @Sendable (PaymentEventStore, GroupCommitter, PostgresEndpoint) async throws -> Void) async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
                let store = PaymentEventStore(client: client, logger: support.logger)
                let committer = GroupCommitter(store: store)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await committer.run() }
                    defer { group.cancelAll() }
                    try await body(store, committer, endpoint)
                }
            }
        }
    }

    func event(_ id: String, _ kind: PaymentEventKind, order: String?, amount: Int64? = 1999, currency: String? = "USD") -> PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: id, kind: kind, orderID: order,
                     amountMinor: amount, currency: currency, rawBody: Array("{\"id\":\"\(id)\"}".utf8))
    }

    func status(_ order: String, _ endpoint: PostgresEndpoint) async throws -> String {
        try await support.withClient(endpoint) { client in
            var status = ""
            for try await value in try await client.query("SELECT status FROM orders WHERE tenant = 'demo' AND order_id = \(order)").decode(String.self) {
                status = value
            }
            return status
        }
    }

    func count(_ sql: String, _ endpoint: PostgresEndpoint) async throws -> Int {
        try await support.count(sql, on: endpoint)
    }

    @Test func twoHundredConcurrentDeliveriesOfOneEventApplyOnce() async throws {
        try await withStore { store, committer, endpoint in
            try await store.seedOrders(tenant: "demo", orders: [("ord_1", 1999, "USD")])
            let outcomes = try await withThrowingTaskGroup(of: CommitOutcome.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await committer.commit([event("evt_same", .paymentSucceeded, order: "ord_1")])[0].get() }
                }
                var all: [CommitOutcome] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            #expect(outcomes.filter { $0 == .recorded(.applied) }.count == 1)
            #expect(outcomes.filter { $0 == .duplicate }.count == 199)
            #expect(try await status("ord_1", endpoint) == "paid")
            #expect(try await count("SELECT count(*)::int FROM order_transitions", endpoint) == 1)
            #expect(try await count("SELECT count(*)::int FROM payment_events", endpoint) == 1)
            #expect(try await count("SELECT version::int FROM orders WHERE order_id = 'ord_1'", endpoint) == 1)
        }
    }

    @Test func batchWithDuplicateAndMissingOrderCommitsTheOthers() async throws {
        try await withStore { store, _, endpoint in
            try await store.seedOrders(tenant: "demo", orders: [("ord_a", 1999, "USD"), ("ord_b", 1999, "USD")])
            _ = try await store.commit([event("evt_dup", .paymentSucceeded, order: "ord_a")])
            let results = try await store.commit([
                event("evt_dup", .paymentSucceeded, order: "ord_a"),
                event("evt_missing", .paymentSucceeded, order: "ord_nope"),
                event("evt_b", .paymentSucceeded, order: "ord_b"),
                event("evt_b_fail_late", .paymentFailed, order: "ord_b"),
            ]).map { try $0.get() }
            #expect(results == [.duplicate, .recorded(.pending), .recorded(.applied), .recorded(.ignored)])
            #expect(try await status("ord_b", endpoint) == "paid")
        }
    }

    @Test func oneFailingEventDoesNotFailItsBatchMates() async throws {
        try await withStore { store, _, endpoint in
            try await store.seedOrders(tenant: "demo", orders: [("ord_c", 1999, "USD")])
            // Postgres text cannot hold a NUL byte: this event's insert fails, in the batch statement
            // and again in its own savepoint.
            var broken = event("evt_broken", .paymentSucceeded, order: "ord_c")
            broken.providerPaymentID = "pi_\u{0}_broken"
            let results = try await store.commit([broken, event("evt_c", .paymentSucceeded, order: "ord_c")])
            #expect((try? results[0].get()) == nil)
            #expect((try? results[1].get()) == .recorded(.applied))
            #expect(try await status("ord_c", endpoint) == "paid")
            #expect(try await count("SELECT count(*)::int FROM payment_events", endpoint) == 1)
        }
    }

    @Test func outOfOrderDeliveriesEndInTheRightState() async throws {
        try await withStore { store, committer, endpoint in
            // Payment before the order exists: stored as pending, applied when the order is created.
            #expect(try await committer.commit([event("evt_p1", .paymentSucceeded, order: "ord_late")])[0].get() == .recorded(.pending))
            try await store.seedOrders(tenant: "demo", orders: [("ord_late", 1999, "USD")])
            #expect(try await status("ord_late", endpoint) == "paid")

            // Refund before payment: deferred, applied right after the payment.
            try await store.seedOrders(tenant: "demo", orders: [("ord_r", 1999, "USD")])
            #expect(try await committer.commit([event("evt_r1", .refundSucceeded, order: "ord_r", amount: 500)])[0].get() == .recorded(.deferred))
            #expect(try await committer.commit([event("evt_r0", .paymentSucceeded, order: "ord_r")])[0].get() == .recorded(.applied))
            #expect(try await status("ord_r", endpoint) == "partially_refunded")

            // Failure after success: ignored, recorded, no regression.
            #expect(try await committer.commit([event("evt_f", .paymentFailed, order: "ord_r")])[0].get() == .recorded(.ignored))
            #expect(try await status("ord_r", endpoint) == "partially_refunded")
            let transitions = try await count("SELECT count(*)::int FROM order_transitions WHERE order_id = 'ord_r'", endpoint)
            #expect(transitions == 3)

            // Wrong amount: needs review, never paid.
            try await store.seedOrders(tenant: "demo", orders: [("ord_x", 1999, "USD")])
            _ = try await committer.commit([event("evt_x", .paymentSucceeded, order: "ord_x", amount: 1)])
            #expect(try await status("ord_x", endpoint) == "needs_review")
        }
    }
}

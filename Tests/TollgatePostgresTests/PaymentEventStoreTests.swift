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

    /// A commit stuck on a connection that silently stops forwarding (no error, no close, no
    /// server-side timeout, since the server never sees the query) is answered `timedOut` at the
    /// deadline, not when the connection recovers; readiness sees it while it lasts; and once the
    /// path is back the abandoned commit finishes and a retry finds the event already stored.
    @Test func aCommitStuckOnASilentConnectionIsAnsweredAtTheDeadline() async throws {
        try await support.withFreshDatabase { direct in
            try await support.withClient(direct) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
            }
            let proxy = TCPProxy(upstreamHost: direct.host, upstreamPort: direct.port)
            try await proxy.start()
            var viaProxy = direct
            viaProxy.port = proxy.port
            try await support.withClient(viaProxy) { client in
                var options = GroupCommitter.Options()
                options.commitTimeout = .milliseconds(500)
                let committer = GroupCommitter(store: PaymentEventStore(client: client, logger: support.logger), options: options)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await committer.run() }
                    defer { group.cancelAll() }
                    _ = try await committer.commit([event("evt_warm", .paymentSucceeded, order: "ord_warm")])  // pool connections open

                    await proxy.freeze()
                    let started = ContinuousClock.now
                    await #expect(throws: GroupCommitterError.timedOut) {
                        _ = try await committer.commit([event("evt_stuck", .paymentSucceeded, order: "ord_stuck")])
                    }
                    #expect(ContinuousClock.now - started < .seconds(2))
                    try await Task.sleep(for: .milliseconds(200))
                    #expect(committer.stuckCommit != nil)

                    await proxy.thaw()
                    try await TestEnvironment.waitUntil { committer.stuckCommit == nil }
                    let retry = try await committer.commit([event("evt_stuck", .paymentSucceeded, order: "ord_stuck")])
                    #expect(retry.count == 1)
                }
            }
            await proxy.stop()
            #expect(try await count("SELECT count(*) FROM payment_events WHERE provider_event_id = 'evt_stuck'", direct) == 1)
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

/// Links through payment references against the real Postgres: the races and the migration.
@Suite struct PaymentLinkTests {
    let support = MigratorTests()
    let tests = PaymentEventStoreTests()

    func payment(_ order: String, _ n: Int) -> PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_pay_\(n)", kind: .paymentSucceeded, orderID: order,
                     providerPaymentID: "pi_\(n)", amountMinor: 1999, currency: "USD", rawBody: Array("{}".utf8))
    }

    func refund(_ n: Int) -> PaymentEvent {
        PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_re_\(n)", kind: .refundSucceeded,
                     providerPaymentID: "pi_\(n)", facts: EventFacts(refundID: "re_\(n)"), amountMinor: 500, currency: "USD", rawBody: Array("{}".utf8))
    }

    /// A refund that finds no link and the payment that creates it, committed at the same moment
    /// by two transactions: without the reference lock each misses the other and the refund is
    /// stranded `pending`. Repeated over many pairs; every refund must apply.
    @Test func aRefundAndItsPaymentCommittedAtOnceNeverStrandTheRefund() async throws {
        try await tests.withStore { store, _, endpoint in
            let pairs = 150
            try await store.seedOrders(tenant: "demo", orders: (0..<pairs).map { ("ord_\($0)", 1999, "USD") })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<pairs {
                    group.addTask { _ = try await store.commit([refund(n)]) }
                    group.addTask { _ = try await store.commit([payment("ord_\(n)", n)]) }
                }
                try await group.waitForAll()
            }
            #expect(try await tests.count("SELECT count(*) FROM payment_events WHERE outcome IN ('pending', 'deferred')", endpoint) == 0)
            #expect(try await tests.count("SELECT count(*) FROM orders WHERE status = 'partially_refunded' AND refunded_minor = 500", endpoint) == pairs)
            #expect(try await tests.count("SELECT count(*) FROM order_links", endpoint) == pairs)
        }
    }

    /// Orders paid before migration 0004 get their payment's link and ledger from the events that
    /// paid them, so a refund pointing only at the payment still finds them.
    @Test func ordersPaidBeforeTheMigrationAreLinkedByIt() async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                let all = try Migration.bundled()
                try await Migrator(migrations: all.filter { $0.version < 4 }).apply(on: client, logger: support.logger)
                try await client.query("""
                    INSERT INTO orders (tenant, order_id, status, amount_minor, currency, refunded_minor) VALUES ('demo', 'ord_old', 'partially_refunded', 1999, 'USD', 300)
                    """)
                try await client.query("""
                    INSERT INTO payment_events (tenant, source, provider, provider_event_id, kind, order_id, provider_payment_id, amount_minor, currency,
                        understood, raw_body, outcome)
                    VALUES ('demo', 'stripe', 'stripe', 'evt_old', 'payment.succeeded', 'ord_old', 'pi_old', 1999, 'USD', true, '\\x7b7d', 'applied')
                    """)
                try await Migrator(migrations: all).apply(on: client, logger: support.logger)
                let store = PaymentEventStore(client: client, logger: support.logger)
                let refund = PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: "evt_new", kind: .refundSucceeded,
                                          providerPaymentID: "pi_old", facts: EventFacts(refundID: "re_new"), amountMinor: 1699, currency: "USD", rawBody: Array("{}".utf8))
                let outcome = try await store.commit([refund])
                #expect(try outcome[0].get() == .recorded(.applied))
                #expect(try await tests.count("SELECT count(*) FROM orders WHERE order_id = 'ord_old' AND status = 'refunded' AND refunded_minor = 1999", endpoint) == 1)
                // The old account column is the source: the old event is still a duplicate.
                var again = refund
                again.providerEventID = "evt_old"
                #expect(try await store.commit([again])[0].get() == .duplicate)
            }
        }
    }
}

/// Migration 0004 on orders already in flight: their refunds keep their ids, a dispute in progress
/// takes the first dispute reported after it, an order waiting for a human keeps waiting, and
/// refunds still waiting keep their identity.
@Suite struct LifecycleMigrationTests {
    let support = MigratorTests()
    let tests = PaymentEventStoreTests()

    @Test func ordersInFlightKeepTheirMoneyFactsAcrossTheMigration() async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                let all = try Migration.bundled()
                try await Migrator(migrations: all.filter { $0.version < 4 }).apply(on: client, logger: support.logger)
                func row(_ id: String, _ kind: String, _ order: String, _ payment: String, _ amount: Int64, _ outcome: String, _ body: String) async throws {
                    try await client.query("""
                        INSERT INTO payment_events (tenant, source, provider, provider_event_id, kind, order_id, provider_payment_id, amount_minor, currency,
                            understood, raw_body, outcome)
                        VALUES ('demo', 'stripe', 'stripe', \(id), \(kind), \(order), \(payment), \(amount), 'USD', true, convert_to(\(body), 'UTF8'), \(outcome))
                        """)
                }
                for (order, status, refunded) in [("ord_refunded", "partially_refunded", Int64(500)), ("ord_disputed", "disputed", 0), ("ord_review", "needs_review", 0),
                                                  ("ord_waiting", "pending_payment", 0)] {
                    try await client.query("INSERT INTO orders (tenant, order_id, status, amount_minor, currency, refunded_minor) VALUES ('demo', \(order), \(status), 2000, 'USD', \(refunded))")
                }
                try await row("evt_p1", "payment.succeeded", "ord_refunded", "pi_1", 2000, "applied", "{}")
                try await row("evt_r1", "refund.succeeded", "ord_refunded", "pi_1", 500, "applied",
                              #"{"id":"evt_r1","type":"charge.refunded","data":{"object":{"refunds":{"data":[{"id":"re_1","amount":500}]}}}}"#)
                try await row("evt_p2", "payment.succeeded", "ord_disputed", "pi_2", 2000, "applied", "{}")
                try await row("evt_w1", "refund.succeeded", "ord_waiting", "pi_4", 300, "deferred",
                              #"{"id":"evt_w1","type":"charge.refunded","data":{"object":{"refunds":{"data":[{"id":"re_a","amount":300}]}}}}"#)
                try await row("evt_w2", "refund.succeeded", "ord_waiting", "pi_4", 500, "deferred",
                              #"{"id":"evt_w2","type":"charge.refunded","data":{"object":{"refunds":{"data":[{"id":"re_b","amount":500}]}}}}"#)
                // A body Postgres cannot read as jsonb (a \u0000 escape) must not stop the migration.
                try await client.query("INSERT INTO orders (tenant, order_id, status, amount_minor, currency, refunded_minor) VALUES ('demo', 'ord_odd', 'partially_refunded', 2000, 'USD', 100)")
                try await row("evt_odd", "refund.succeeded", "ord_odd", "pi_5", 100, "applied", #"{"id":"evt_odd","data":{"object":{"description":"\u0000"}}}"#)
                try await Migrator(migrations: all).apply(on: client, logger: support.logger)

                let store = PaymentEventStore(client: client, logger: support.logger)
                func event(_ id: String, _ kind: PaymentEventKind, order: String? = nil, payment: String, facts: EventFacts = EventFacts(), amount: Int64) -> PaymentEvent {
                    PaymentEvent(tenant: "demo", source: "stripe", provider: .stripe, providerEventID: id, kind: kind, orderID: order, providerPaymentID: payment,
                                 facts: facts, amountMinor: amount, currency: "USD", rawBody: Array("{}".utf8))
                }
                func status(_ order: String) async throws -> String {
                    var result = ""
                    for try await (status, refunded) in try await client.query("SELECT status, refunded_minor FROM orders WHERE order_id = \(order)").decode((String, Int64).self) {
                        result = "\(status) \(refunded)"
                    }
                    return result
                }
                // The old refund reported again by id counts once; a new one adds.
                _ = try await store.commit([event("evt_r1b", .refundSucceeded, payment: "pi_1", facts: EventFacts(refundID: "re_1"), amount: 500)])
                #expect(try await status("ord_refunded") == "partially_refunded 500")
                _ = try await store.commit([event("evt_r2", .refundSucceeded, payment: "pi_1", facts: EventFacts(refundID: "re_2"), amount: 300)])
                #expect(try await status("ord_refunded") == "partially_refunded 800")
                // The dispute in progress is won under its real id.
                _ = try await store.commit([event("evt_d1", .disputeWon, payment: "pi_2", facts: EventFacts(disputeID: "dp_real"), amount: 2000)])
                #expect(try await status("ord_disputed") == "paid 0")
                // An order that waited for a human still does.
                _ = try await store.commit([event("evt_d2", .disputeOpened, order: "ord_review", payment: "pi_3", facts: EventFacts(disputeID: "dp_3"), amount: 2000)])
                #expect(try await status("ord_review") == "needs_review 0")
                // Two refunds that waited before the migration keep their own ids.
                _ = try await store.commit([event("evt_p4", .paymentSucceeded, order: "ord_waiting", payment: "pi_4", amount: 2000)])
                #expect(try await status("ord_waiting") == "partially_refunded 800")
                // The unreadable body's refund is kept under its event id.
                _ = try await store.commit([event("evt_r5", .refundSucceeded, order: "ord_odd", payment: "pi_5", facts: EventFacts(refundID: "re_5"), amount: 200)])
                #expect(try await status("ord_odd") == "partially_refunded 300")
            }
        }
    }
}

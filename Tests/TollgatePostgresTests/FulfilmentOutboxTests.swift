import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
import TollgateCore
import TollgateFulfilment
import TollgateGameBackendSim
import TollgateOrders
@testable import TollgatePostgres
import TollgateTestSupport

/// The fulfilment outbox against the real Postgres and the game-backend simulator over HTTP:
/// rows written with their transitions or not at all, delivered by workers that never attempt
/// one delivery twice at once, retried on the schedule, grants before revokes, one backend's
/// outage contained to its tenant, declines handed to a human, replays after an outage.
@Suite struct FulfilmentOutboxTests {
    let support = MigratorTests()
    static let secret = Secret("whsec_" + Data("tollgate-test-fulfilment-secret-key".utf8).base64EncodedString())

    struct Fixture: Sendable {
        var client: PostgresClient
        var events: PaymentEventStore
        var deliveries: DeliveryStore
        var backends: [String: GameBackendSettings]
        var logger: Logger
    }

    /// A fresh database, the stores subscribed for `backends`, and `body`.
    func withOutbox(_ backends: [GameBackendSettings], _ body: @Sendable (Fixture) async throws -> Void) async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                try await Migrator(migrations: Migration.bundled()).apply(on: client, logger: support.logger)
                let byTenant = Dictionary(uniqueKeysWithValues: backends.map { ($0.tenant, $0) })
                let subscriptions = byTenant.mapValues(\.events)
                try await body(Fixture(client: client, events: PaymentEventStore(client: client, logger: support.logger, fulfilment: subscriptions),
                                       deliveries: DeliveryStore(client: client, logger: support.logger, fulfilment: subscriptions),
                                       backends: byTenant, logger: support.logger))
            }
        }
    }

    /// The simulator on a free loopback port, its `POST /tollgate` URL given to `body`.
    static func withSimulator<T: Sendable>(_ simulator: GameBackendSimulator, _ body: @Sendable (String) async throws -> T) async throws -> T {
        try await GameBackendFixture.withSimulator(simulator, body)
    }

    /// Runs `workers` delivery workers while `body` runs.
    static func withWorkers<T: Sendable>(_ count: Int, _ fixture: Fixture, options: DeliveryWorker.Options = fastWorker(), _ body: @Sendable () async throws -> T) async throws -> T {
        let http = GameBackendClient.makeHTTPClient()
        do {
            let result = try await withThrowingTaskGroup(of: T?.self) { group in
                for index in 0..<count {
                    var options = options
                    options.workerID = "worker-\(index)"
                    let worker = DeliveryWorker(queue: fixture.deliveries, backends: fixture.backends, client: GameBackendClient(http: http),
                                                options: options, logger: fixture.logger)
                    group.addTask { try await worker.run(); return nil }
                }
                defer { group.cancelAll() }
                return try await body()
            }
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    static func fastWorker() -> DeliveryWorker.Options {
        var options = DeliveryWorker.Options()
        options.pollInterval = .milliseconds(20)
        return options
    }

    static func backend(_ tenant: String, url: String, schedule: [Duration] = [.milliseconds(50), .milliseconds(50), .milliseconds(50)],
                        events: Set<FulfilmentEvent> = FulfilmentEvent.defaultSubscription, inFlight: Int = 4, timeout: Duration = .seconds(5)) -> GameBackendSettings {
        GameBackendSettings(tenant: tenant, url: url, secrets: [secret], timeout: timeout, events: events, maximumInFlight: inFlight,
                            retrySchedule: RetrySchedule(delays: schedule, jitter: 0.1))
    }

    static func payment(_ tenant: String, _ order: String, id: String? = nil) -> PaymentEvent {
        PaymentEvent(tenant: tenant, source: "stripe", provider: .stripe, providerEventID: id ?? "evt_pay_\(order)", kind: .paymentSucceeded, orderID: order,
                     providerPaymentID: "pi_\(order)", facts: EventFacts(paymentReference: "pi_\(order)"), amountMinor: 1999, currency: "USD", rawBody: Array("{}".utf8))
    }

    static func refund(_ tenant: String, _ order: String) -> PaymentEvent {
        PaymentEvent(tenant: tenant, source: "stripe", provider: .stripe, providerEventID: "evt_refund_\(order)", kind: .refundSucceeded, orderID: order,
                     providerPaymentID: "pi_\(order)", facts: EventFacts(paymentReference: "pi_\(order)", refundID: "re_\(order)"),
                     amountMinor: 1999, currency: "USD", rawBody: Array("{}".utf8))
    }

    func seed(_ fixture: Fixture, tenant: String, orders: [String], player: String = "player-1") async throws {
        try await fixture.events.seedOrders(tenant: tenant, orders: orders.map { ($0, 1999, "USD") })
        try await fixture.client.query("UPDATE orders SET player_id = \(player) WHERE tenant = \(tenant) AND order_id = ANY(\(orders))", logger: fixture.logger)
    }

    func value(_ fixture: Fixture, _ query: PostgresQuery) async throws -> String {
        var result = ""
        for try await text in try await fixture.client.query(query, logger: fixture.logger).decode(String.self) { result = text }
        return result
    }

    /// Waits until `query` (one text value) reads `expected`, for at most `seconds`.
    func waitFor(_ fixture: Fixture, _ query: PostgresQuery, _ expected: String, seconds: Double = 20) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var last = ""
        while ContinuousClock.now < deadline {
            last = try await value(fixture, query)
            if last == expected { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let state = try await value(fixture, """
            SELECT string_agg(status || '/' || attempts || '/' || COALESCE(last_status::text, '-') || '/' || COALESCE(last_error, '-'), ', ' ORDER BY id)
            FROM (SELECT * FROM deliveries ORDER BY id LIMIT 12) d
            """)
        Issue.record("waited \(seconds) s for \(expected), last read \(last); deliveries: \(state)")
    }

    struct RolledBack: Error {}

    /// Outbox atomicity: the delivery row commits with its transition, carries the order as the
    /// transition left it, and a transaction rolled back after writing both leaves neither; a
    /// tenant without a game backend gets no rows at all.
    @Test func aDeliveryCommitsWithItsTransitionOrNotAtAll() async throws {
        try await withOutbox([Self.backend("shop", url: "http://127.0.0.1:9/tollgate")]) { fixture in
            try await seed(fixture, tenant: "shop", orders: ["o1", "o2"])
            try await fixture.events.seedOrders(tenant: "plain", orders: [("p1", 1999, "USD")])
            _ = try await fixture.events.commit([Self.payment("shop", "o1"), Self.payment("plain", "p1")])

            let body = try await value(fixture, "SELECT body FROM deliveries WHERE tenant = 'shop' AND order_id = 'o1' AND type = 'order.paid'")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            let data = try #require(object["data"] as? [String: Any])
            #expect(object["type"] as? String == "order.paid")
            #expect(data["order_id"] as? String == "o1" && data["player_id"] as? String == "player-1" && data["status"] as? String == "paid")
            #expect((data["amount_minor"] as? Int) == 1999 && (data["payment"] as? [String: Any])?["id"] as? String == "pi_o1")
            #expect(try await value(fixture, "SELECT count(*)::text FROM deliveries WHERE tenant = 'plain'") == "0")

            await #expect { try await fixture.client.transaction(logger: fixture.logger) { connection in
                    let plan = try await fixture.events.planCommit([Self.payment("shop", "o2")], on: connection)
                    try await fixture.events.write(plan, on: connection)
                    #expect(plan.deliveries.map(\.type) == [.orderPaid], "the plan did cause a delivery")
                    throw RolledBack()
                }
            } throws: { $0 is RolledBack }
            #expect(try await value(fixture, "SELECT count(*)::text FROM deliveries WHERE order_id = 'o2'") == "0")
            #expect(try await value(fixture, "SELECT status FROM orders WHERE order_id = 'o2'") == "pending_payment")
        }
    }

    /// A worker that leased a delivery and died: once its lease runs out another worker
    /// delivers it, once, and the dead one's late report changes nothing.
    @Test func aDeliveryLeasedByAWorkerThatDiedIsDeliveredByAnother() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            try await withOutbox([Self.backend("shop", url: url)]) { fixture in
                try await seed(fixture, tenant: "shop", orders: ["o1"])
                _ = try await fixture.events.commit([Self.payment("shop", "o1")])
                let crashed = try await fixture.deliveries.lease(capacity: ["shop": 4], limits: ["shop": 4], limit: 4, worker: "crashed", for: .seconds(60))
                #expect(crashed.count == 1)
                #expect(try await fixture.deliveries.lease(capacity: ["shop": 4], limits: ["shop": 4], limit: 4, worker: "other", for: .seconds(60)).isEmpty,
                        "a leased delivery is nobody else's while its lease lasts")
                // The worker died: its lease runs out (moved to the past rather than waited for).
                try await fixture.client.query("UPDATE deliveries SET lease_until = now() - interval '1 second'", logger: fixture.logger)
                try await Self.withWorkers(1, fixture) {
                    try await waitFor(fixture, "SELECT status FROM deliveries WHERE order_id = 'o1'", "delivered")
                }
                let late = AttemptRecord(startedAt: Date(), latency: .seconds(1), httpStatus: 200, error: nil, response: "", next: .delivered)
                #expect(try await fixture.deliveries.finish(crashed[0], late, worker: "crashed") == false)
                #expect(simulator.statistics.applied == 1 && simulator.statistics.grants == 1)
                #expect(try await value(fixture, "SELECT attempts || ' ' || (leased_by IS NULL)::text FROM deliveries WHERE order_id = 'o1'") == "2 true")
            }
        }
    }

    /// Two workers on one outbox: every delivery attempted exactly once, none by both.
    @Test func twoWorkersNeverAttemptTheSameDelivery() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            try await withOutbox([Self.backend("shop", url: url, inFlight: 16)]) { fixture in
                let orders = (0..<120).map { "o\($0)" }
                try await seed(fixture, tenant: "shop", orders: orders)
                _ = try await fixture.events.commit(orders.map { Self.payment("shop", $0) })
                try await Self.withWorkers(2, fixture) {
                    try await waitFor(fixture, "SELECT count(*)::text FROM deliveries WHERE status = 'delivered'", "120")
                }
                #expect(try await value(fixture, "SELECT count(*)::text FROM delivery_attempts") == "120")
                #expect(try await value(fixture, "SELECT count(DISTINCT worker)::text FROM delivery_attempts") == "2", "both workers took part")
                let stats = simulator.statistics
                #expect(stats.applied == 120 && stats.duplicates == 0 && stats.received == 120, "\(stats)")
            }
        }
    }

    /// A 429 with Retry-After: the next attempt is no sooner than the backend asked (and than
    /// the schedule says), and the attempt is recorded with the answer.
    @Test func retryAfterIsHonoured() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], script: .init(failPercent: 100, status: 429, retryAfter: 30), logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            try await withOutbox([Self.backend("shop", url: url, schedule: [.seconds(5), .seconds(5)])]) { fixture in
                try await seed(fixture, tenant: "shop", orders: ["o1"])
                _ = try await fixture.events.commit([Self.payment("shop", "o1")])
                try await Self.withWorkers(1, fixture) {
                    try await waitFor(fixture, "SELECT count(*)::text FROM delivery_attempts", "1")
                    try await Task.sleep(for: .milliseconds(200))
                }
                let wait = Double(try await value(fixture, "SELECT extract(epoch FROM d.next_attempt_at - a.started_at)::text FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id")) ?? 0
                #expect(wait >= 29.5 && wait <= 31.5, "next attempt \(wait) s after the first")
                #expect(try await value(fixture, "SELECT status || ' ' || last_status || ' ' || attempts FROM deliveries") == "pending 429 1")
            }
        }
    }

    /// 410 Gone disables the endpoint: the delivery waits with its attempt given back, nothing
    /// more is sent; resumed by an operator, it is delivered.
    @Test func goneDisablesTheEndpointUntilResumed() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], script: .init(gone: true), logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            try await withOutbox([Self.backend("shop", url: url)]) { fixture in
                try await seed(fixture, tenant: "shop", orders: ["o1", "o2"])
                _ = try await fixture.events.commit([Self.payment("shop", "o1"), Self.payment("shop", "o2")])
                try await Self.withWorkers(1, fixture) {
                    try await waitFor(fixture, "SELECT state FROM game_endpoints WHERE tenant = 'shop'", "disabled")
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await value(fixture, "SELECT string_agg(status || ':' || attempts, ',') FROM deliveries") == "pending:0,pending:0")
                    let received = simulator.statistics.received
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(simulator.statistics.received == received && received <= 2, "nothing sent while disabled")

                    simulator.script = .init()
                    let endpoint = try await fixture.deliveries.setEndpoint(tenant: "shop", active: true, reason: "game fixed its URL")
                    #expect(endpoint.state == "active")
                    try await waitFor(fixture, "SELECT count(*)::text FROM deliveries WHERE status = 'delivered'", "2")
                }
            }
        }
    }

    /// The game declines a grant: the delivery ends declined, the order goes to needs_review
    /// (fulfilment_declined) through a transition naming the delivery, and a backend that takes
    /// review notices is told; the refund that queued behind the grant is never sent (the game
    /// granted nothing to take back).
    @Test func aDeclinedGrantPutsTheOrderInReview() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], script: .init(declinePlayers: ["banned-1"]), logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            try await withOutbox([Self.backend("shop", url: url, events: FulfilmentEvent.defaultSubscription.union([.orderNeedsReview]))]) { fixture in
                try await seed(fixture, tenant: "shop", orders: ["o1"], player: "banned-1")
                _ = try await fixture.events.commit([Self.payment("shop", "o1")])
                _ = try await fixture.events.commit([Self.refund("shop", "o1")])
                try await Self.withWorkers(1, fixture) {
                    try await waitFor(fixture, "SELECT string_agg(type || ':' || status, ',' ORDER BY id) FROM deliveries",
                                      "order.paid:declined,order.refunded:declined,order.needs_review:delivered")
                }
                #expect(simulator.statistics.revokes == 0 && simulator.statistics.revokesBeforeGrant == 0, "\(simulator.statistics)")
                #expect(try await value(fixture, "SELECT status || ' ' || array_to_string(review_reasons, ',') FROM orders WHERE order_id = 'o1'")
                        == "needs_review fulfilment_declined")
                #expect(try await value(fixture, """
                    SELECT t.from_status || '>' || t.to_status || ' ' || (t.delivery_id = d.id)::text FROM order_transitions t
                    JOIN deliveries d ON d.type = 'order.paid' WHERE t.event_id IS NULL
                    """) == "refunded>needs_review true")
                #expect(simulator.statistics.declined == 1 && simulator.statistics.grants == 0)
            }
        }
    }

    /// Grants and revokes of many orders through a backend failing half its answers: every
    /// delivery ends delivered, and no order's revoke reached the game before its grant.
    @Test func aRevokeNeverOvertakesItsGrantUnderRetries() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], script: .init(failPercent: 50, status: 503), seed: 7, logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            let schedule = Array(repeating: Duration.milliseconds(30), count: 30)
            try await withOutbox([Self.backend("shop", url: url, schedule: schedule, inFlight: 8)]) { fixture in
                let orders = (0..<30).map { "o\($0)" }
                try await seed(fixture, tenant: "shop", orders: orders)
                _ = try await fixture.events.commit(orders.map { Self.payment("shop", $0) })
                _ = try await fixture.events.commit(orders.map { Self.refund("shop", $0) })
                try await Self.withWorkers(2, fixture) {
                    try await waitFor(fixture, "SELECT count(*)::text FROM deliveries WHERE status = 'delivered'", "60")
                }
                let stats = simulator.statistics
                #expect(stats.failedInjected > 0 && stats.revokesBeforeGrant == 0 && stats.grants == 30 && stats.revokes == 30, "\(stats)")
                for order in orders {
                    let types = simulator.deliveries.filter { $0.orderID == order }.map(\.type.rawValue)
                    #expect(types == ["order.paid", "order.refunded"], "\(order): \(types)")
                }
            }
        }
    }

    /// One tenant's backend hangs past its timeout for many retry rounds (the schedule's hour,
    /// compressed): it never holds more than its own in-flight cap, and the other tenant's
    /// deliveries all arrive meanwhile.
    @Test func aHangingBackendDoesNotDelayAnotherTenant() async throws {
        let hanging = GameBackendSimulator(secrets: [Self.secret], script: .init(slowMilliseconds: 3000), logger: support.logger)
        let healthy = GameBackendSimulator(secrets: [Self.secret], logger: support.logger)
        try await Self.withSimulator(hanging) { hangingURL in
            try await Self.withSimulator(healthy) { healthyURL in
                let schedule = Array(repeating: Duration.milliseconds(10), count: 50)
                try await withOutbox([Self.backend("stuck", url: hangingURL, schedule: schedule, inFlight: 2, timeout: .seconds(1)),
                                      Self.backend("live", url: healthyURL)]) { fixture in
                    try await seed(fixture, tenant: "stuck", orders: (0..<40).map { "s\($0)" })
                    try await seed(fixture, tenant: "live", orders: (0..<40).map { "l\($0)" })
                    _ = try await fixture.events.commit((0..<40).map { Self.payment("stuck", "s\($0)") })
                    _ = try await fixture.events.commit((0..<40).map { Self.payment("live", "l\($0)") })
                    var options = Self.fastWorker()
                    options.maximumInFlight = 8
                    try await Self.withWorkers(1, fixture, options: options) {
                        try await waitFor(fixture, "SELECT count(*)::text FROM deliveries WHERE tenant = 'live' AND status = 'delivered'", "40", seconds: 10)
                    }
                    #expect(try await value(fixture, "SELECT count(*)::text FROM deliveries WHERE tenant = 'stuck' AND status = 'delivered'") == "0")
                    #expect(healthy.statistics.applied == 40)
                    // No more than two attempts of the stuck tenant ever overlapped.
                    let overlap = try await value(fixture, """
                        SELECT COALESCE(max(c), 0)::text FROM (SELECT (SELECT count(*) FROM delivery_attempts b JOIN deliveries e ON e.id = b.delivery_id
                            WHERE e.tenant = 'stuck' AND b.started_at <= a.started_at AND b.started_at + b.latency_ms * interval '1 ms' > a.started_at) AS c
                        FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.tenant = 'stuck') s
                        """)
                    #expect((Int(overlap) ?? 99) <= 2, "stuck tenant's overlapping attempts: \(overlap)")
                }
            }
        }
    }

    /// An outage long enough to exhaust the schedule leaves dead letters; when the game is back,
    /// one replay of the endpoint since the outage began delivers them all, once each.
    @Test func deadLettersAreReplayedAfterAnOutage() async throws {
        let simulator = GameBackendSimulator(secrets: [Self.secret], script: .init(failPercent: 100, status: 500), logger: support.logger)
        try await Self.withSimulator(simulator) { url in
            try await withOutbox([Self.backend("shop", url: url, schedule: [.milliseconds(10), .milliseconds(10)])]) { fixture in
                let outageBegan = Date().addingTimeInterval(-1)
                let orders = (0..<10).map { "o\($0)" }
                try await seed(fixture, tenant: "shop", orders: orders)
                _ = try await fixture.events.commit(orders.map { Self.payment("shop", $0) })
                try await Self.withWorkers(1, fixture) {
                    try await waitFor(fixture, "SELECT count(*)::text FROM deliveries WHERE status = 'failed'", "10")
                    #expect(try await value(fixture, "SELECT min(attempts)::text FROM deliveries") == "3", "the whole schedule was tried")
                    simulator.script = .init()
                    #expect(try await fixture.deliveries.replay(tenant: "shop", since: outageBegan) == 10)
                    try await waitFor(fixture, "SELECT count(*)::text FROM deliveries WHERE status = 'delivered'", "10")
                }
                #expect(simulator.statistics.applied == 10 && simulator.statistics.grants == 10)
                let listed = try await fixture.deliveries.list(tenant: "shop", status: "delivered", limit: 5)
                #expect(listed.count == 5 && listed.allSatisfy { $0.attemptLog.count == 4 && $0.attemptLog.first?.httpStatus == 500 })
            }
        }
    }
}

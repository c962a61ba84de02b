import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgateLoad
import TollgatePostgres
import TollgateTestSupport

/// The shipped `smoke` scenario against a live edge (TLS, Redis, Postgres) and the provider
/// simulator, shortened for the suite; its `--verify` must pass and its report must be written.
@Suite(.serialized) struct LoadSmokeTests {
    static let sources = [
        WebhookSource(tenant: CheckoutTests.tenant, name: "standard", provider: .standardWebhooks, secrets: [Secret("whsec_c21va2Utc3RhbmRhcmQta2V5")]),
        WebhookSource(tenant: CheckoutTests.tenant, name: "adyen", provider: .adyen, secrets: [Secret(String(repeating: "5A", count: 32))]),
        WebhookSource(tenant: CheckoutTests.tenant, name: "paddle", provider: .paddle, secrets: [Secret("pdl_ntfset_smoke")]),
        WebhookSource(tenant: CheckoutTests.tenant, name: "xsolla", provider: .xsolla, secrets: [Secret("smoke-xsolla")]),
        WebhookSource(tenant: CheckoutTests.tenant, name: "checkout", provider: .checkout, secrets: [Secret("smoke-checkout")]),
        // Google Play's pushes name no order: a stream of their own, stored and waiting.
        WebhookSource(tenant: CheckoutTests.tenant, name: "play", provider: .googlePlay, secrets: [], google: GooglePlaySourceSettings(
            verifier: ProviderLifecycle.googleVerifier(), packageNames: [ProviderLifecycle.googlePackage], signingKey: ProviderLifecycle.googleKey)),
    ]

    /// Runs `scenario` through the fixture's edge with `--verify`, against the test Postgres.
    static func run(_ scenario: Scenario, against fixture: CheckoutTests.Fixture, simulatorURL: String? = nil, output: URL, logger: Logger,
                    progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> LoadResults {
        let postgres = PostgresClient(configuration: PostgresEndpoint(url: TestEnvironment.postgresURL)!.clientConfiguration(poolSize: 2),
                                      backgroundLogger: logger)
        let session = LoadSession(scenario: scenario, catalog: fixture.catalog, catalogDirectory: fixture.products.directory, postgres: postgres,
                                  trustRootsPath: fixture.caPath, verify: true, simulatorURL: simulatorURL, outputDirectory: output.path, logger: logger)
        return try await withThrowingTaskGroup(of: LoadResults?.self) { group in
            group.addTask { await postgres.run(); return nil }
            defer { group.cancelAll() }
            return try await session.run(progress: progress)
        }
    }

    @Test func smokeScenarioRunsAndVerifiesClean() async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("loadtests/scenarios/smoke.yaml").path
        var scenario = try ScenarioParser.parse(String(contentsOfFile: path, encoding: .utf8), file: path)
        scenario.tenant = CheckoutTests.tenant
        scenario.duration = .seconds(5)
        scenario.seedOrders = 100
        let output = try TestEnvironment.makeTemporaryDirectory("tollgate-smoke")
        var logger = Logger(label: "test.load")
        logger.logLevel = .warning
        try await CheckoutTests.withCheckout(sources: Self.sources) { fixture in
            scenario.target = fixture.edge.edge
            let simulatorURL = "http://127.0.0.1:\(fixture.simulator.boundPort.withLockedValue { $0 }!)"
            // Checkout buys from the catalog the edge prices from: the shop's gems_500 is its only item in USD.
            let results = try await Self.run(scenario, against: fixture, simulatorURL: simulatorURL, output: output, logger: logger)
            print(results.table)
            #expect(results.passed, "\(results.table)")
            let verification = try #require(results.verification)
            #expect(verification.checks.count >= 12)
            for check in verification.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
            let priced = try #require(verification.checks.first { $0.name == "every checkout order is priced from the catalog" })
            #expect(!priced.detail.hasPrefix("no catalog") && !priced.detail.contains(" 0 lines sold under it"), "orders were priced: \(priced.detail)")
            for name in ["every checkout order holds the items it was asked for", "every checkout order's amount is the sum of its lines",
                         "no checkout refused for its prices or items"] {
                #expect(verification.checks.contains { $0.name == name }, "\(name)")
            }
            #expect(results.checkoutProblems?["price-changed"] == nil && results.checkoutProblems?["item-unavailable"] == nil, "\(results.checkoutProblems ?? [:])")
            // Every kind was sent and answered as it should be.
            let kinds = Set(results.kinds.map(\.kind))
            #expect(kinds == Set(RequestKind.allCases.map(\.rawValue)), "\(kinds)")
            for kind in results.kinds { #expect(kind.latency.errors == 0, "\(kind.kind): \(kind.statuses)") }
            #expect(results.kinds.first { $0.kind == "forged" }?.statuses.keys.allSatisfy { ["400", "401"].contains($0) } == true)
            #expect(results.overall.latency.count >= 150, "40/s for 5 s")
            // The Play stream was sent and kept: purchases (and voidings) of the run's own tokens,
            // stored and waiting for an order that names them, none applied to a seeded one.
            let play = try await CheckoutTests().sql("""
                SELECT count(*) FILTER (WHERE outcome = 'pending' AND order_id IS NULL) || '/' || count(*) FROM payment_events
                WHERE tenant = '\(CheckoutTests.tenant)' AND source = 'play' AND received_at >= '\(ISO8601DateFormatter().string(from: results.startedAt))'
                """)
            let parts = play.split(separator: "/").compactMap { Int($0) }
            #expect(parts.count == 2 && parts[1] > 0 && parts[0] == parts[1], "Play pushes stored waiting / stored: \(play)")
            let html = try String(contentsOf: output.appendingPathComponent("smoke.html"), encoding: .utf8)
            #expect(html.contains("id=\"throughput-by-status\""))
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("smoke.json").path))
        }
    }

    /// The shipped `fulfilment` scenario through a live edge whose tenant's game fails 30% of its
    /// answers: --verify passes (every paid order's grant acknowledged once, revokes after grants,
    /// every delivery completed) and reports the latency; and the same checks, given a game that
    /// saw a revoke first or missed a grant, fail.
    /// `presign`: every request drafted and signed before the clock starts, each for its planned
    /// send time. Paddle's signatures carry a timestamp the edge accepts 5 s either way, so over
    /// 9 s a request signed for the wrong moment (when it was signed, or the run's start) is
    /// refused: every webhook answered 2xx shows each was signed for when it was sent.
    @Test func presignedRequestsAreSignedForTheirSendTimeAndVerifyClean() async throws {
        var scenario = try ScenarioParser.parse("""
            name: presigned
            http: h1
            rate: 40
            duration: 9s
            presign: true
            mix:
              - { kind: webhook, weight: 6 }
              - { kind: duplicate, weight: 2 }
              - { kind: forged, weight: 1 }
              - { kind: stale, weight: 1 }
            duplicates: { delay: 1s }
            """)
        scenario.tenant = CheckoutTests.tenant
        scenario.seedOrders = 200
        scenario.sources = ["paddle", "standard", "adyen"]
        let output = try TestEnvironment.makeTemporaryDirectory("tollgate-smoke")
        defer { try? FileManager.default.removeItem(at: output) }
        var logger = Logger(label: "test.load")
        logger.logLevel = .warning
        try await CheckoutTests.withCheckout(sources: Self.sources) { fixture in
            scenario.target = fixture.edge.edge
            let progress = NIOLockedValueBox<[String]>([])
            let results = try await Self.run(scenario, against: fixture, output: output, logger: logger) { line in
                progress.withLockedValue { $0.append(line) }
            }
            #expect(results.passed, "\(results.table)")
            #expect(progress.withLockedValue { $0 }.contains { $0.hasPrefix("signing 360 requests ahead") }, "one request per planned send time")
            #expect(results.overall.latency.count == 360)
            let webhooks = try #require(results.kinds.first { $0.kind == "webhook" })
            #expect(webhooks.latency.errors == 0 && webhooks.statuses.keys.allSatisfy { ["200", "204"].contains($0) }, "\(webhooks.statuses)")
            #expect(results.kinds.first { $0.kind == "stale" }?.statuses.keys.allSatisfy { ["400", "401"].contains($0) } == true)
            let verification = try #require(results.verification)
            for check in verification.checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        }
    }

    @Test func fulfilmentScenarioVerifiesAgainstAFlakyGame() async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("loadtests/scenarios/fulfilment.yaml").path
        var scenario = try ScenarioParser.parse(String(contentsOfFile: path, encoding: .utf8), file: path)
        scenario.tenant = CheckoutTests.tenant
        scenario.duration = .seconds(4)
        scenario.stages = []
        scenario.rate = 40
        scenario.seedOrders = 100
        scenario.sources = ["standard", "adyen", "paddle", "checkout"]
        scenario.thresholds = []
        var logger = Logger(label: "test.load")
        logger.logLevel = .warning
        try await FulfilmentEdgeTests.withGame(.init(failPercent: 30)) { game, url in
            scenario.gameSimulator = String(url.dropLast("/tollgate".count))
            let backend = GameBackendSettings(tenant: CheckoutTests.tenant, url: url, secrets: [FulfilmentEdgeTests.secret], timeout: .seconds(5),
                                              maximumInFlight: 16, retrySchedule: RetrySchedule(delays: Array(repeating: .milliseconds(100), count: 15)))
            try await CheckoutTests.withCheckout(sources: Self.sources, gameBackend: backend) { fixture in
                scenario.target = fixture.edge.edge
                let postgres = PostgresClient(configuration: PostgresEndpoint(url: TestEnvironment.postgresURL)!.clientConfiguration(poolSize: 2),
                                              backgroundLogger: logger)
                let session = LoadSession(scenario: scenario, catalog: fixture.catalog, catalogDirectory: fixture.products.directory, postgres: postgres,
                                          trustRootsPath: fixture.caPath, verify: true, simulatorURL: nil, outputDirectory: nil, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await postgres.run() }
                    defer { group.cancelAll() }
                    let results = try await session.run { _ in }
                    let verification = try #require(results.verification)
                    let names = ["every paid order's grant acknowledged once", "every revoke after its grant", "every delivery completed",
                                 "commit-to-delivery latency"]
                    for name in names {
                        let check = try #require(verification.checks.first { $0.name == name }, "\(name)")
                        #expect(check.passed, "\(name): \(check.detail)")
                    }
                    #expect(verification.checks.allSatisfy { $0.passed }, "\(results.table)")
                    #expect(game.statistics.failedInjected > 0 && game.statistics.revokes > 0, "\(game.statistics)")

                    // The same checks against a game that saw things otherwise.
                    let orders = Array(Set(game.deliveries.map(\.orderID)))
                    let acknowledged = game.deliveries.map {
                        LoadVerifier.GameDelivery(webhookID: $0.webhookID, type: $0.type.rawValue, orderID: $0.orderID, outcome: $0.outcome.rawValue)
                    }
                    let verifier = LoadVerifier(client: postgres, tenant: CheckoutTests.tenant, logger: logger)
                    let revoked = try #require(acknowledged.first { ["order.refunded", "order.charged_back"].contains($0.type) })
                    let reordered = [revoked] + acknowledged.filter { $0 != revoked }
                    let missing = acknowledged.filter { !($0.type == "order.paid" && $0.orderID == revoked.orderID) }
                    func check(_ name: String, _ game: [LoadVerifier.GameDelivery]) async throws -> Bool {
                        try await verifier.fulfilmentChecks(orders: orders, game: game).first { $0.name == name }?.passed ?? true
                    }
                    #expect(try await check("every revoke after its grant", acknowledged))
                    #expect(try await check("every revoke after its grant", reordered) == false)
                    #expect(try await check("every paid order's grant acknowledged once", missing) == false)
                    #expect(try await check("every paid order's grant acknowledged once", acknowledged + [acknowledged.first { $0.type == "order.paid" }!]) == false)
                }
            }
        }
    }
}

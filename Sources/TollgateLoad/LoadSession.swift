import AsyncHTTPClient
import Foundation
import TollgateCheckout
import Logging
import NIOCore
import PostgresNIO
import TollgateConfig
import TollgateCore

/// One load test from scenario to verdict: seed orders, mint player tokens, run, wait for the
/// edge to settle, verify against Postgres, write the JSON results and the HTML report.
public struct LoadSession: Sendable {
    public var scenario: Scenario
    public var catalog: TenantCatalog
    /// The product catalogs' directory (`<tenant>.yaml`), the one the edge prices from: checkout
    /// requests buy the tenant's SKUs at its prices, and `--verify` prices the stored lines from it.
    public var catalogDirectory: String
    public var postgres: PostgresClient?
    public var trustRootsPath: String?
    public var verify: Bool
    /// The provider simulator's base URL, for checkout scenarios (its counters are verified too).
    public var simulatorURL: String?
    public var outputDirectory: String?
    /// A faults file (`FaultFileParser`), read when the run stops sending: each fault's window is
    /// shaded on the report's latency chart and gets its figures in the results.
    public var faultsPath: String?
    public var logger: Logger

    public init(scenario: Scenario, catalog: TenantCatalog, catalogDirectory: String, postgres: PostgresClient?, trustRootsPath: String?, verify: Bool,
                simulatorURL: String?, outputDirectory: String?, faultsPath: String? = nil, logger: Logger) {
        self.scenario = scenario
        self.catalog = catalog
        self.catalogDirectory = catalogDirectory
        self.postgres = postgres
        self.trustRootsPath = trustRootsPath
        self.verify = verify
        self.simulatorURL = simulatorURL
        self.outputDirectory = outputDirectory
        self.faultsPath = faultsPath
        self.logger = logger
    }

    public func run(progress: @escaping @Sendable (String) -> Void) async throws -> LoadResults {
        let runID = String((0..<8).map { _ in "abcdefghijkmnpqrstuvwxyz23456789".randomElement()! })
        let sources = try loadSources()
        let products = try loadProducts()
        let orders = try await seedOrders(runID: runID)
        let players = try await mintPlayers(runID: runID)
        progress("run \(runID): \(scenario.name), \(orders.count) orders seeded, \(sources.count) sources, \(players.count) players"
                 + (products.map { ", \($0.products.count) SKUs in \($0.currency) from \($0.catalog.file) (\($0.contentHash.prefix(12)))" } ?? ""))
        let plan = LoadPlan(scenario: scenario, runID: runID, sources: sources, orders: orders, players: players, seed: UInt64.random(in: 1...UInt64.max),
                            products: products)
        let runner = try LoadRunner(scenario: scenario, plan: plan, trustRootsPath: trustRootsPath, keepingRequests: faultsPath != nil, progress: progress)
        var (results, finished) = await runner.run()
        await runner.shutdown()
        if finished.slotsWithoutMoney > 0 {
            progress("note: \(finished.slotsWithoutMoney) genuine slots found no seeded order to pay or refund and sent "
                     + (players.isEmpty ? "redeliveries" : "status reads") + " instead; seed more --orders for a run this long")
        }
        if let faultsPath {
            let faults = try FaultFileParser.parse(try String(contentsOfFile: faultsPath, encoding: .utf8), file: faultsPath)
            results.faults = FaultReport(faults: faults, requests: runner.recordedRequests, runStart: results.startedAt, runSeconds: results.seconds)
        }
        if products != nil { results.checkoutProblems = finished.ledger.checkoutProblems }

        if verify {
            guard let postgres else { throw ScenarioError("--verify needs a Postgres URL (--postgres or TOLLGATE_POSTGRES_URL)") }
            try await settle(progress: progress, orders: finished.ledger.orderIDs)
            var stats: (@Sendable () async throws -> LoadVerifier.SimulatorCounts)?
            if let simulatorURL {
                stats = { LoadVerifier.SimulatorCounts(json: try await Self.fetchJSON(simulatorURL + "/_sim/stats")) }
            }
            // The catalog in force now: an edit during the run shows as lines under another hash.
            let current = products.map { products in (try? LoadProducts.catalog(directory: catalogDirectory, tenant: scenario.tenant)) ?? products.catalog }
            var game: (@Sendable () async throws -> [LoadVerifier.GameDelivery])?
            if let url = scenario.gameSimulator {
                game = { @Sendable in LoadVerifier.GameDelivery.list(json: try await Self.fetchJSON(url + "/_sim/deliveries", limit: 256 << 20)) }
            }
            let verifier = LoadVerifier(client: postgres, tenant: scenario.tenant, logger: logger, simulatorStats: stats,
                                        catalog: current, runCatalogHash: products?.contentHash, gameDeliveries: game)
            results.verification = try await verifier.verify(finished.ledger)
        }
        if let outputDirectory {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
            try results.json().write(to: URL(fileURLWithPath: outputDirectory).appendingPathComponent("\(scenario.name).json"))
            try Data(HTMLReport.render(results).utf8).write(to: URL(fileURLWithPath: outputDirectory).appendingPathComponent("\(scenario.name).html"))
        }
        return results
    }

    func loadSources() throws -> [LoadSource] {
        let all = (catalog.sources[scenario.tenant] ?? [:]).values.sorted { $0.name < $1.name }
        let chosen = scenario.sources.isEmpty ? all : all.filter { scenario.sources.contains($0.name) }
        let needsWebhooks = scenario.mix.contains { [.webhook, .duplicate, .forged, .stale, .outOfOrder].contains($0.kind) }
        if needsWebhooks, chosen.isEmpty { throw ScenarioError("tenant \(scenario.tenant) has none of the sources \(scenario.sources)") }
        // A source with nothing to sign with (an Apple, Google Play or PayPal source without a
        // development signing identity or key) is left out.
        return chosen.compactMap { source in
            source.signer.map { LoadSource(name: source.name, signer: $0, forger: source.forger, account: source.account) }
        }
    }

    /// The tenant's catalog narrowed to what checkout requests can buy; nil when the mix sends none.
    /// Refuses to start when the tenant has no catalog or nothing priced in the scenario's currency.
    func loadProducts() throws -> LoadProducts? {
        guard scenario.mix.contains(where: { [.checkout, .checkoutRetry].contains($0.kind) }) else { return nil }
        return try LoadProducts.load(directory: catalogDirectory, tenant: scenario.tenant, currency: scenario.currency, country: scenario.country,
                                     maximumTotalMinor: catalog.checkout[scenario.tenant]?.maximumTotalMinor ?? CheckoutSettings.Defaults.maximumTotalMinor)
    }

    /// Orders in `pending_payment`, inserted in one statement: ids `lt<run>_<n>`, 19.99 USD.
    func seedOrders(runID: String) async throws -> [LoadPlan.SeededOrder] {
        guard scenario.seedOrders > 0 else { return [] }
        guard let postgres else { throw ScenarioError("seeding orders needs a Postgres URL (--postgres or TOLLGATE_POSTGRES_URL)") }
        let ids = (0..<scenario.seedOrders).map { "lt\(runID)_\($0)" }
        try await postgres.query("""
            INSERT INTO orders (tenant, order_id, status, amount_minor, currency)
            SELECT \(scenario.tenant), id, 'pending_payment', 1999, 'USD' FROM unnest(\(ids)::text[]) AS id
            """, logger: logger)
        return ids.map { LoadPlan.SeededOrder(id: $0, amountMinor: 1999, currency: "USD") }
    }

    /// Player session tokens signed with the tenant's HS256 key, as its Game Hub backend would.
    func mintPlayers(runID: String) async throws -> [LoadPlan.Player] {
        guard scenario.mix.contains(where: { [.checkout, .checkoutRetry, .status].contains($0.kind) }) else { return [] }
        guard let key = catalog.checkout[scenario.tenant]?.playerTokenKeys.first(where: { $0.algorithm == .hs256 }) else {
            throw ScenarioError("checkout requests need an hs256 player token key in tenant \(scenario.tenant)'s checkout section")
        }
        var players: [LoadPlan.Player] = []
        for index in 0..<scenario.players {
            let id = "lt\(runID)_p\(index)"
            players.append(.init(id: id, token: try await PlayerTokenMinter.hs256(
                secret: key.material.exposedValue, kid: key.kid, tenant: scenario.tenant, player: id, expires: Date().addingTimeInterval(7200),
                // The session vouches for the scenario's country: only then does the edge give its regional prices.
                country: scenario.country)))
        }
        return players
    }

    /// Waits until callbacks still on their way have landed: the simulator has nothing pending
    /// and the edge's group commits have drained (a short quiet period).
    func settle(progress: @Sendable (String) -> Void, orders: [String]) async throws {
        if let simulatorURL {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let stats = LoadVerifier.SimulatorCounts(json: try await Self.fetchJSON(simulatorURL + "/_sim/stats"))
                if stats.deliveriesPending == 0 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        try await Task.sleep(for: .seconds(1))
        if scenario.gameSimulator != nil, let postgres {
            // Deliveries retried on the tenant's schedule: wait for the last of the run's.
            let deadline = ContinuousClock.now + .seconds(300)
            var pending = try await LoadVerifier.pendingDeliveries(client: postgres, tenant: scenario.tenant, orders: orders, logger: logger)
            while pending > 0, ContinuousClock.now < deadline {
                progress("\(pending) deliveries to the game still pending")
                try await Task.sleep(for: .seconds(2))
                pending = try await LoadVerifier.pendingDeliveries(client: postgres, tenant: scenario.tenant, orders: orders, logger: logger)
            }
        }
        progress("verifying against Postgres")
    }

    static func fetchJSON(_ url: String, limit: Int = 1 << 20) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: limit)
        return (try JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }
}

import AsyncHTTPClient
import Foundation
import TollgateCheckout
import Logging
import NIOCore
import NIOHTTP1
import Testing
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgateHTTP
import TollgateRedisStores
import TollgateProviderSim
import TollgateRedis
import TollgateTestSupport

/// Checkout end to end: TLS edge, player tokens, Idempotency-Key, Postgres, and the Stripe-shaped
/// provider simulator opening payments and delivering the callbacks that pay the order.
@Suite(.serialized) struct CheckoutTests {
    static let tenant = "shop"
    static let origin = "https://hub.shop.example"
    static let tokenKey = "checkout-test-player-token-key-0123456789"
    static let webhookSecret = "whsec_checkout_test_secret"

    struct Fixture {
        let edge: EdgeHarness.Running
        let simulator: ProviderSimulator
        let client: HTTPClient
        let catalog: TenantCatalog
        /// The shop's product catalog directory (`shop.yaml`), which the edge reloads.
        let products: CatalogStore
        let caPath: String
        var orders: String { edge.edge + "/v1/checkout/\(CheckoutTests.tenant)/orders" }
    }

    /// The simulator, then an edge whose tenant `shop` opens payments at it, then a client.
    static func withCheckout(
        redisURL: String = TestEnvironment.redisURL,
        rules: String? = nil,
        sources: [WebhookSource] = [],
        paymentsTimeout: Duration = .seconds(3),
        attempts: Int = 3,
        simulator tweak: (inout ProviderSimulator.Configuration) -> Void = { _ in },
        edgeLogger: Logger? = nil,
        postgresURL: String = TestEnvironment.postgresURL,
        configure: (inout TollgateConfiguration) -> Void = { _ in },
        gameBackend: GameBackendSettings? = nil,
        _ body: (Fixture) async throws -> Void
    ) async throws {
        let certificates = try await TestCertificates.make()
        var configuration = ProviderSimulator.Configuration()
        configuration.port = 0
        configuration.webhookSecret = webhookSecret
        configuration.trustRootsPath = certificates.caPath
        configuration.settleDelay = .milliseconds(100)
        configuration.retryBaseDelay = .milliseconds(100)
        configuration.hangDuration = .seconds(3)
        tweak(&configuration)
        var logger = Logger(label: "test.sim")
        logger.logLevel = .warning
        let simulator = ProviderSimulator(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulator.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { simulator.boundPort.withLockedValue { $0 } != nil }
            let simPort = simulator.boundPort.withLockedValue { $0 }!
            let catalog = TenantCatalog(
                sources: [WebhookSource(tenant: tenant, name: "stripe", provider: .stripe, secrets: [Secret(webhookSecret)])] + sources,
                checkout: [CheckoutSettings(
                    tenant: tenant, origins: [origin], maximumTotalMinor: 50_000,
                    playerTokenKeys: [.init(kid: "k1", algorithm: .hs256, material: Secret(tokenKey))],
                    payments: .init(baseURL: "http://127.0.0.1:\(simPort)", secretKey: Secret("sk_test_shop"), webhookSource: "stripe",
                                    connectTimeout: .seconds(1), timeout: paymentsTimeout, attempts: attempts)
                )],
                gameBackends: gameBackend.map { [$0] } ?? []
            )
            let productsDirectory = try TestEnvironment.makeTemporaryDirectory("tollgate-checkout-catalog")
            try Self.shopCatalog.write(to: productsDirectory.appendingPathComponent("\(tenant).yaml"), atomically: true, encoding: .utf8)
            let products = try CatalogStore(directory: productsDirectory.path, logger: Logger(label: "test.catalog"))
            var store: RulesStore?
            if let rules {
                let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-checkout-rules")
                try rules.write(to: directory.appendingPathComponent("_defaults.yaml"), atomically: true, encoding: .utf8)
                store = try RulesStore(directory: directory.path, logger: Logger(label: "test.rules"))
            }
            try await EdgeHarness.withServer(
                certificates: certificates, redisURL: redisURL, tenants: catalog, rules: store, catalog: products,
                postgresURL: postgresURL, logger: edgeLogger, configure: configure
            ) { edge in
                simulator.deliverCallbacks(to: edge.edge + "/v1/webhooks/{tenant}/stripe")
                try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                    try await body(Fixture(edge: edge, simulator: simulator, client: client, catalog: catalog, products: products, caPath: certificates.caPath))
                }
                // Let callbacks still on their way land before this edge stops.
                try? await TestEnvironment.waitUntil(timeout: .seconds(5)) { simulator.statistics.deliveriesPending == 0 }
            }
        }
    }

    static let shopCatalog = """
        items:
          - sku: gems_500
            title: 500 Gems
            prices: { EUR: 499, USD: 549 }
            max_quantity: 10
          - sku: starter_pack
            title: Starter Pack
            prices: { EUR: 299 }
            purchase_limit: 1
          - sku: retired
            title: Retired
            active: false
            prices: { EUR: 100 }
        """

    static func token(player: String, audience: String = tenant, expires: Date = Date().addingTimeInterval(600),
                      kid: String = "k1", key: String = tokenKey) async throws -> String {
        try await PlayerTokenMinter.hs256(secret: key, kid: kid, tenant: audience, player: player, expires: expires)
    }

    /// A page's order; `unit` is the price it showed the player (nil: none).
    static func orderBody(player: String, sku: String = "gems_500", quantity: Int = 2, unit: Int? = 499) -> String {
        let shown = unit.map { #","unit_amount_minor":\#($0)"# } ?? ""
        return #"{"player_id":"\#(player)","items":[{"sku":"\#(sku)","quantity":\#(quantity)\#(shown)}],"currency":"EUR","country":"DE","return_url":"https://hub.shop.example/done"}"#
    }

    static func unique(_ prefix: String) -> String { prefix + UUID().uuidString.prefix(12).lowercased() }

    func post(_ fixture: Fixture, player: String, key: String?, body: String, token: String? = nil, origin: String? = nil) async throws -> (HTTPClientResponse, String) {
        let bearer: String
        if let token { bearer = token } else { bearer = try await Self.token(player: player) }
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("Authorization", "Bearer \(bearer)")]
        if let key { headers.append(("Idempotency-Key", key)) }
        if let origin { headers.append(("Origin", origin)) }
        return try await fixture.client.fetch(fixture.orders, method: .POST, headers: headers, body: .bytes(ByteBuffer(string: body)))
    }

    func sql(_ query: String) async throws -> String {
        try await ChildProcess.run("/usr/bin/psql", [TestEnvironment.postgresURL, "-tAc", query]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func orderCount(player: String) async throws -> Int {
        Int(try await sql("SELECT count(*) FROM orders WHERE tenant = '\(Self.tenant)' AND player_id = '\(player)'")) ?? -1
    }

    // MARK: - Idempotency

    @Test func fiftyConcurrentIdenticalPostsMakeOneOrderAndOnePayment() async throws {
        try await Self.withCheckout(simulator: { $0.defaultBehaviour = .delay(.milliseconds(300)) }) { fixture in
            let player = Self.unique("p_"), key = Self.unique("key-")
            let body = Self.orderBody(player: player)
            let token = try await Self.token(player: player)
            let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        let (response, text) = try await post(fixture, player: player, key: key, body: body, token: token)
                        return (Int(response.status.code), text)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let statuses = results.map(\.0)
            #expect(Set(statuses).isSubset(of: [201, 409]), "\(Set(statuses))")
            let created = results.filter { $0.0 == 201 }.map(\.1)
            #expect(!created.isEmpty)
            #expect(Set(created).count == 1, "every 201 is the same answer")
            #expect(try await orderCount(player: player) == 1)
            #expect(fixture.simulator.statistics.paymentIntentsCreated == 1)

            // After it finished, a retry is a replay of the very same answer.
            let (replay, replayBody) = try await post(fixture, player: player, key: key, body: body, token: token)
            #expect(replay.status == .created)
            #expect(replay.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(replayBody == created.first)
            let answer = try jsonObject(replayBody)
            #expect(answer["status"] as? String == "pending_payment")
            #expect(answer["amount_minor"] as? Int == 998)
            #expect((answer["payment"] as? [String: Any])?["client_secret"] as? String != nil)
        }
    }

    @Test func sameKeyOtherBodyIs422AndAMissingOrOverlongKeyIs400() async throws {
        try await Self.withCheckout { fixture in
            let player = Self.unique("p_"), key = Self.unique("key-")
            let (first, _) = try await post(fixture, player: player, key: key, body: Self.orderBody(player: player))
            #expect(first.status == .created)
            let (other, otherBody) = try await post(fixture, player: player, key: key, body: Self.orderBody(player: player, quantity: 3))
            #expect(other.status == .unprocessableEntity)
            #expect(try jsonObject(otherBody)["type"] as? String == "urn:tollgate:problem:idempotency-key-reused")

            let (missing, missingBody) = try await post(fixture, player: player, key: nil, body: Self.orderBody(player: player))
            #expect(missing.status == .badRequest)
            #expect(try jsonObject(missingBody)["field"] as? String == "Idempotency-Key")
            let (long, _) = try await post(fixture, player: player, key: String(repeating: "k", count: 256), body: Self.orderBody(player: player))
            #expect(long.status == .badRequest)
            #expect(try await orderCount(player: player) == 1)
        }
    }

    @Test func validationErrorsNameTheFieldAndAreReplayed() async throws {
        try await Self.withCheckout { fixture in
            let player = Self.unique("p_"), key = Self.unique("key-")
            let body = #"{"player_id":"\#(player)","items":[{"sku":"gems","quantity":0,"unit_amount_minor":100}],"currency":"EURO","return_url":"http://x"}"#
            let (first, firstBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(first.status == .unprocessableEntity)
            let fields = (try jsonObject(firstBody)["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
            #expect(Set(fields) == ["items[0].quantity", "currency", "return_url"])
            let (again, againBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(again.status == .unprocessableEntity)
            #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(againBody == firstBody)
            let (malformed, _) = try await post(fixture, player: player, key: Self.unique("key-"), body: "{not json")
            #expect(malformed.status == .badRequest)
            let (tooMuch, tooMuchBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, quantity: 11, unit: nil))
            #expect(tooMuch.status == .unprocessableEntity, "over the catalog's 10 per order: \(tooMuchBody)")
            #expect(try await orderCount(player: player) == 0)
        }
    }

    /// Redis forgets (flushed), the provider forgets its idempotency keys and its clock moves 25 h:
    /// the fingerprint in Postgres still refuses another body under the key, and the retry of the
    /// same request finds the same order and retrieves its one payment.
    @Test func redisAndTheProviderForgettingStillMakeOneOrderAndOnePayment() async throws {
        let redis = try RedisServerProcess()
        try await redis.start()
        defer { Task { try? await redis.stop() } }
        try await Self.withCheckout(redisURL: redis.url) { fixture in
            let player = Self.unique("p_"), key = Self.unique("key-")
            let body = Self.orderBody(player: player)
            let (first, firstBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(first.status == .created)
            let firstPayment = try #require(try jsonObject(firstBody)["payment"] as? [String: Any])
            _ = try await fixture.edge.server.redis.send(RESPCommand("FLUSHALL"))
            let (other, otherBody) = try await post(fixture, player: player, key: key, body: Self.orderBody(player: player, quantity: 3))
            #expect(other.status == .unprocessableEntity, "Redis forgot, the stored fingerprint did not: \(otherBody)")
            #expect(try jsonObject(otherBody)["type"] as? String == "urn:tollgate:problem:idempotency-key-reused")

            _ = try await fixture.edge.server.redis.send(RESPCommand("FLUSHALL"))
            _ = fixture.simulator.forgetIdempotencyKeys()
            _ = fixture.simulator.advanceClock(by: .seconds(25 * 3600))
            let (second, secondBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(second.status == .created, "\(secondBody)")
            #expect(second.headers.first(name: "Idempotent-Replayed") == nil, "Redis forgot; Postgres answered")
            let again = try jsonObject(secondBody)
            #expect(try again["order_id"] as? String == jsonObject(firstBody)["order_id"] as? String)
            let payment = try #require(again["payment"] as? [String: Any])
            #expect(payment["id"] as? String == firstPayment["id"] as? String)
            #expect(payment["client_secret"] as? String == firstPayment["client_secret"] as? String)
            #expect(try await orderCount(player: player) == 1)
            let stats = fixture.simulator.statistics
            #expect(stats.paymentIntentsCreated == 1, "never a second payment for one order")
            #expect(stats.retrieves == 1 && stats.replays == 0)
        }
    }

    // MARK: - Prices from the catalog

    /// The issue's reproduction: a page that sends a unit price of 1 for a 499 SKU. The order is
    /// never made at 1, the provider is never asked for 1; without a shown price the edge charges 499.
    @Test func aTamperedPriceIsRefusedAndTheProviderIsAskedForTheCatalogPrice() async throws {
        try await Self.withCheckout { fixture in
            let player = Self.unique("p_")
            let (tampered, tamperedBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, quantity: 1, unit: 1))
            #expect(tampered.status == .conflict, "\(tamperedBody)")
            let problem = try jsonObject(tamperedBody)
            #expect(problem["type"] as? String == "urn:tollgate:problem:price-changed")
            #expect((problem["prices"] as? [[String: Any]])?.first?["unit_amount_minor"] as? Int == 499)
            #expect(try await orderCount(player: player) == 0)
            #expect(fixture.simulator.statistics.requests == 0, "the provider never heard of it")

            let (priced, pricedBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, quantity: 1, unit: nil))
            #expect(priced.status == .created, "\(pricedBody)")
            let order = try jsonObject(pricedBody)
            #expect(order["amount_minor"] as? Int == 499)
            let paymentID = try #require((order["payment"] as? [String: Any])?["id"] as? String)
            let simulator = "http://127.0.0.1:\(fixture.simulator.boundPort.withLockedValue { $0 }!)"
            let (_, intentBody) = try await fixture.client.fetch(simulator + "/v1/payment_intents/\(paymentID)", headers: [("Authorization", "Bearer sk_test_shop")])
            #expect(try jsonObject(intentBody)["amount"] as? Int == 499, "the provider was asked for the catalog's price: \(intentBody)")
            #expect(try await sql("SELECT sku || ':' || quantity || 'x' || unit_amount_minor FROM order_lines WHERE order_id = '\(order["order_id"] as? String ?? "")'") == "gems_500:1x499")

            for (sku, type) in [("no_such_sku", "item-unavailable"), ("retired", "item-unavailable")] {
                let (response, text) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, sku: sku, quantity: 1, unit: nil))
                #expect(response.status == .unprocessableEntity, "\(sku): \(text)")
                #expect(try jsonObject(text)["type"] as? String == "urn:tollgate:problem:\(type)")
                #expect(text.contains("items[0]") && text.contains(sku))
            }
            // A limited offer, once per player.
            let (starter, _) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, sku: "starter_pack", quantity: 1, unit: nil))
            #expect(starter.status == .created)
            let (secondStarter, secondText) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, sku: "starter_pack", quantity: 1, unit: nil))
            #expect(secondStarter.status == .conflict)
            #expect(try jsonObject(secondText)["type"] as? String == "urn:tollgate:problem:purchase-limit-reached")
        }
    }

    /// Ops edit the catalog while the edge runs: a broken edit is refused with its file:line and the
    /// old prices stay; a good edit takes effect, and each order line records the catalog it was sold under.
    @Test func aBrokenCatalogEditKeepsTheOldCatalogAGoodOneTakesEffect() async throws {
        try await Self.withCheckout { fixture in
            let file = URL(fileURLWithPath: fixture.products.directory).appendingPathComponent("\(Self.tenant).yaml")
            let before = try await fixture.client.fetch(fixture.edge.admin + "/admin/catalog")
            let hashBefore = try #require(((try jsonObject(before.1)["tenants"] as? [String: Any])?[Self.tenant] as? [String: Any])?["content_hash"] as? String)

            try Self.shopCatalog.replacingOccurrences(of: "prices: { EUR: 499, USD: 549 }", with: "prices: { EUR: 4.99 }")
                .write(to: file, atomically: true, encoding: .utf8)
            let (refused, refusedBody) = try await fixture.client.fetch(fixture.edge.admin + "/admin/catalog/reload", method: .POST)
            #expect(refused.status == .unprocessableEntity)
            #expect(refusedBody.contains("\(file.path):4:"), "the diagnostic names the file and line: \(refusedBody)")
            let player = Self.unique("p_")
            let (old, oldBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, quantity: 1, unit: nil))
            let oldAmount = try jsonObject(oldBody)["amount_minor"] as? Int
            #expect(old.status == .created && oldAmount == 499, "the catalog in force stayed")

            try Self.shopCatalog.replacingOccurrences(of: "prices: { EUR: 499, USD: 549 }", with: "prices: { EUR: 599 }")
                .write(to: file, atomically: true, encoding: .utf8)
            let (reloaded, _) = try await fixture.client.fetch(fixture.edge.admin + "/admin/catalog/reload", method: .POST)
            #expect(reloaded.status == .ok)
            let (stale, staleBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, quantity: 1, unit: 499))
            #expect(stale.status == .conflict, "the page still shows 499: \(staleBody)")
            let (new, newBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player, quantity: 1, unit: 599))
            let newAmount = try jsonObject(newBody)["amount_minor"] as? Int
            #expect(new.status == .created && newAmount == 599)

            let after = try await fixture.client.fetch(fixture.edge.admin + "/admin/catalog")
            let hashAfter = ((try jsonObject(after.1)["tenants"] as? [String: Any])?[Self.tenant] as? [String: Any])?["content_hash"] as? String
            #expect(hashAfter != nil && hashAfter != hashBefore)
            let hashes = try await sql("""
                SELECT string_agg(DISTINCT l.catalog_hash, ',' ORDER BY l.catalog_hash) FROM order_lines l JOIN orders o USING (tenant, order_id)
                WHERE o.tenant = '\(Self.tenant)' AND o.player_id = '\(player)'
                """)
            #expect(Set(hashes.split(separator: ",").map(String.init)) == [hashBefore, hashAfter!])
        }
    }

    // MARK: - Auth, ownership, CORS

    @Test func badTokensAre401AndOtherPlayersOrdersAre404() async throws {
        try await Self.withCheckout { fixture in
            let player = Self.unique("p_")
            let body = Self.orderBody(player: player)
            let tokens = [
                ("expired", try await Self.token(player: player, expires: Date().addingTimeInterval(-60))),
                ("wrong audience", try await Self.token(player: player, audience: "other-tenant")),
                ("wrong key", try await Self.token(player: player, key: "another-key-that-is-long-enough-0123456789")),
                ("unknown kid", try await Self.token(player: player, kid: "k9")),
                ("sub mismatch", try await Self.token(player: Self.unique("p_"))),
                ("garbage", "not.a.jwt"),
            ]
            for (name, token) in tokens {
                let (response, text) = try await post(fixture, player: player, key: Self.unique("key-"), body: body, token: token)
                #expect(response.status == .unauthorized, "\(name): \(text)")
            }
            let (none, _) = try await fixture.client.fetch(fixture.orders, method: .POST, headers: [("Idempotency-Key", "k")], body: .bytes(ByteBuffer(string: body)))
            #expect(none.status == .unauthorized)
            #expect(try await orderCount(player: player) == 0)

            let (created, createdBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: body)
            #expect(created.status == .created)
            let orderID = try #require(try jsonObject(createdBody)["order_id"] as? String)
            let url = fixture.orders + "/" + orderID
            let (own, ownBody) = try await fixture.client.fetch(url, headers: [("Authorization", "Bearer \(try await Self.token(player: player))")])
            #expect(own.status == .ok)
            #expect(try jsonObject(ownBody)["order_id"] as? String == orderID)
            let (other, _) = try await fixture.client.fetch(url, headers: [("Authorization", "Bearer \(try await Self.token(player: Self.unique("p_")))")])
            #expect(other.status == .notFound)
            let (missing, _) = try await fixture.client.fetch(fixture.orders + "/ord_missing", headers: [("Authorization", "Bearer \(try await Self.token(player: player))")])
            #expect(missing.status == .notFound)
        }
    }

    @Test func corsPreflightAnswersListedOriginsOnly() async throws {
        try await Self.withCheckout { fixture in
            let preflight = [("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization, idempotency-key, content-type")]
            let (listed, _) = try await fixture.client.fetch(fixture.orders, method: .OPTIONS, headers: preflight + [("Origin", Self.origin)])
            #expect(listed.status == .noContent)
            #expect(listed.headers.first(name: "Access-Control-Allow-Origin") == Self.origin)
            #expect(listed.headers.first(name: "Access-Control-Allow-Methods")?.contains("POST") == true)
            #expect(listed.headers.first(name: "Access-Control-Allow-Headers")?.contains("Idempotency-Key") == true)

            let (unlisted, _) = try await fixture.client.fetch(fixture.orders, method: .OPTIONS, headers: preflight + [("Origin", "https://evil.example")])
            #expect(unlisted.headers.first(name: "Access-Control-Allow-Origin") == nil)
            #expect(unlisted.headers.first(name: "Access-Control-Allow-Methods") == nil)

            // An error answer to a listed origin is readable by the page; to another origin it is not.
            let player = Self.unique("p_")
            let (error, _) = try await post(fixture, player: player, key: nil, body: "{}", origin: Self.origin)
            #expect(error.status == .badRequest)
            #expect(error.headers.first(name: "Access-Control-Allow-Origin") == Self.origin)
            let (foreign, _) = try await post(fixture, player: player, key: nil, body: "{}", origin: "https://evil.example")
            #expect(foreign.headers.first(name: "Access-Control-Allow-Origin") == nil)
        }
    }

    @Test func checkoutIsLimitedPerPlayerAndPerClientAddress() async throws {
        let rules = """
            rules:
              - name: checkout-per-player
                match: { route: checkout, method: POST }
                rate: 2/min
                burst: 2
                by: player
              - name: checkout-per-ip
                match: { route: checkout, method: POST }
                rate: 5/min
                burst: 5
                by: client_ip
            """
        // A Redis of its own: the address budget (127.0.0.1) must not carry over from another run.
        let redis = try RedisServerProcess()
        try await redis.start()
        defer { Task { try? await redis.stop() } }
        try await Self.withCheckout(redisURL: redis.url, rules: rules) { fixture in
            let player = Self.unique("p_")
            var statuses: [Int] = []
            for _ in 0..<3 {
                let (response, _) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player))
                statuses.append(Int(response.status.code))
            }
            #expect(statuses == [201, 201, 429], "the third POST of one player is over 2/min")
            // Other players from the same address: admitted until the address's budget (5) is spent.
            var others: [Int] = []
            for _ in 0..<4 {
                let other = Self.unique("p_")
                let (response, text) = try await post(fixture, player: other, key: Self.unique("key-"), body: Self.orderBody(player: other))
                others.append(Int(response.status.code))
                if response.status == .tooManyRequests { #expect(try jsonObject(text)["rule"] as? String == "checkout-per-ip", "\(text)") }
            }
            #expect(others == [201, 201, 201, 429], "3 admitted + 2 of the first player = 5 from this address")
            #expect(try await orderCount(player: player) == 2)
        }
    }

    // MARK: - Postgres failing

    /// Postgres goes silent (a proxy that stops forwarding: connections stay open, nothing comes
    /// back) mid-checkout. The page is answered 503 at the deadline, not after the pool gives up;
    /// once Postgres answers again, the retry with the same key makes one order and one payment.
    @Test func aCheckoutWhilePostgresIsSilentAnswers503AtTheDeadlineAndItsRetryMakesOneOrder() async throws {
        let target = try #require(URLComponents(string: TestEnvironment.postgresURL))
        let proxy = TCPProxy(upstreamHost: target.host ?? "127.0.0.1", upstreamPort: target.port ?? 5432)
        try await proxy.start()
        defer { Task { await proxy.stop() } }
        var viaProxy = target
        viaProxy.port = proxy.port
        try await Self.withCheckout(postgresURL: viaProxy.string!, configure: { $0.postgres.statementTimeout = .seconds(1) }) { fixture in
            // Warm: a pool connection exists (retried: the 1 s statement_timeout is the whole edge's).
            let warm = Self.unique("p_"), warmKey = Self.unique("key-")
            var warmed = false
            for _ in 0..<20 where !warmed {
                warmed = try await post(fixture, player: warm, key: warmKey, body: Self.orderBody(player: warm)).0.status == .created
                if !warmed { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(warmed)

            await proxy.freeze()
            let player = Self.unique("p_"), key = Self.unique("key-")
            let body = Self.orderBody(player: player)
            let asked = ContinuousClock.now
            let (refused, refusedBody) = try await post(fixture, player: player, key: key, body: body)
            let waited = ContinuousClock.now - asked
            #expect(refused.status == .serviceUnavailable, "\(refusedBody)")
            #expect(refused.headers.first(name: "Retry-After") != nil)
            #expect(refused.headers.first(name: "Content-Type") == "application/problem+json")
            // The deadline is 1 s; without one the request waited for the pool (a minute or more).
            #expect(waited < .seconds(10), "answered after \(waited)")
            #expect(fixture.simulator.statistics.paymentIntentsCreated == 1, "no payment opened without a stored order")

            // Postgres answers again; the abandoned create reaches it past its deadline and rolls
            // back: no order the page was told was not stored (it may since have been refused).
            await proxy.thaw()
            try await TestEnvironment.waitUntil(timeout: .seconds(20)) {
                let (_, metrics) = try await HTTPClient.shared.fetch(fixture.edge.admin + "/metrics")
                return metrics.split(separator: "\n").contains { line in
                    line.hasPrefix("tollgate_checkout_store_calls_outstanding ") && line.split(separator: " ").last.flatMap { Double($0) } == 0
                }
            }
            #expect(try await orderCount(player: player) == 0)
            var retried: (HTTPClientResponse, String)?
            for _ in 0..<40 {
                let attempt = try await post(fixture, player: player, key: key, body: body)
                retried = attempt
                if attempt.0.status == .created { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            let (response, text) = try #require(retried)
            #expect(response.status == .created, "\(text)")
            #expect(try await orderCount(player: player) == 1)
            #expect(fixture.simulator.statistics.paymentIntentsCreated == 2, "one payment each for the warm-up and this order")
        }
    }

    // MARK: - The provider failing

    @Test func upstreamTimeoutLeavesTheOrderCreatedAndARetryOpensThePayment() async throws {
        try await Self.withCheckout(paymentsTimeout: .seconds(1), simulator: { $0.hangDuration = .milliseconds(1500) }) { fixture in
            fixture.simulator.script([.timeout])
            let player = Self.unique("p_"), key = Self.unique("key-")
            let body = Self.orderBody(player: player)
            let (first, firstBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(first.status == .gatewayTimeout, "\(firstBody)")
            #expect(first.headers.first(name: "Retry-After") != nil)
            let problem = try jsonObject(firstBody)
            #expect(problem["type"] as? String == "urn:tollgate:problem:upstream-timeout")
            let orderID = try #require(problem["order_id"] as? String)
            #expect(try await sql("SELECT status || ' ' || (last_error IS NOT NULL) FROM orders WHERE order_id = '\(orderID)'") == "created true")

            // Not stored: the same key goes through again, on the same order. (While the provider
            // still holds the first request, it answers 409 idempotency_key_in_use, as Stripe does.)
            try await TestEnvironment.waitUntil { fixture.simulator.statistics.requests == 1 && !fixture.simulator.hasRequestsInFlight }
            let (second, secondBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(second.status == .created, "\(secondBody)")
            #expect(try jsonObject(secondBody)["order_id"] as? String == orderID)
            #expect(try await orderCount(player: player) == 1)
        }
    }

    @Test func upstream5xxIsRetriedWithTheSameKeyThenAnswered502() async throws {
        try await Self.withCheckout(attempts: 3) { fixture in
            fixture.simulator.script([.error, .error, .error])
            let player = Self.unique("p_")
            let (response, text) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player))
            #expect(response.status == .badGateway, "\(text)")
            let stats = fixture.simulator.statistics
            #expect(stats.requests == 3, "three attempts")
            #expect(stats.paymentIntentsCreated == 0)
        }
    }

    @Test func declineIsAFinal402ThatIsReplayed() async throws {
        try await Self.withCheckout { fixture in
            fixture.simulator.script([.decline])
            let player = Self.unique("p_"), key = Self.unique("key-")
            let body = Self.orderBody(player: player)
            let (first, firstBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(first.status == .paymentRequired, "\(firstBody)")
            #expect(try jsonObject(firstBody)["decline_code"] as? String == "generic_decline")
            let (again, againBody) = try await post(fixture, player: player, key: key, body: body)
            #expect(again.status == .paymentRequired)
            #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(againBody == firstBody)
            #expect(fixture.simulator.statistics.requests == 1)
        }
    }

    @Test func anOpenBreakerAnswers503AtOnceWithoutCallingTheProvider() async throws {
        try await Self.withCheckout(attempts: 1) { fixture in
            fixture.simulator.script(Array(repeating: .error, count: 5))
            let player = Self.unique("p_")
            for _ in 0..<5 {
                let (response, _) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player))
                #expect(response.status == .badGateway)
            }
            let requestsBefore = fixture.simulator.statistics.requests
            let (open, openBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player))
            #expect(open.status == .serviceUnavailable, "\(openBody)")
            #expect(try jsonObject(openBody)["type"] as? String == "urn:tollgate:problem:upstream-circuit-open")
            #expect(Int(open.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
            #expect(fixture.simulator.statistics.requests == requestsBefore, "the provider was not called")
            #expect(try await orderCount(player: player) == 5, "nothing written while the breaker is open")
        }
    }

    // MARK: - The whole journey

    @Test func checkoutThenTheProvidersCallbackPaysTheOrderExactlyOnce() async throws {
        // The simulator delivers each event twice, as providers sometimes do.
        try await Self.withCheckout(simulator: { $0.deliveryCopies = 2 }) { fixture in
            let player = Self.unique("p_")
            let (created, createdBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player),
                                                        origin: Self.origin)
            #expect(created.status == .created, "\(createdBody)")
            let orderID = try #require(try jsonObject(createdBody)["order_id"] as? String)
            let token = try await Self.token(player: player)
            var status = ""
            try await TestEnvironment.waitUntil(timeout: .seconds(15)) {
                let (_, text) = try await fixture.client.fetch(fixture.orders + "/" + orderID, headers: [("Authorization", "Bearer \(token)")])
                status = try jsonObject(text)["status"] as? String ?? ""
                return status == "paid"
            }
            #expect(status == "paid")
            try await TestEnvironment.waitUntil(timeout: .seconds(15)) { fixture.simulator.statistics.deliveriesPending == 0 }
            #expect(fixture.simulator.statistics.deliveriesAcknowledged == 2)
            #expect(try await sql("SELECT count(*) FROM payment_events WHERE tenant = 'shop' AND order_id = '\(orderID)'") == "1")
            #expect(try await sql("SELECT count(*) FROM order_transitions WHERE order_id = '\(orderID)' AND outcome = 'applied' AND to_status = 'paid'") == "1")

            // Later, the provider announces a refund of the payment: the order follows.
            let paymentID = try #require((try jsonObject(createdBody)["payment"] as? [String: Any])?["id"] as? String)
            let simulatorURL = "http://127.0.0.1:\(fixture.simulator.boundPort.withLockedValue { $0 }!)"
            let (refund, _) = try await fixture.client.fetch(simulatorURL + "/_sim/payment_intents/\(paymentID)/events", method: .POST,
                                                             body: .bytes(ByteBuffer(string: #"{"kind":"refund.succeeded"}"#)))
            #expect(refund.status == .accepted)
            try await TestEnvironment.waitUntil(timeout: .seconds(15)) {
                try await sql("SELECT status FROM orders WHERE order_id = '\(orderID)'") == "refunded"
            }
        }
    }

    @Test func callbacksTheEdgeCannotTakeAreRetriedWithBackoffUntilAcknowledged() async throws {
        try await Self.withCheckout { fixture in
            let edgeURL = fixture.edge.edge + "/v1/webhooks/{tenant}/stripe"
            fixture.simulator.deliverCallbacks(to: "https://127.0.0.1:1/v1/webhooks/{tenant}/stripe")  // nothing listens
            fixture.simulator.script([.fail])
            let player = Self.unique("p_")
            let (created, createdBody) = try await post(fixture, player: player, key: Self.unique("key-"), body: Self.orderBody(player: player))
            #expect(created.status == .created)
            let orderID = try #require(try jsonObject(createdBody)["order_id"] as? String)
            try await TestEnvironment.waitUntil { fixture.simulator.statistics.deliveryAttempts >= 2 }
            #expect(try await sql("SELECT status FROM orders WHERE order_id = '\(orderID)'") == "pending_payment")
            fixture.simulator.deliverCallbacks(to: edgeURL)  // the endpoint is fixed; the next retry lands
            try await TestEnvironment.waitUntil(timeout: .seconds(15)) {
                try await sql("SELECT status FROM orders WHERE order_id = '\(orderID)'") == "failed"
            }
            try await TestEnvironment.waitUntil { fixture.simulator.statistics.deliveriesAcknowledged == 1 }
            #expect(fixture.simulator.statistics.deliveriesAbandoned == 0)
        }
    }
}

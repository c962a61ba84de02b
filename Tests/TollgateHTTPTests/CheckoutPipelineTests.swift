import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TollgateCatalog
import TollgateCheckout
import TollgateConfig
import TollgateCore
@testable import TollgateHTTP
import TollgatePayments

/// Every answer the checkout pipeline can give, decided in process: the real middleware and
/// routes in HummingbirdTesting's router mode, with fakes for Postgres, Redis, the limiter and
/// the payment provider. The end-to-end journey against the real parts is `CheckoutTests`.
@Suite struct CheckoutPipelineTests {
    static let tenant = "shop"
    static let tokenKey = "pipeline-test-player-token-key-0123456789"
    static let settings = CheckoutSettings(
        tenant: tenant, origins: ["https://hub.shop.example"], maximumTotalMinor: 50_000,
        playerTokenKeys: [.init(kid: "k1", algorithm: .hs256, material: Secret(tokenKey))],
        payments: .init(baseURL: "https://payments.invalid", secretKey: Secret("sk_test"), webhookSource: "stripe",
                        connectTimeout: .seconds(1), timeout: .seconds(1), attempts: 1)
    )

    /// The shop's catalog: what the pipeline prices from.
    static let catalog = ProductCatalog(tenant: tenant, items: [
        "gems_500": CatalogItem(sku: "gems_500", title: "500 Gems", prices: ["EUR": 499, "USD": 549], countryPrices: ["CH": ["EUR": 520]], maximumQuantity: 10),
        "retired": CatalogItem(sku: "retired", title: "Retired", active: false, prices: ["EUR": 100]),
        "usd_only": CatalogItem(sku: "usd_only", title: "USD only", prices: ["USD": 100]),
    ], contentHash: "hash-1", file: "catalog/shop.yaml")

    final class Edge: Sendable {
        let orders = FakeOrders()
        let records = FakeIdempotency()
        let provider = FakeProvider()
        let catalog = NIOLockedValueBox(CheckoutPipelineTests.catalog)
        let limiter: FakeLimiter?
        init(limiter: FakeLimiter? = nil) { self.limiter = limiter }
    }

    /// A body as a page sends it; `unit` is the price it showed (nil: none shown).
    static func body(player: String = "p1", sku: String = "gems_500", quantity: Int = 2, unit: Int? = 499, currency: String = "EUR", country: String = "DE") -> String {
        let shown = unit.map { #","unit_amount_minor":\#($0)"# } ?? ""
        return #"{"player_id":"\#(player)","items":[{"sku":"\#(sku)","quantity":\#(quantity)\#(shown)}],"currency":"\#(currency)","country":"\#(country)","return_url":"https://hub.shop.example/done"}"#
    }

    static func token(player: String = "p1", country: String? = nil) async throws -> String {
        try await PlayerTokenMinter.hs256(secret: tokenKey, kid: "k1", tenant: tenant, player: player, expires: Date().addingTimeInterval(600), country: country)
    }

    /// Runs `body` against an edge built on `edge`'s fakes.
    func withClient(_ edge: Edge, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let routes = try await CheckoutRoutes.make(
            tenants: TenantCatalog(checkout: [Self.settings]), products: { [catalog = edge.catalog] in $0 == Self.tenant ? catalog.withLockedValue { $0 } : nil }, payments: [Self.tenant: edge.provider], orders: edge.orders,
            idempotency: { _ in edge.records }, rateLimiter: edge.limiter, rateLimitHeadersOnAdmitted: true, logger: Logger(label: "test")
        )
        let webhooks = WebhookRoutes(tenants: TenantCatalog(), deduplicator: FakeClaims(), committer: FakeCommitter(.outcome(.duplicate)),
                                     rateLimiter: nil, rateLimitHeadersOnAdmitted: false)
        let app = Application(router: TollgateServer.makeEdgeRouter(bodyLimit: 4096, readiness: .alwaysReady, webhooks: webhooks, checkout: routes))
        try await app.test(.router) { client in try await body(client) }
    }

    static func headers(token: String?, key: String?) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return headers
    }

    func create(_ client: some TestClientProtocol, token: String?, key: String? = "key-1", body: String = Self.body(),
                tenant: String = Self.tenant) async throws -> TestResponse {
        try await client.execute(uri: "/v1/checkout/\(tenant)/orders", method: .post, headers: Self.headers(token: token, key: key),
                                 body: ByteBuffer(string: body))
    }

    static func json(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
    }

    @Test func aValidOrderIs201WithThePaymentAndIsReplayedForTheSameKey() async throws {
        let edge = Edge()
        let token = try await Self.token()
        try await withClient(edge) { client in
            let first = try await create(client, token: token)
            #expect(first.status == .created)
            let order = Self.json(first)
            #expect(order["status"] as? String == "pending_payment")
            #expect(order["amount_minor"] as? Int == 998)
            #expect((order["payment"] as? [String: Any])?["id"] as? String == "pi_fake_1")
            let again = try await create(client, token: token)
            #expect(again.status == .created)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(again.body == first.body)
        }
        #expect(edge.provider.state.withLockedValue { $0.opened } == 1)
    }

    @Test func theSameKeyWithAnotherBodyIs422WhetherTheFirstFinishedOrNot() async throws {
        let edge = Edge()
        let token = try await Self.token()
        try await withClient(edge) { client in
            _ = try await create(client, token: token)
            let reused = try await create(client, token: token, body: Self.body(quantity: 3))
            #expect(reused.status == .unprocessableContent)
            #expect(Self.json(reused)["type"] as? String == "urn:tollgate:problem:idempotency-key-reused")
            _ = try await edge.records.claim(tenant: Self.tenant, player: "p1", idempotencyKey: "key-running", fingerprint: "other", token: "t")
            let running = try await create(client, token: token, key: "key-running", body: Self.body())
            #expect(running.status == .unprocessableContent, "another request under this key is still running")
        }
    }

    @Test func aRequestWhoseTwinIsStillRunningIs409RetryAfterOne() async throws {
        let edge = Edge()
        let token = try await Self.token()
        let fingerprint = Idempotency.fingerprint(method: "POST", path: "/v1/checkout/\(Self.tenant)/orders", body: Array(Self.body().utf8))
        _ = try await edge.records.claim(tenant: Self.tenant, player: "p1", idempotencyKey: "key-1", fingerprint: fingerprint, token: "t")
        try await withClient(edge) { client in
            let response = try await create(client, token: token)
            #expect(response.status == .conflict)
            #expect(response.headers[.retryAfter] == "1")
        }
    }

    @Test func authenticationAndKeyErrors() async throws {
        let token = try await Self.token()
        try await withClient(Edge()) { client in
            let missing = try await create(client, token: nil)
            #expect(missing.status == .unauthorized)
            let garbled = try await create(client, token: "not.a.jwt")
            #expect(garbled.status == .unauthorized)
            #expect(garbled.headers[.wwwAuthenticate] == "Bearer")
            let noKey = try await create(client, token: token, key: nil)
            #expect(noKey.status == .badRequest)
            let longKey = try await create(client, token: token, key: String(repeating: "k", count: 256))
            #expect(longKey.status == .badRequest)
            let nobody = try await create(client, token: token, tenant: "nobody")
            #expect(nobody.status == .notFound)
            let otherPlayer = try await create(client, token: token, key: "key-other", body: Self.body(player: "p2"))
            #expect(otherPlayer.status == .unauthorized)
        }
    }

    @Test func malformedAndInvalidBodiesAre400And422NamingTheField() async throws {
        let token = try await Self.token()
        try await withClient(Edge()) { client in
            let malformed = try await create(client, token: token, key: "k-malformed", body: "{not json")
            #expect(malformed.status == .badRequest)
            let invalid = try await create(client, token: token, key: "k-invalid", body: Self.body(currency: "EURO"))
            #expect(invalid.status == .unprocessableContent)
            let fields = (Self.json(invalid)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
            #expect(fields == ["currency"])
        }
    }

    @Test func aRateLimitedPlayerIs429() async throws {
        let token = try await Self.token()
        let edge = Edge(limiter: FakeLimiter(admitted: false))
        try await withClient(edge) { client in
            let response = try await create(client, token: token)
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter] == "3")
        }
        #expect(edge.orders.state.withLockedValue { $0.orders.isEmpty })
    }

    @Test func providerFailuresMapToTheirStatusAndAreRecordedOnTheOrder() async throws {
        let cases: [(PaymentProviderClient.Failure, HTTPResponse.Status)] = [
            (.declined(code: "card_declined", message: "Your card was declined."), HTTPResponse.Status(code: 402)),
            (.unavailable(reason: "timeout", timedOut: true), .gatewayTimeout),
            (.unavailable(reason: "503", timedOut: false), .badGateway),
            (.rejected(status: 400, code: "parameter_invalid"), .badGateway),
        ]
        let token = try await Self.token()
        for (failure, status) in cases {
            let edge = Edge()
            edge.provider.state.withLockedValue { $0.failure = failure }
            try await withClient(edge) { client in
                let response = try await create(client, token: token)
                #expect(response.status == status, "\(failure)")
                #expect(Self.json(response)["order_id"] as? String != nil, "the order exists and the answer names it")
            }
            #expect(edge.orders.state.withLockedValue { $0.failures.count } == 1)
        }
    }

    @Test func anOpenBreakerIs503BeforeAnythingIsWritten() async throws {
        let edge = Edge()
        edge.provider.state.withLockedValue { $0.refusal = .circuitOpen(retryAfterSeconds: 7) }
        let token = try await Self.token()
        try await withClient(edge) { client in
            let response = try await create(client, token: token)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "7")
        }
        #expect(edge.orders.state.withLockedValue { $0.orders.isEmpty })
    }

    @Test func storesThatFailAre503AndTheKeyCanBeRetried() async throws {
        let edge = Edge()
        let token = try await Self.token()
        edge.orders.state.withLockedValue { $0.down = true }
        try await withClient(edge) { client in
            let storeDown = try await create(client, token: token)
            #expect(storeDown.status == .serviceUnavailable)
            edge.orders.state.withLockedValue { $0.down = false; $0.recordFails = true }
            let notRecorded = try await create(client, token: token)
            #expect(notRecorded.status == .serviceUnavailable)
            edge.orders.state.withLockedValue { $0.recordFails = false }
            let retried = try await create(client, token: token)
            #expect(retried.status == .created, "a 5xx released the key")
        }
    }

    @Test func statusAnswersTheTokensPlayerOnly() async throws {
        let edge = Edge()
        let token = try await Self.token()
        let other = try await Self.token(player: "p2")
        try await withClient(edge) { client in
            let created = Self.json(try await create(client, token: token))
            let id = try #require(created["order_id"] as? String)
            let mine = try await client.execute(uri: "/v1/checkout/\(Self.tenant)/orders/\(id)", method: .get, headers: Self.headers(token: token, key: nil))
            #expect(mine.status == .ok)
            #expect(mine.headers[.cacheControl] == "no-store")
            let theirs = try await client.execute(uri: "/v1/checkout/\(Self.tenant)/orders/\(id)", method: .get, headers: Self.headers(token: other, key: nil))
            #expect(theirs.status == .notFound)
        }
    }

    // MARK: - Prices come from the catalog

    @Test func aTamperedPriceIsNeverChargedThePageGets409WithTheCurrentPrices() async throws {
        let edge = Edge()
        let token = try await Self.token()
        try await withClient(edge) { client in
            let tampered = try await create(client, token: token, key: "k-tampered", body: Self.body(quantity: 1, unit: 1))
            #expect(tampered.status == .conflict)
            let problem = Self.json(tampered)
            #expect(problem["type"] as? String == "urn:tollgate:problem:price-changed")
            let prices = try #require(problem["prices"] as? [[String: Any]])
            #expect(prices.first?["sku"] as? String == "gems_500")
            #expect(prices.first?["unit_amount_minor"] as? Int == 499)
            #expect(prices.first?["shown_unit_amount_minor"] as? Int == 1)
            // Without a shown price the edge prices the order itself.
            let unshown = try await create(client, token: token, key: "k-unshown", body: Self.body(quantity: 1, unit: nil))
            #expect(unshown.status == .created)
            #expect(Self.json(unshown)["amount_minor"] as? Int == 499)
            let lines = try #require(Self.json(unshown)["lines"] as? [[String: Any]])
            #expect(lines.count == 1 && lines[0]["unit_amount_minor"] as? Int == 499 && lines[0]["title"] as? String == "500 Gems")
        }
        #expect(edge.provider.opened == 1, "the tampered request never reached the provider")
        #expect(edge.orders.state.withLockedValue { $0.orders.values.map(\.amountMinor) } == [499])
    }

    /// A regional price needs a country the Game Hub backend vouches for in the session token: the
    /// body's country is the page's word, and a player would pick the cheapest one.
    @Test func countryPricesFollowTheSessionsCountryNeverTheBodys() async throws {
        let edge = Edge()
        let swissSession = try await Self.token(country: "CH")
        let unknownCountry = try await Self.token()
        let germanSession = try await Self.token(country: "DE")
        try await withClient(edge) { client in
            let swiss = try await create(client, token: swissSession, key: "k-ch", body: Self.body(quantity: 1, unit: nil, country: "CH"))
            #expect(Self.json(swiss)["amount_minor"] as? Int == 520)
            let claimed = try await create(client, token: unknownCountry, key: "k-claimed", body: Self.body(quantity: 1, unit: nil, country: "CH"))
            #expect(Self.json(claimed)["amount_minor"] as? Int == 499, "the body alone never selects a country price")
            let contradicted = try await create(client, token: germanSession, key: "k-contradicted", body: Self.body(quantity: 1, unit: nil, country: "CH"))
            #expect(contradicted.status == .unprocessableContent)
            #expect((Self.json(contradicted)["errors"] as? [[String: Any]])?.first?["field"] as? String == "country")
        }
    }

    /// After Redis forgot a key, a refusal of another request must not be stored over the key of
    /// the order the first request made: the first request's retry still gets its order.
    @Test func aRefusedOtherRequestNeverPoisonsTheKeyOfAnExistingOrder() async throws {
        let edge = Edge()
        let token = try await Self.token()
        try await withClient(edge) { client in
            let first = try await create(client, token: token)
            #expect(first.status == .created)
            edge.records.records.withLockedValue { $0.removeAll() }  // Redis forgot
            for body in [Self.body(sku: "no_such_sku"), Self.body(unit: 1), "{not json"] {
                let other = try await create(client, token: token, body: body)
                #expect(other.status == .unprocessableContent, "\(body)")
                #expect(Self.json(other)["type"] as? String == "urn:tollgate:problem:idempotency-key-reused")
            }
            let again = try await create(client, token: token)
            #expect(again.status == .created)
            #expect(Self.json(again)["order_id"] as? String == Self.json(first)["order_id"] as? String)
        }
        #expect(edge.provider.opened == 1)
    }

    @Test func unknownInactiveUnpricedAndTooManyAre422NamingTheItem() async throws {
        let edge = Edge()
        let token = try await Self.token()
        try await withClient(edge) { client in
            for (key, body, message) in [
                ("k-unknown", Self.body(sku: "no_such_sku", unit: nil), "not in this store's catalog"),
                ("k-inactive", Self.body(sku: "retired", unit: nil), "not on sale"),
                ("k-unpriced", Self.body(sku: "usd_only", unit: nil), "no price in EUR"),
                ("k-many", Self.body(quantity: 11, unit: nil), "at most 10 per order"),
            ] {
                let response = try await create(client, token: token, key: key, body: body)
                #expect(response.status == .unprocessableContent, "\(key)")
                let problem = Self.json(response)
                #expect(problem["type"] as? String == "urn:tollgate:problem:item-unavailable")
                let errors = try #require(problem["errors"] as? [[String: Any]])
                #expect(errors.first?["field"] as? String == "items[0]")
                #expect((errors.first?["message"] as? String)?.contains(message) == true, "\(errors)")
            }
            let twice = #"{"player_id":"p1","items":[{"sku":"gems_500","quantity":1},{"sku":"gems_500","quantity":9}],"currency":"EUR","return_url":"https://hub.shop.example/done"}"#
            let split = try await create(client, token: token, key: "k-split", body: twice)
            #expect(split.status == .unprocessableContent, "one line per sku: a per-order maximum cannot be split around")
        }
        #expect(edge.orders.state.withLockedValue { $0.orders.isEmpty })
        #expect(edge.provider.opened == 0)
    }

    // MARK: - Idempotency beyond Redis

    @Test func afterRedisForgotTheSameKeyWithAnotherBodyIs422AndTheSameBodyFindsTheSamePayment() async throws {
        let edge = Edge()
        let token = try await Self.token()
        try await withClient(edge) { client in
            let first = try await create(client, token: token)
            #expect(first.status == .created)
            edge.records.records.withLockedValue { $0.removeAll() }  // Redis forgot
            let other = try await create(client, token: token, body: Self.body(quantity: 3))
            #expect(other.status == .unprocessableContent)
            #expect(Self.json(other)["type"] as? String == "urn:tollgate:problem:idempotency-key-reused")
            edge.records.records.withLockedValue { $0.removeAll() }
            // The catalog moved on meanwhile: the retry still gets the order its first request made.
            edge.catalog.withLockedValue { $0.items["gems_500"]?.prices["EUR"] = 599 }
            let again = try await create(client, token: token)
            #expect(again.status == .created)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            #expect(Self.json(again)["order_id"] as? String == Self.json(first)["order_id"] as? String)
            #expect(Self.json(again)["amount_minor"] as? Int == 998)
            let payment = Self.json(again)["payment"] as? [String: Any]
            #expect(payment?["id"] as? String == "pi_fake_1")
            #expect(payment?["client_secret"] as? String == "pi_fake_1_secret")
        }
        #expect(edge.provider.opened == 1, "an order with a payment never opens another")
        #expect(edge.provider.retrieved == 1)
    }
}

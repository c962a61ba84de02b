import Foundation
import Testing
import TollgateCore
@testable import TollgateLoad

/// Checkout requests buy from the tenant's catalog, at its prices; `--verify` prices the stored
/// orders from it and catches every way an order's amount can stray from its lines.
@Suite struct LoadCatalogTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let shop = """
        items:
          - sku: gems_100
            title: 100 Gems
            prices: { USD: 99, EUR: 95 }
          - sku: gems_500
            title: 500 Gems
            prices: { USD: 499, EUR: 459 }
            country_prices:
              CH: { CHF: 480 }
              DE: { EUR: 469 }
            max_quantity: 2
          - sku: single
            title: One per order
            prices: { USD: 1500 }
            max_quantity: 1
          - sku: starter_pack
            title: Starter Pack
            prices: { USD: 299, EUR: 279 }
            purchase_limit: 1
          - sku: retired
            title: Retired
            active: false
            prices: { USD: 100 }
          - sku: euro_only
            title: Euro only
            prices: { EUR: 700 }
        """

    /// A catalog directory holding `files` (name: yaml).
    static func directory(_ files: [String: String]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-load-catalog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, yaml) in files { try yaml.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return url.path
    }

    static func products(currency: String = "USD", country: String? = nil, yaml: String = shop, maximumTotalMinor: Int64 = 100_000) throws -> LoadProducts {
        try LoadProducts.load(directory: directory(["shop.yaml": yaml]), tenant: "shop", currency: currency, country: country, maximumTotalMinor: maximumTotalMinor)
    }

    @Test func buysActiveUnlimitedItemsPricedInTheCurrency() throws {
        let usd = try Self.products()
        #expect(usd.products == [.init(sku: "gems_100", unitAmountMinor: 99, maximumQuantity: 1000),
                                 .init(sku: "gems_500", unitAmountMinor: 499, maximumQuantity: 2),
                                 .init(sku: "single", unitAmountMinor: 1500, maximumQuantity: 1)],
                "not the limited offer, not the inactive item, not the item without a USD price")
        #expect(usd.contentHash.count == 64)
        let germany = try Self.products(currency: "EUR", country: "DE")
        #expect(germany.products.map(\.sku) == ["euro_only", "gems_100", "gems_500"])
        #expect(germany.products.first { $0.sku == "gems_500" }?.unitAmountMinor == 469, "the country price wins")
        let swiss = try Self.products(currency: "CHF", country: "CH")
        #expect(swiss.products.map(\.sku) == ["gems_500"])
        #expect(try Self.products(maximumTotalMinor: 500).products.map(\.sku) == ["gems_100", "gems_500"], "nothing dearer than the tenant's ceiling")
    }

    @Test func refusesToStartWithoutSomethingToBuy() throws {
        #expect(throws: ScenarioError.self) { try Self.products(currency: "JPY") }
        do {
            _ = try Self.products(currency: "JPY")
        } catch {
            #expect("\(error)".contains("no active item priced in JPY"), "\(error)")
        }
        do {
            _ = try LoadProducts.load(directory: try Self.directory(["other.yaml": Self.shop]), tenant: "shop", currency: "USD", country: nil)
            Issue.record("a tenant without a catalog must refuse")
        } catch {
            #expect("\(error)".contains("tenant shop has no catalog") && "\(error)".contains("shop.yaml"), "\(error)")
        }
        let limitedOnly = "items:\n  - sku: starter\n    title: Starter\n    prices: { USD: 299 }\n    purchase_limit: 1\n"
        do {
            _ = try Self.products(yaml: limitedOnly)
            Issue.record("only a limited offer must refuse")
        } catch {
            #expect("\(error)".contains("starter have a purchase_limit"), "\(error)")
        }
        do {
            _ = try Self.products(yaml: "items:\n  - sku: x\n    title: X\n    prices: { USD: -1 }\n")
            Issue.record("an invalid catalog must refuse")
        } catch {
            #expect("\(error)".contains("is invalid") && "\(error)".contains("shop.yaml:"), "\(error)")
        }
    }

    /// The shipped scenarios that check out can start against the shipped catalogs.
    @Test(arguments: ["smoke", "checkout-burst", "mixed", "soak"])
    func shippedScenariosHaveSomethingToBuy(name: String) throws {
        let path = Self.repository.appendingPathComponent("loadtests/scenarios/\(name).yaml").path
        let scenario = try ScenarioParser.parse(String(contentsOfFile: path, encoding: .utf8), file: path)
        let directory = Self.repository.appendingPathComponent(scenario.catalogDirectory ?? "catalog").path
        let products = try LoadProducts.load(directory: directory, tenant: scenario.tenant, currency: scenario.currency, country: scenario.country)
        #expect(products.products.count >= 2, "\(name): \(products.products)")
    }

    @Test func scenarioNamesCurrencyCountryAndCatalog() throws {
        let scenario = try ScenarioParser.parse("name: x\ncurrency: EUR\ncountry: DE\ncatalog_dir: elsewhere\n")
        #expect(scenario.currency == "EUR" && scenario.country == "DE" && scenario.catalogDirectory == "elsewhere")
        let defaults = try ScenarioParser.parse("name: x\n")
        #expect(defaults.currency == "USD" && defaults.country == nil && defaults.catalogDirectory == nil)
        #expect(throws: ScenarioError("scenario.yaml:2:11: currency must be an ISO 4217 code in upper case, like USD")) {
            try ScenarioParser.parse("name: x\ncurrency: usd\n")
        }
        #expect(throws: ScenarioError.self) { try ScenarioParser.parse("name: x\ncountry: Germany\n") }
    }

    func plan(_ products: LoadProducts, seed: UInt64 = 42, mix: [(RequestKind, Int)] = [(.checkout, 3), (.checkoutRetry, 1)]) -> LoadPlan {
        var scenario = Scenario(name: "catalog")
        scenario.tenant = "shop"
        scenario.mix = mix.map { Scenario.Weighted(kind: $0.0, weight: $0.1) }
        let players = (0..<5).map { LoadPlan.Player(id: "p\($0)", token: "t\($0)") }
        return LoadPlan(scenario: scenario, runID: "cat1", sources: [], orders: [], players: players, seed: seed, products: products)
    }

    struct Body: Decodable, Equatable {
        struct Item: Decodable, Equatable {
            var sku: String
            var quantity: Int64
            var unit_amount_minor: Int64
        }
        var player_id: String
        var items: [Item]
        var currency: String
        var country: String?
        var return_url: String
    }

    @Test func checkoutsBuyCatalogItemsAtCatalogPricesAndRetriesReplayThem() throws {
        let products = try Self.products(currency: "EUR", country: "DE")
        var plan = plan(products)
        var bodies: [String: [UInt8]] = [:]
        var skus: Set<String> = []
        var lineCounts: Set<Int> = []
        var retries = 0
        for index in 0..<400 {
            let request = plan.next(at: .milliseconds(index), now: Date())
            guard case .checkout(let key, _) = request.note else { Issue.record("\(request.kind)"); continue }
            let body = try JSONDecoder().decode(Body.self, from: Data(request.body))
            #expect(body.currency == "EUR" && body.country == "DE")
            #expect(!body.items.isEmpty && body.items.count <= 3 && Set(body.items.map(\.sku)).count == body.items.count, "one line per SKU")
            for item in body.items {
                let product = try #require(products.products.first { $0.sku == item.sku }, "\(item.sku) is for sale in EUR")
                #expect(item.unit_amount_minor == product.unitAmountMinor, "the catalog's price, shown")
                #expect((1...min(3, product.maximumQuantity)).contains(item.quantity))
                skus.insert(item.sku)
            }
            lineCounts.insert(body.items.count)
            if request.kind == .checkoutRetry {
                retries += 1
                #expect(bodies[key] == request.body, "a retry replays the very same bytes")
            } else {
                #expect(bodies[key] == nil)
                bodies[key] = request.body
                let noted = try #require(plan.ledger.checkoutRequests[key])
                #expect(noted.lines.map(\.sku) == body.items.map(\.sku) && noted.lines.map(\.quantity) == body.items.map(\.quantity))
                #expect(noted.totalMinor == body.items.reduce(0) { $0 + $1.quantity * $1.unit_amount_minor })
            }
        }
        #expect(retries > 50)
        #expect(skus == ["euro_only", "gems_100", "gems_500"], "every SKU for sale gets bought")
        #expect(lineCounts == [1, 2, 3])

        // The same seed, the same requests.
        var first = self.plan(products, seed: 7)
        var second = self.plan(products, seed: 7)
        for index in 0..<50 {
            #expect(first.next(at: .milliseconds(index), now: Date()).body == second.next(at: .milliseconds(index), now: Date()).body)
        }
    }

    @Test func ordersStayUnderTheTenantsCeiling() throws {
        let products = try Self.products(maximumTotalMinor: 1600)
        var plan = plan(products, mix: [(.checkout, 1)])
        for index in 0..<300 {
            let request = plan.next(at: .milliseconds(index), now: Date())
            let body = try JSONDecoder().decode(Body.self, from: Data(request.body))
            #expect(body.items.reduce(0) { $0 + $1.quantity * $1.unit_amount_minor } <= 1600)
            #expect(body.country == nil)
        }
    }

    @Test func refusalsAreCountedByProblemType() throws {
        var plan = plan(try Self.products(), mix: [(.checkout, 1)])
        let request = plan.next(at: .zero, now: Date())
        func problem(_ type: String) -> [UInt8] { Array(#"{"type":"urn:tollgate:problem:\#(type)","status":409}"#.utf8) }
        plan.answered(request, status: 409, body: problem("price-changed"))
        plan.answered(request, status: 422, body: problem("item-unavailable"))
        plan.answered(request, status: 429, body: problem("too-many-requests"))
        plan.answered(request, status: 409, body: problem("price-changed"))
        plan.answered(request, status: 201, body: Array(#"{"order_id":"ord_1"}"#.utf8))
        #expect(plan.ledger.checkoutProblems == ["price-changed": 2, "item-unavailable": 1, "too-many-requests": 1])
        guard case .checkout(let key, _) = request.note else { Issue.record("not a checkout"); return }
        #expect(plan.ledger.checkoutKeys[key] == ["ord_1"])
    }

    // MARK: - The verifier's catalog checks, on orders as Postgres would hold them

    typealias Order = LoadVerifier.StoredCheckoutOrder

    /// Two orders priced right from `products` (USD, no country), and the ledger that sent them.
    static func pricedRun(_ products: LoadProducts) -> (LoadLedger, [Order]) {
        var ledger = LoadLedger()
        let hash = products.contentHash
        ledger.checkoutKeys = ["k1": ["o1"], "k2": ["o2"]]
        ledger.checkoutRequests = [
            "k1": .init(lines: [.init(sku: "gems_500", quantity: 2, shownUnitAmountMinor: 499), .init(sku: "gems_100", quantity: 1, shownUnitAmountMinor: 99)], totalMinor: 1097),
            "k2": .init(lines: [.init(sku: "single", quantity: 1, shownUnitAmountMinor: 1500)], totalMinor: 1500),
        ]
        let orders = [
            Order(orderID: "o1", idempotencyKey: "k1", amountMinor: 1097, currency: "USD", country: nil, lines: [
                .init(sku: "gems_500", quantity: 2, unitAmountMinor: 499, amountMinor: 998, catalogHash: hash),
                .init(sku: "gems_100", quantity: 1, unitAmountMinor: 99, amountMinor: 99, catalogHash: hash),
            ]),
            Order(orderID: "o2", idempotencyKey: "k2", amountMinor: 1500, currency: "USD", country: nil, lines: [
                .init(sku: "single", quantity: 1, unitAmountMinor: 1500, amountMinor: 1500, catalogHash: hash),
            ]),
        ]
        return (ledger, orders)
    }

    static func failed(_ checks: [Verification.Check]) -> Set<String> { Set(checks.filter { !$0.passed }.map(\.name)) }

    @Test func cleanOrdersPassEveryCatalogCheck() throws {
        let products = try Self.products()
        let (ledger, orders) = Self.pricedRun(products)
        let checks = LoadVerifier.checkoutPricing(ledger, orders: orders, catalog: products.catalog, runCatalogHash: products.contentHash)
        #expect(checks.map(\.name) == ["every checkout order holds the items it was asked for", "every checkout order's amount is the sum of its lines",
                                       "every checkout order is priced from the catalog", "no checkout refused for its prices or items"])
        #expect(Self.failed(checks).isEmpty, "\(checks.map(\.detail))")
        #expect(checks[2].detail.contains("3 lines sold under it, 0 lines not at its price"), "\(checks[2].detail)")
    }

    @Test func eachTamperingFailsItsCheck() throws {
        let products = try Self.products()
        let (ledger, clean) = Self.pricedRun(products)
        func verdict(_ ledger: LoadLedger = ledger, _ change: (inout [Order]) -> Void) -> Set<String> {
            var orders = clean
            change(&orders)
            return Self.failed(LoadVerifier.checkoutPricing(ledger, orders: orders, catalog: products.catalog, runCatalogHash: products.contentHash))
        }
        #expect(verdict { $0[0].amountMinor = 1000 } == ["every checkout order's amount is the sum of its lines"])
        // A unit price not the catalog's, its line's amount kept consistent (as the table's CHECK demands).
        #expect(verdict { $0[1].lines[0].unitAmountMinor = 1400; $0[1].lines[0].amountMinor = 1400; $0[1].amountMinor = 1400 }
                == ["every checkout order is priced from the catalog"])
        #expect(verdict { $0[1].lines[0].amountMinor = 1400; $0[1].amountMinor = 1400 } == ["every checkout order's amount is the sum of its lines"])
        #expect(verdict { $0[1].lines = [] } == ["every checkout order holds the items it was asked for"])
        #expect(verdict { $0.removeLast() } == ["every checkout order holds the items it was asked for"], "answered o2, not stored")
        #expect(verdict { $0[0].lines[1].quantity = 3; $0[0].lines[1].amountMinor = 297; $0[0].amountMinor = 1295 }
                == ["every checkout order holds the items it was asked for"])
        #expect(verdict { $0[0].lines[1].sku = "gems_1200" } == ["every checkout order holds the items it was asked for", "every checkout order is priced from the catalog"])
        // Stored in another currency and country at the home prices.
        #expect(verdict { $0[0].country = "DE"; $0[0].currency = "EUR" } == ["every checkout order is priced from the catalog"])

        var refused = ledger
        refused.checkoutProblems = ["price-changed": 1, "too-many-requests": 40]
        #expect(verdict(refused) { _ in } == ["no checkout refused for its prices or items"])
        refused.checkoutProblems = ["item-unavailable": 2]
        #expect(verdict(refused) { _ in } == ["no checkout refused for its prices or items"])
        refused.checkoutProblems = ["too-many-requests": 40, "idempotency-key-reused": 1]
        #expect(verdict(refused) { _ in }.isEmpty, "the limiter's answers are not the catalog's")
    }

    @Test func linesSoldUnderAnotherCatalogAreCountedNotFailed() throws {
        let products = try Self.products()
        let (ledger, clean) = Self.pricedRun(products)
        var orders = clean
        orders[0].lines = orders[0].lines.map { var line = $0; line.catalogHash = "0ld"; return line }
        let checks = LoadVerifier.checkoutPricing(ledger, orders: orders, catalog: products.catalog, runCatalogHash: products.contentHash)
        #expect(Self.failed(checks).isEmpty)
        #expect(checks[2].detail.contains("1 lines sold under it") && checks[2].detail.contains("2 lines sold under 1 other catalog files"), "\(checks[2].detail)")
        // ...but at the price the request showed: anything else should have been a 409.
        orders[0].lines[0].unitAmountMinor = 450
        orders[0].lines[0].amountMinor = 900
        orders[0].amountMinor = 999
        #expect(Self.failed(LoadVerifier.checkoutPricing(ledger, orders: orders, catalog: products.catalog, runCatalogHash: products.contentHash))
                == ["every checkout order is priced from the catalog"])

        // The catalog edited during the run: the refusals it causes are expected.
        var refused = ledger
        refused.checkoutProblems = ["price-changed": 3]
        let edited = try Self.products(yaml: Self.shop.replacingOccurrences(of: "USD: 99,", with: "USD: 109,"))
        #expect(edited.contentHash != products.contentHash)
        let afterEdit = LoadVerifier.checkoutPricing(refused, orders: clean, catalog: edited.catalog, runCatalogHash: products.contentHash)
        #expect(Self.failed(afterEdit).isEmpty, "\(afterEdit.map(\.detail))")
        #expect(afterEdit[3].detail.contains("the catalog changed during the run"))
    }
}

import Foundation
import Testing
import TollgateCatalog
import TollgateCore

@Suite struct CatalogFileParserTests {
    func parse(_ yaml: String) -> (ProductCatalog, [String]) {
        let (catalog, diagnostics) = CatalogFileParser.parse(yaml: yaml, file: "catalog/acme.yaml", tenant: "acme", contentHash: "h")
        return (catalog, diagnostics.map(\.description))
    }

    @Test func aGoodCatalogReadsEveryField() {
        let (catalog, problems) = parse("""
            items:
              - sku: gems_500
                title: 500 Gems
                prices: { USD: 499, EUR: 459 }
                country_prices:
                  CH: { CHF: 480 }
                max_quantity: 10
              - sku: starter
                title: Starter
                active: false
                prices: { USD: 299 }
                purchase_limit: 1
            """)
        #expect(problems.isEmpty)
        #expect(catalog.items["gems_500"] == CatalogItem(sku: "gems_500", title: "500 Gems", prices: ["USD": 499, "EUR": 459],
                                                         countryPrices: ["CH": ["CHF": 480]], maximumQuantity: 10))
        #expect(catalog.items["starter"]?.active == false && catalog.items["starter"]?.purchaseLimit == 1)
        #expect(catalog.items["gems_500"]?.unitPrice(currency: "CHF", country: "CH") == 480)
        #expect(catalog.items["gems_500"]?.unitPrice(currency: "CHF", country: "DE") == nil)
        #expect(catalog.items["gems_500"]?.unitPrice(currency: "EUR", country: "CH") == 459)
    }

    @Test func everyProblemIsNamedByFileLineAndColumn() {
        let (_, problems) = parse("""
            items:
              - sku: gems_500
                title: 500 Gems
                prices: { usd: 499, EUR: 4.99, GBP: "429", JPY: 0 }
                max_quantity: 0
                colour: blue
              - sku: gems_500
                title: again
                prices: { USD: 1 }
              - sku: "has space"
              - sku: no_price
                title: No price
              - sku: big
                title: Big
                prices: { USD: 100000001 }
                purchase_limit: -1
                active: maybe
            catalogue: []
            """)
        #expect(problems == [
            "catalog/acme.yaml:4:15: 'usd' is not an ISO 4217 currency code in upper case, like USD",
            "catalog/acme.yaml:4:30: the EUR price must be an integer from 1 to 100000000 (minor units)",
            "catalog/acme.yaml:4:41: the GBP price must be an integer from 1 to 100000000 (minor units)",
            "catalog/acme.yaml:4:53: the JPY price must be an integer from 1 to 100000000 (minor units)",
            "catalog/acme.yaml:5:19: 'max_quantity' must be an integer from 1 to 1000",
            "catalog/acme.yaml:6:5: unknown key 'colour'",
            "catalog/acme.yaml:7:10: duplicate sku 'gems_500' (first at line 2)",
            "catalog/acme.yaml:10:10: an item needs a 'sku' of 1 to 128 characters from A-Z a-z 0-9 _ . : -",
            "catalog/acme.yaml:11:10: item 'no_price' needs at least one price ('prices' or 'country_prices')",
            "catalog/acme.yaml:15:20: the USD price must be an integer from 1 to 100000000 (minor units)",
            "catalog/acme.yaml:16:21: 'purchase_limit' must be an integer from 1 to 1000000",
            "catalog/acme.yaml:17:13: 'active' must be true or false",
            "catalog/acme.yaml:18:1: unknown key 'catalogue'",
        ])
    }

    @Test func whatYAMLWouldReadAsSomethingElseIsRefused() {
        let (_, problems) = parse("""
            items:
              - sku: a
                title: A
                prices: { USD: 0777 }
                country_prices:
                  NO: { NOK: 100 }
                  "NO": { NOK: 1 }
            """)
        #expect(problems == [
            "catalog/acme.yaml:4:20: the USD price must be an integer from 1 to 100000000 (minor units)",
            "catalog/acme.yaml:7:7: country 'NO' appears twice",
        ])
    }

    @Test func brokenYAMLIsOneDiagnosticWithItsPosition() {
        let (_, problems) = parse("items:\n  - sku: [unclosed\n")
        #expect(problems.count == 1)
        #expect(problems[0].hasPrefix("catalog/acme.yaml:3:1: invalid YAML"))
    }

    @Test func aDirectoryLoadsWholeOrNotAtAllAndHashesEachFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "items:\n  - sku: a\n    title: A\n    prices: { USD: 1 }\n".write(to: directory.appendingPathComponent("one.yaml"), atomically: true, encoding: .utf8)
        try "items:\n  - sku: b\n    title: B\n    prices: { USD: 2 }\n".write(to: directory.appendingPathComponent("two.yaml"), atomically: true, encoding: .utf8)
        let set = try CatalogFileParser.load(directory: directory.path).get()
        #expect(set.tenants.keys.sorted() == ["one", "two"])
        #expect(set.tenants["one"]!.contentHash != set.tenants["two"]!.contentHash)
        #expect(set.tenants["one"]!.contentHash.count == 64)
        try "items:\n  - sku: b\n    prices: { USD: 2 }\n".write(to: directory.appendingPathComponent("two.yaml"), atomically: true, encoding: .utf8)
        guard case .failure(let errors) = CatalogFileParser.load(directory: directory.path) else { Issue.record("a broken file fails the load"); return }
        #expect(errors.diagnostics.map(\.description) == ["\(directory.path)/two.yaml:2:10: item 'b' needs a 'title'"])
    }

    @Test func theShippedCatalogsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let set = try CatalogFileParser.load(directory: root.appendingPathComponent("catalog").path).get()
        #expect(set.tenants["demo"]?.items["gems_500"]?.prices["USD"] == 499)
        #expect(set.tenants["loadtest"]?.items.isEmpty == false)
    }
}

@Suite struct CheckoutPricingTests {
    static let catalog = ProductCatalog(tenant: "acme", items: [
        "gems": CatalogItem(sku: "gems", title: "Gems", prices: ["USD": 499, "EUR": 459], countryPrices: ["DE": ["EUR": 479]], maximumQuantity: 10),
        "pack": CatalogItem(sku: "pack", title: "Pack", prices: ["USD": 299], purchaseLimit: 1),
        "old": CatalogItem(sku: "old", title: "Old", active: false, prices: ["USD": 100]),
        "dear": CatalogItem(sku: "dear", title: "Dear", prices: ["USD": CatalogItem.maximumUnitAmountMinor]),
    ], contentHash: "hash", file: "acme.yaml")

    func price(_ lines: [RequestedLine], currency: String = "USD", country: String? = nil, maximum: Int64 = 1_000_000) -> Result<PricedOrder, PricingRefusal> {
        CheckoutPricing.price(lines, currency: currency, country: country, catalog: Self.catalog, maximumTotalMinor: maximum)
    }

    @Test func theCatalogSetsEveryPriceAndTheTotal() throws {
        let order = try price([.init(sku: "gems", quantity: 2), .init(sku: "pack", quantity: 1, shownUnitAmountMinor: 299)]).get()
        #expect(order.totalMinor == 1297 && order.catalogHash == "hash" && order.currency == "USD")
        #expect(order.lines == [
            PricedLine(sku: "gems", title: "Gems", quantity: 2, unitAmountMinor: 499, amountMinor: 998),
            PricedLine(sku: "pack", title: "Pack", quantity: 1, unitAmountMinor: 299, amountMinor: 299, purchaseLimit: 1),
        ])
        #expect(try price([.init(sku: "gems", quantity: 1)], currency: "EUR", country: "DE").get().totalMinor == 479)
        #expect(try price([.init(sku: "gems", quantity: 1)], currency: "EUR", country: "FR").get().totalMinor == 459)
    }

    @Test func aShownPriceThatDiffersIs409ListingEveryCurrentPrice() {
        #expect(price([.init(sku: "gems", quantity: 1, shownUnitAmountMinor: 1), .init(sku: "pack", quantity: 1)]) == .failure(.priceChanged([
            .init(index: 0, sku: "gems", shownUnitAmountMinor: 1, unitAmountMinor: 499),
            .init(index: 1, sku: "pack", shownUnitAmountMinor: nil, unitAmountMinor: 299),
        ])))
    }

    @Test func linesThatCannotBeSoldAreNamedAndWinOverAPriceChange() {
        let result = price([
            .init(sku: "nope", quantity: 1), .init(sku: "old", quantity: 1), .init(sku: "gems", quantity: 11, shownUnitAmountMinor: 1),
            .init(sku: "pack", quantity: 1), .init(sku: "pack", quantity: 1),
        ])
        #expect(result == .failure(.unavailable([
            .init(index: 0, sku: "nope", reason: .unknown), .init(index: 1, sku: "old", reason: .inactive),
            .init(index: 2, sku: "gems", reason: .quantityAboveMaximum(10)), .init(index: 4, sku: "pack", reason: .duplicate(firstIndex: 3)),
        ])))
        #expect(price([.init(sku: "pack", quantity: 1)], currency: "EUR") == .failure(.unavailable([.init(index: 0, sku: "pack", reason: .unpriced)])))
        #expect(CheckoutPricing.price([.init(sku: "gems", quantity: 1)], currency: "USD", country: nil, catalog: nil, maximumTotalMinor: 1000)
                == .failure(.unavailable([.init(index: 0, sku: "gems", reason: .unknown)])), "no catalog sells nothing")
    }

    @Test func totalsAreCheckedNeverTrapped() {
        #expect(price([.init(sku: "gems", quantity: 10)], maximum: 4000) == .failure(.totalTooLarge(totalMinor: 4990, maximumMinor: 4000)))
        // Quantities beyond any real bound (only the validator stops them) overflow checked, not trapped.
        var huge = Self.catalog
        huge.items["dear"]?.maximumQuantity = .max
        let result = CheckoutPricing.price([.init(sku: "dear", quantity: .max)], currency: "USD", country: nil, catalog: huge, maximumTotalMinor: .max)
        #expect(result == .failure(.totalTooLarge(totalMinor: nil, maximumMinor: .max)))
    }
}

import Foundation
import TollgateCatalog
import TollgateCore

/// What the generator's checkout requests buy: the scenario tenant's catalog (`<tenant>.yaml` in
/// the catalog directory the edge prices from), narrowed to the items a page could offer in the
/// scenario's currency. Each request names SKUs and quantities and sends the unit price the
/// catalog gives, as the price the page showed: a `409 price-changed` then reveals an edge that
/// did not price from the same file, and `--verify` checks the stored lines against it.
public struct LoadProducts: Sendable {
    /// One SKU the generator may buy, at the price a page would show.
    public struct Product: Sendable, Equatable {
        public var sku: String
        public var unitAmountMinor: Int64
        /// The most one order may hold (the item's `max_quantity`).
        public var maximumQuantity: Int64

        public init(sku: String, unitAmountMinor: Int64, maximumQuantity: Int64) {
            self.sku = sku
            self.unitAmountMinor = unitAmountMinor
            self.maximumQuantity = maximumQuantity
        }
    }

    /// The whole tenant catalog as read (the verifier prices stored lines from it).
    public let catalog: ProductCatalog
    public let currency: String
    public let country: String?
    /// The tenant's checkout ceiling: no request the generator makes goes above it.
    public let maximumTotalMinor: Int64
    /// Active, priced in the currency (for the country), without a per-player purchase limit (a
    /// limited offer would turn the players' repeat orders into 409s), and affordable under the
    /// ceiling; by SKU, so that a seed picks the same items every time.
    public let products: [Product]

    public var contentHash: String { catalog.contentHash }

    public init(catalog: ProductCatalog, currency: String, country: String?, maximumTotalMinor: Int64 = 100_000) throws(ScenarioError) {
        self.catalog = catalog
        self.currency = currency
        self.country = country
        self.maximumTotalMinor = maximumTotalMinor
        self.products = catalog.items.values.sorted { $0.sku < $1.sku }.compactMap { item in
            guard item.active, item.purchaseLimit == nil, let unit = item.unitPrice(currency: currency, country: country),
                  unit <= maximumTotalMinor else { return nil }
            return Product(sku: item.sku, unitAmountMinor: unit, maximumQuantity: item.maximumQuantity)
        }
        guard !products.isEmpty else {
            let skipped = catalog.items.values.filter { $0.active && $0.unitPrice(currency: currency, country: country) != nil }.map(\.sku).sorted()
            throw ScenarioError("\(catalog.file) has no active item priced in \(currency)\(country.map { " for \($0)" } ?? "") that checkout requests can buy"
                + (skipped.isEmpty ? "" : " (\(skipped.joined(separator: ", ")) have a purchase_limit or cost more than the tenant's max_total_minor \(maximumTotalMinor))")
                + "; add one, or set the scenario's currency")
        }
    }

    /// Reads `directory` as the edge does (every file must be valid) and takes `tenant`'s catalog.
    public static func load(directory: String, tenant: String, currency: String, country: String?,
                            maximumTotalMinor: Int64 = 100_000) throws(ScenarioError) -> LoadProducts {
        try LoadProducts(catalog: catalog(directory: directory, tenant: tenant), currency: currency, country: country, maximumTotalMinor: maximumTotalMinor)
    }

    /// `tenant`'s catalog in `directory` as it is now (the verifier re-reads it: the catalog in force).
    public static func catalog(directory: String, tenant: String) throws(ScenarioError) -> ProductCatalog {
        let set: CatalogSet
        switch CatalogFileParser.load(directory: directory) {
        case .success(let loaded): set = loaded
        case .failure(let diagnostics):
            throw ScenarioError("the catalog directory \(directory) is invalid (checkout requests buy from it):\n\(diagnostics)")
        }
        guard let catalog = set.tenants[tenant] else {
            throw ScenarioError("tenant \(tenant) has no catalog: checkout requests buy from \((directory as NSString).appendingPathComponent("\(tenant).yaml")), which does not exist")
        }
        return catalog
    }
}

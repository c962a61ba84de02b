/// One product a tenant's store sells.
public struct CatalogItem: Sendable, Equatable {
    public var sku: String
    public var title: String
    /// An inactive item stays in the file (so its history reads) but cannot be bought.
    public var active: Bool
    /// Unit price per currency, in minor units.
    public var prices: [String: Int64]
    /// Unit prices for players in a country (ISO 3166-1 alpha-2), per currency; they win over `prices`.
    public var countryPrices: [String: [String: Int64]]
    /// The most one order may hold.
    public var maximumQuantity: Int64
    /// The most one player may hold across their orders (a limited offer); nil for no limit.
    public var purchaseLimit: Int64?

    public init(sku: String, title: String, active: Bool = true, prices: [String: Int64], countryPrices: [String: [String: Int64]] = [:],
                maximumQuantity: Int64 = CatalogItem.defaultMaximumQuantity, purchaseLimit: Int64? = nil) {
        self.sku = sku
        self.title = title
        self.active = active
        self.prices = prices
        self.countryPrices = countryPrices
        self.maximumQuantity = maximumQuantity
        self.purchaseLimit = purchaseLimit
    }

    public static let defaultMaximumQuantity: Int64 = 1000
    /// No single unit costs more than this (a typo guard: a million in major units).
    public static let maximumUnitAmountMinor: Int64 = 100_000_000

    /// The unit price a player in `country` pays in `currency`, if the item has one.
    public func unitPrice(currency: String, country: String?) -> Int64? {
        if let country, let price = countryPrices[country]?[currency] { return price }
        return prices[currency]
    }
}

/// One tenant's catalog: `catalog/<tenant>.yaml`.
public struct ProductCatalog: Sendable, Equatable {
    public var tenant: String
    public var items: [String: CatalogItem]
    /// SHA-256 of the file, hex: each order line records the catalog it was priced from.
    public var contentHash: String
    public var file: String

    public init(tenant: String, items: [String: CatalogItem], contentHash: String, file: String) {
        self.tenant = tenant
        self.items = items
        self.contentHash = contentHash
        self.file = file
    }
}

/// Every tenant's catalog, as loaded from one directory.
public struct CatalogSet: Sendable, Equatable {
    public var tenants: [String: ProductCatalog]

    public init(tenants: [String: ProductCatalog] = [:]) {
        self.tenants = tenants
    }
}

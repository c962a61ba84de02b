import TollgateCatalog
import TollgateConfig
import TollgateCore

/// Admin listener: `GET /admin/catalog` (every tenant's items and prices in force, with the content
/// hash each order line records) and `POST /admin/catalog/reload`.
enum CatalogAdminRoutes {
    static func make(store: CatalogStore) -> ReloadableDirectoryRoutes<CatalogSet> {
        ReloadableDirectoryRoutes(path: "/admin/catalog", store: store) { set in
            [("tenants", .object(set.tenants.keys.sorted().map { name in
                let catalog = set.tenants[name]!
                return (name, .object([("file", .string(catalog.file)), ("content_hash", .string(catalog.contentHash)), ("items", items(catalog))]))
            }))]
        }
    }

    static func items(_ catalog: ProductCatalog) -> JSONValue {
        func prices(_ table: [String: Int64]) -> JSONValue {
            .object(table.keys.sorted().map { ($0, .int(Int(table[$0]!))) })
        }
        return .array(catalog.items.keys.sorted().map { sku in
            let item = catalog.items[sku]!
            return .object([
                ("sku", .string(item.sku)), ("title", .string(item.title)), ("active", .bool(item.active)),
                ("prices", prices(item.prices)),
                ("country_prices", .object(item.countryPrices.keys.sorted().map { ($0, prices(item.countryPrices[$0]!)) })),
                ("max_quantity", .int(Int(item.maximumQuantity))),
                ("purchase_limit", item.purchaseLimit.map { .int(Int($0)) } ?? .null),
            ])
        })
    }
}

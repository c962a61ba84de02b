import Foundation
import Hummingbird
import TollgateCatalog
import TollgateConfig
import TollgateCore

/// Admin listener: `GET /admin/catalog` (every tenant's items and prices in force, with the content
/// hashes order lines record) and `POST /admin/catalog/reload`.
struct CatalogAdminRoutes {
    let store: CatalogStore

    func register(on router: Router<EdgeRequestContext>) {
        router.get("/admin/catalog") { _, _ in
            Response.json(describe(store.snapshot))
        }
        router.post("/admin/catalog/reload") { _, _ in
            switch store.reload(trigger: "admin") {
            case .reloaded, .unchanged:
                return Response.json(.object([("status", .string("ok")), ("catalog", describe(store.snapshot))]))
            case .rejected(let diagnostics):
                return Response.problem(Problem(
                    .unprocessable,
                    detail: "The catalog was not reloaded; the catalog in force stays.",
                    extensions: ["diagnostics": .array(diagnostics.split(separator: "\n").map { .string(String($0)) })]
                ))
            }
        }
    }

    func describe(_ snapshot: CatalogStore.Snapshot) -> JSONValue {
        func prices(_ table: [String: Int64]) -> JSONValue {
            .object(table.keys.sorted().map { ($0, .int(Int(table[$0]!))) })
        }
        func items(_ catalog: ProductCatalog) -> JSONValue {
            .array(catalog.items.keys.sorted().map { sku in
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
        let tenants = snapshot.catalogs.tenants
        return .object([
            ("directory", .string(store.directory)),
            ("files", .array(snapshot.files.map(JSONValue.string))),
            ("content_hash", .string(snapshot.contentHash)),
            ("loaded_at", .string(ISO8601DateFormatter().string(from: snapshot.loadedAt))),
            ("tenants", .object(tenants.keys.sorted().map { name in
                (name, .object([("file", .string(tenants[name]!.file)), ("content_hash", .string(tenants[name]!.contentHash)), ("items", items(tenants[name]!))]))
            })),
        ])
    }
}

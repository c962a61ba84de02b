import Crypto
import Foundation
import TollgateCore
import Yams

/// Reads a catalog directory (`<tenant>.yaml` each) into a ``CatalogSet``, or every problem found,
/// each as `file:line:col: message`.
///
/// ```yaml
/// items:
///   - sku: gems_500                # 1-128 of A-Z a-z 0-9 _ . : -, unique in the file
///     title: 500 Gems
///     active: true                 # default true; inactive items cannot be bought
///     prices: { USD: 499, EUR: 459 }       # minor units per ISO 4217 currency
///     country_prices:              # optional: wins over `prices` for players in that country
///       DE: { EUR: 499 }
///     max_quantity: 10             # per order; default 1000
///     purchase_limit: 1            # optional: per player across their orders (limited offers)
/// ```
public enum CatalogFileParser {
    static let topKeys: Set<String> = ["items"]
    static let itemKeys: Set<String> = ["sku", "title", "active", "prices", "country_prices", "max_quantity", "purchase_limit"]

    public static func load(directory: String) -> Result<CatalogSet, FileDiagnostics> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return .failure(FileDiagnostics([FileDiagnostic(file: directory, line: 0, column: 0, message: "cannot read the catalog directory")]))
        }
        var set = CatalogSet()
        var diagnostics: [FileDiagnostic] = []
        for name in names.sorted() where name.hasSuffix(".yaml") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                diagnostics.append(FileDiagnostic(file: path, line: 1, column: 1, message: "cannot read the file as UTF-8"))
                continue
            }
            let tenant = String(name.dropLast(".yaml".count))
            let (catalog, problems) = parse(yaml: text, file: path, tenant: tenant, contentHash: SHA256.hash(data: data).hexEncoded)
            diagnostics += problems
            set.tenants[tenant] = catalog
        }
        return diagnostics.isEmpty ? .success(set) : .failure(FileDiagnostics(diagnostics))
    }

    /// Parses one tenant's file. Returns the catalog it could read and every problem, in file order.
    public static func parse(yaml: String, file: String, tenant: String, contentHash: String) -> (catalog: ProductCatalog, diagnostics: [FileDiagnostic]) {
        var catalog = ProductCatalog(tenant: tenant, items: [:], contentHash: contentHash, file: file)
        var diagnostics: [FileDiagnostic] = []
        func report(_ node: Node?, _ message: String) {
            diagnostics.append(FileDiagnostic(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, message: message))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            switch error {
            case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
                return (catalog, [FileDiagnostic(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)")])
            default:
                return (catalog, [FileDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")])
            }
        } catch {
            return (catalog, [FileDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")])
        }
        guard let root, let mapping = root.mapping else {
            report(root, "expected a mapping with an 'items' list")
            return (catalog, diagnostics)
        }
        for key in mapping.keys where !topKeys.contains(key.string ?? "") { report(key, "unknown key '\(key.string ?? "?")'") }
        guard let list = mapping["items"] else { report(root, "a catalog needs an 'items' list"); return (catalog, diagnostics) }
        guard case .sequence(let entries) = list else { report(list, "'items' must be a list"); return (catalog, diagnostics) }

        var firstLine: [String: Int] = [:]
        for entry in entries {
            guard let fields = entry.mapping else { report(entry, "an item must be a mapping"); continue }
            for key in fields.keys where !itemKeys.contains(key.string ?? "") { report(key, "unknown key '\(key.string ?? "?")'") }
            guard let skuNode = fields["sku"], let sku = skuNode.string, isSKU(sku) else {
                report(fields["sku"] ?? entry, "an item needs a 'sku' of 1 to 128 characters from A-Z a-z 0-9 _ . : -")
                continue
            }
            if let line = firstLine[sku] { report(skuNode, "duplicate sku '\(sku)' (first at line \(line))"); continue }
            firstLine[sku] = skuNode.mark?.line ?? 0

            var title = sku
            if let node = fields["title"] {
                if let text = node.string, (1...200).contains(text.count) { title = text } else { report(node, "'title' must be a string of 1 to 200 characters") }
            } else {
                report(skuNode, "item '\(sku)' needs a 'title'")
            }
            var active = true
            if let node = fields["active"] {
                if let value = node.bool { active = value } else { report(node, "'active' must be true or false") }
            }
            let problemsBeforePrices = diagnostics.count
            var prices: [String: Int64] = [:]
            if let node = fields["prices"] { prices = priceTable(node, report: report) }
            var countryPrices: [String: [String: Int64]] = [:]
            if let node = fields["country_prices"] {
                if let countries = node.mapping {
                    for (key, value) in countries {
                        guard let country = key.string, country.count == 2, country.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                            report(key, "'\(key.string ?? "?")' is not an ISO 3166-1 alpha-2 country code like DE"); continue
                        }
                        // YAML reads a plain NO as a boolean, so `NO:` and `"NO":` pass its own duplicate check.
                        guard countryPrices[country] == nil else { report(key, "country '\(country)' appears twice"); continue }
                        countryPrices[country] = priceTable(value, report: report)
                    }
                } else {
                    report(node, "'country_prices' must map country codes to price tables")
                }
            }
            if diagnostics.count == problemsBeforePrices, prices.isEmpty, countryPrices.values.allSatisfy(\.isEmpty) {
                report(skuNode, "item '\(sku)' needs at least one price ('prices' or 'country_prices')")
            }
            var maximumQuantity = CatalogItem.defaultMaximumQuantity
            if let node = fields["max_quantity"] {
                if let value = integer(node), (1...CatalogItem.defaultMaximumQuantity).contains(value) { maximumQuantity = value } else {
                    report(node, "'max_quantity' must be an integer from 1 to \(CatalogItem.defaultMaximumQuantity)")
                }
            }
            var purchaseLimit: Int64?
            if let node = fields["purchase_limit"] {
                if let value = integer(node), value >= 1, value <= 1_000_000 { purchaseLimit = value } else {
                    report(node, "'purchase_limit' must be an integer from 1 to 1000000")
                }
            }
            catalog.items[sku] = CatalogItem(sku: sku, title: title, active: active, prices: prices, countryPrices: countryPrices,
                                             maximumQuantity: maximumQuantity, purchaseLimit: purchaseLimit)
        }
        return (catalog, diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }

    /// `{ USD: 499, EUR: 459 }`: ISO 4217 codes to whole minor-unit amounts.
    static func priceTable(_ node: Node, report: (Node?, String) -> Void) -> [String: Int64] {
        guard let table = node.mapping else { report(node, "a price table maps currencies to amounts, like { USD: 499 }"); return [:] }
        var prices: [String: Int64] = [:]
        for (key, value) in table {
            guard let currency = key.string, ISO4217.codes.contains(currency) else {
                report(key, "'\(key.string ?? "?")' is not an ISO 4217 currency code in upper case, like USD"); continue
            }
            guard prices[currency] == nil else { report(key, "currency '\(currency)' appears twice"); continue }
            guard let amount = integer(value), (1...CatalogItem.maximumUnitAmountMinor).contains(amount) else {
                report(value, "the \(currency) price must be an integer from 1 to \(CatalogItem.maximumUnitAmountMinor) (minor units)"); continue
            }
            prices[currency] = amount
        }
        return prices
    }

    /// A plain YAML integer: digits only, so `4.99`, `"499"`, `0x1f`, `1e3` and `0777` (octal to
    /// YAML 1.1) are refused rather than guessed at.
    static func integer(_ node: Node) -> Int64? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, !scalar.string.isEmpty, scalar.string.count <= 18,
              scalar.string.allSatisfy({ $0.isASCII && $0.isNumber }), scalar.string == "0" || !scalar.string.hasPrefix("0")
        else { return nil }
        return Int64(scalar.string)
    }

    static func isSKU(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }
}

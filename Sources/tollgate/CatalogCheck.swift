import ArgumentParser
import TollgateCatalog

struct Catalog: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with product catalogs (the SKUs and prices checkout charges).",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a catalog directory; print file:line:col: message per problem and exit 1 if any."
        )

        @Argument(help: "The catalog directory.")
        var directory: String = "catalog"

        func run() throws {
            switch CatalogFileParser.load(directory: directory) {
            case .success(let set):
                for name in set.tenants.keys.sorted() {
                    let catalog = set.tenants[name]!
                    let active = catalog.items.values.filter(\.active).count
                    print("\(catalog.file): ok (\(catalog.items.count) items, \(active) active; sha256 \(catalog.contentHash.prefix(12)))")
                }
                if set.tenants.isEmpty { print("\(directory): no catalogs (<tenant>.yaml)") }
            case .failure(let errors):
                for diagnostic in errors.diagnostics { print(diagnostic) }
                throw ExitCode.failure
            }
        }
    }
}

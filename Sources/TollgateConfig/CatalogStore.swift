import Logging
import TollgateCatalog

/// The product catalogs in force, reloaded whole or not at all (see ``ReloadableDirectory``): a
/// broken edit keeps every tenant's prices as they were.
public typealias CatalogStore = ReloadableDirectory<CatalogSet>

extension ReloadableDirectory where Content == CatalogSet {
    /// Loads the catalog directory; throws its diagnostics if a catalog is invalid at start.
    public convenience init(directory: String, logger: Logger) throws {
        try self.init(directory: directory, kind: "catalog", logger: logger) { CatalogFileParser.load(directory: $0) }
    }
}

extension ReloadableDirectory.Snapshot where Content == CatalogSet {
    public var catalogs: CatalogSet { content }
}

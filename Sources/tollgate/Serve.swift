import ArgumentParser
import Foundation
import Logging
import TollgateConfig
import TollgateHTTP
import TollgateTelemetry

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the TLS edge (HTTP/1.1 and HTTP/2) and the admin listener."
    )

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Apply pending database migrations before listening.")
    var migrate = false

    func run() async throws {
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let tenants = try Bootstrap.loadTenants(loaded.configuration)
        let logger = Bootstrap.logger(for: loaded.configuration)
        for warning in loaded.warnings + tenants.warnings {
            logger.warning("configuration warning", metadata: ["where": "\(warning.origin)", "warning": "\(warning.message)"])
        }
        let rules = try Bootstrap.loadRules(loaded.configuration, logger: logger)
        let catalog = try Bootstrap.loadCatalog(loaded.configuration, logger: logger)
        for tenant in tenants.catalog.checkout.keys.sorted() where catalog.snapshot.catalogs.tenants[tenant] == nil {
            logger.warning("checkout tenant has no product catalog; every item is refused", metadata: [
                "tenant": "\(tenant)", "expected": "\(loaded.configuration.catalog.directory)/\(tenant).yaml",
            ])
        }
        let server = try TollgateServer(
            configuration: loaded.configuration,
            tenants: tenants.catalog,
            rules: rules,
            catalog: catalog,
            metrics: Telemetry.bootstrapMetrics(),
            environment: ProcessInfo.processInfo.environment,
            logger: logger
        )
        let config = loaded.configuration
        logger.notice("tollgate starting", metadata: [
            "edge": "https://\(config.server.host):\(config.server.port)",
            "admin": "http://\(config.admin.host):\(config.admin.port)",
            "config": "\(options.config)",
            "tenants": "\(tenants.catalog.tenants.joined(separator: ","))",
        ])
        try await server.run(migrate: migrate)
        logger.notice("tollgate stopped")
    }
}

import ArgumentParser
import Foundation
import Logging
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
        let server = try TollgateServer(
            configuration: loaded.configuration,
            tenants: tenants.catalog,
            rules: rules,
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

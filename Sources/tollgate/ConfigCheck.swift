import ArgumentParser
import Logging
import TollgateConfig

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file (and its secret references) without serving."
        )

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let loaded = try Bootstrap.loadConfiguration(path: options.config)
            let tenants = try Bootstrap.loadTenants(loaded.configuration)
            _ = try Bootstrap.loadRules(loaded.configuration, logger: Logger(label: "config-check"))
            for warning in loaded.warnings + tenants.warnings { print("warning: \(warning)") }
            print("\(options.config): ok (tenants: \(tenants.catalog.tenants.joined(separator: ", ")))")
        }
    }
}

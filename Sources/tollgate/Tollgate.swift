import ArgumentParser

/// The `tollgate` command line: one binary for serving, migrating and checking configuration.
@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Payment gateway proxy and webhook ingress edge.",
        subcommands: [Serve.self, Deliver.self, Deliveries.self, GameBackendSim.self, Migrate.self, Config.self, Orders.self, Rules.self, Catalog.self, ProviderSim.self, Trigger.self, Token.self, Load.self, AppleDevIdentity.self]
    )
}

/// Options every subcommand that reads configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Path to the YAML configuration file.")
    var config: String = "config/tollgate.yaml"
}

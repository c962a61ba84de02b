import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TollgateConfig
import TollgateCore
import TollgateLoad
import TollgatePostgres
import TollgateSignatures

/// `tollgate load SCENARIO`: runs a load-test scenario against a running edge.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a load-test scenario (loadtests/scenarios/*.yaml) against a running edge.",
        discussion: "Flags override the scenario file. Exit 1 when a threshold or a --verify check fails."
    )

    @Argument(help: "The scenario file.") var scenario: String
    @Option(help: "Edge base URL.") var target: String?
    @Option(help: "Run time, like 30s.") var duration: String?
    @Option(help: "Open loop: arrival rate (requests/s); replaces the ramp.") var rate: Double?
    @Option(help: "Closed loop with this many clients.") var clients: Int?
    @Option(help: "h1 or h2.") var http: String?
    @Option(help: "Orders to seed for webhooks.") var orders: Int?
    @Option(help: "Tenants directory (the sources' secrets).") var tenantsDir: String?
    @Option(help: "Product catalogs directory (checkout buys the tenant's SKUs; --verify prices orders from it). Default: the scenario's catalog_dir, else --config's catalog.dir, else catalog.")
    var catalogDir: String?
    @Option(help: "The edge's configuration file, for its catalog.dir (when neither --catalog-dir nor the scenario names one).")
    var config: String?
    @Option(help: "Postgres URL for seeding and --verify (default: TOLLGATE_POSTGRES_URL).") var postgres: String?
    @Option(help: "Provider simulator base URL (checkout scenarios; its counters are verified).") var simulator: String?
    @Option(help: "Game-backend simulator base URL (the tenant's game backend): --verify checks fulfilment against it. Default: the scenario's game_simulator.")
    var gameSimulator: String?
    @Option(help: "CA certificate (PEM) of the edge.") var caFile = "certs/dev/ca.pem"
    @Option(help: "Where to write NAME.json and NAME.html.") var out = "loadtests/results"
    @Flag(help: "After the run, check Postgres against what was sent.") var verify = false
    @Option(help: "A faults file (JSON lines: name, start, end), read when the run stops sending: each window is shaded in the report and measured (loadtests/chaos).")
    var faults: String?

    func run() async throws {
        var scenario = try ScenarioParser.parse(try String(contentsOfFile: self.scenario, encoding: .utf8), file: self.scenario)
        if let target { scenario.target = target }
        if let duration {
            guard let value = SettingParser.duration(duration) else { throw ValidationError("--duration is a duration, like 30s") }
            scenario.duration = value
            scenario.stages = []
        }
        if let rate { scenario.rate = rate; scenario.stages = []; scenario.mode = .open }
        if let clients { scenario.clients = clients; scenario.mode = .closed }
        if let http {
            guard let value = Scenario.HTTPVersion(rawValue: http) else { throw ValidationError("--http is h1 or h2") }
            scenario.http = value
        }
        if let orders { scenario.seedOrders = orders }
        if let tenantsDir { scenario.tenantsDirectory = tenantsDir }
        if let gameSimulator { scenario.gameSimulator = gameSimulator }
        if let problem = scenario.presignProblem { throw ValidationError(problem) }

        var logger = Logger(label: "tollgate.load")
        logger.logLevel = .warning
        let environment = ProcessInfo.processInfo.environment
        let catalog: TenantCatalog
        do {
            catalog = try TenantCatalog.load(directory: scenario.tenantsDirectory, environment: environment).catalog
        } catch {
            FileHandle.standardError.write(Data("tollgate: invalid tenant configuration\n\(error.description)\n".utf8))
            throw ExitCode.failure
        }
        var catalogDirectory = catalogDir ?? scenario.catalogDirectory ?? TollgateConfiguration().catalog.directory
        if catalogDir == nil, scenario.catalogDirectory == nil, let config {
            catalogDirectory = try Bootstrap.loadConfiguration(path: config).configuration.catalog.directory
        }
        let postgresURL = postgres ?? environment["TOLLGATE_POSTGRES_URL"]
        var client: PostgresClient?
        if let postgresURL {
            guard let endpoint = PostgresEndpoint(url: postgresURL) else { throw ValidationError("--postgres is not a postgres:// URL") }
            client = PostgresClient(configuration: endpoint.clientConfiguration(poolSize: 2), backgroundLogger: logger)
        }
        let session = LoadSession(scenario: scenario, catalog: catalog, catalogDirectory: catalogDirectory, postgres: client, trustRootsPath: FileManager.default.fileExists(atPath: caFile) ? caFile : nil,
                                  verify: verify, simulatorURL: simulator, outputDirectory: out, faultsPath: faults, logger: logger)
        let results = try await withThrowingTaskGroup(of: LoadResults?.self) { group in
            if let client { group.addTask { await client.run(); return nil } }
            group.addTask { try await session.run { print($0) } }
            defer { group.cancelAll() }
            while let next = try await group.next() { if let next { return next } }
            throw ExitCode.failure
        }
        print(results.table)
        print("wrote \(out)/\(scenario.name).json and \(out)/\(scenario.name).html")
        if !results.passed { throw ExitCode.failure }
    }
}

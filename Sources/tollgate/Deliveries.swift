import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgateHTTP
import TollgatePostgres
import TollgateTelemetry

/// `tollgate deliver`: the delivery workers alone, for instances that deliver without serving
/// (as many as wanted: leases keep them apart).
struct Deliver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deliver the fulfilment outbox to the tenants' game backends (without serving the edge)."
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "Attempts running at once across all tenants.")
    var maxInFlight: Int = 64

    @Option(help: "Where to serve /metrics (plain HTTP, host:port; keep it private), or off. Give each instance on a host its own port.")
    var metrics = "127.0.0.1:9091"

    func run() async throws {
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let tenants = try Bootstrap.loadTenants(loaded.configuration)
        let logger = Bootstrap.logger(for: loaded.configuration)
        let backends = tenants.catalog.gameBackends
        guard !backends.isEmpty else {
            FileHandle.standardError.write(Data("tollgate: no tenant has a game_backend; nothing to deliver\n".utf8))
            throw ExitCode.failure
        }
        let postgres = try Bootstrap.postgresClient(loaded.configuration, poolSize: 4, logger: logger)
        let http = GameBackendClient.makeHTTPClient()
        var workerOptions = DeliveryWorker.Options()
        workerOptions.maximumInFlight = maxInFlight
        let worker = DeliveryWorker(queue: DeliveryStore(client: postgres, logger: logger, fulfilment: backends.mapValues(\.events)),
                                    backends: backends, client: GameBackendClient(http: http), options: workerOptions, logger: logger)
        var services: [any Service] = [postgres, worker]
        if metrics != "off" {
            guard let listen = SettingParser.hostAndPort(metrics) else { throw ValidationError("--metrics is host:port, like 127.0.0.1:9091, or off") }
            services.append(MetricsListener.make(registry: Telemetry.bootstrapMetrics(), host: listen.host, port: listen.port, logger: logger))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }
}

/// `tollgate deliveries ...`: what operators do with the outbox, straight on Postgres (the same
/// as the admin listener's `/admin/deliveries` and `/admin/game-backends`).
struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, retry and replay fulfilment deliveries; pause and resume game backends.",
        subcommands: [List.self, Retry.self, Replay.self, Pause.self, Resume.self]
    )

    /// Runs `body` with a Postgres pool and the outbox store.
    static func withStore<T: Sendable>(_ options: ConfigOptions, _ body: @Sendable (DeliveryStore) async throws -> T) async throws -> T {
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let logger = Bootstrap.logger(for: loaded.configuration)
        let client = try Bootstrap.postgresClient(loaded.configuration, poolSize: 1, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await body(DeliveryStore(client: client, logger: logger))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deliveries of a tenant, newest first, with their attempts (JSON lines).")
        @OptionGroup var options: ConfigOptions
        @Option(help: "Tenant.") var tenant: String
        @Option(help: "pending, delivered, declined or failed.") var status: String?
        @Option(help: "One order's deliveries.") var order: String?
        @Option(help: "At most this many (1-1000).") var limit: Int = 50

        func validate() throws {
            if let status, !DeliveryStore.statuses.contains(status) { throw ValidationError("--status must be one of \(DeliveryStore.statuses.sorted().joined(separator: ", "))") }
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1...1000") }
        }

        func run() async throws {
            let (status, order, limit, tenant) = (status, order, limit, tenant)
            let listed = try await Deliveries.withStore(options) { try await $0.list(tenant: tenant, status: status, orderID: order, limit: limit) }
            for delivery in listed { print(delivery.json.serialized) }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a failed delivery due now, with its whole schedule ahead again.")
        @OptionGroup var options: ConfigOptions
        @Option(help: "Tenant.") var tenant: String
        @Argument(help: "The delivery id.") var id: Int64

        func run() async throws {
            let (tenant, id) = (tenant, id)
            guard try await Deliveries.withStore(options, { try await $0.retry(id: id, tenant: tenant) }) else {
                FileHandle.standardError.write(Data("tollgate: delivery \(id) of \(tenant) is not failed, or a worker holds it, or it does not exist\n".utf8))
                throw ExitCode.failure
            }
            print("delivery \(id) is due now")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make every delivery of a tenant that failed since a time due again.")
        @OptionGroup var options: ConfigOptions
        @Option(help: "Tenant.") var tenant: String
        @Option(help: "ISO 8601 time, like 2026-11-26T08:00:00Z.") var since: String

        func run() async throws {
            guard let date = ISO8601Timestamp.parse(since) else { throw ValidationError("--since must be an ISO 8601 time, like 2026-11-26T08:00:00Z") }
            let tenant = tenant
            let count = try await Deliveries.withStore(options) { try await $0.replay(tenant: tenant, since: date) }
            print("\(count) deliveries of \(tenant) are due again")
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop delivering to a tenant's game backend (deliveries wait).")
        @OptionGroup var options: ConfigOptions
        @Option(help: "Tenant.") var tenant: String
        @Option(help: "Why, for the other operators.") var reason: String = "paused by an operator"

        func run() async throws {
            let (tenant, reason) = (tenant, reason)
            print(try await Deliveries.withStore(options) { try await $0.setEndpoint(tenant: tenant, active: false, reason: reason) }.json.serialized)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deliver to a tenant's game backend again (also after it answered 410 Gone).")
        @OptionGroup var options: ConfigOptions
        @Option(help: "Tenant.") var tenant: String

        func run() async throws {
            let tenant = tenant
            print(try await Deliveries.withStore(options) { try await $0.setEndpoint(tenant: tenant, active: true, reason: "resumed by an operator") }.json.serialized)
        }
    }
}

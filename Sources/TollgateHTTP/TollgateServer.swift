import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import Prometheus
import ServiceLifecycle
import UnixSignals
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgatePayments
import TollgatePostgres
import TollgateRedis
import TollgateRedisStores
import TollgateTelemetry

/// The running edge: its clients, its two listeners, and the order they start and stop in.
///
/// Every service starts at once (a ServiceGroup starts its services concurrently); the one
/// ordering that matters at start is Hummingbird's: the edge runs its `beforeServerStarts` work
/// (migrations, with `--migrate`) before it binds, so no request is accepted against an old
/// schema. They stop in reverse order of the list: on SIGTERM the edge drains its in-flight
/// requests first, then the admin listener, the committer and Redis close, and Postgres last.
public final class TollgateServer: Sendable {
    public let configuration: TollgateConfiguration
    public let postgres: PostgresClient
    public let redis: RedisClient
    public let certificates: CertificateStore
    public let tenants: TenantCatalog
    /// Shares Postgres transactions among concurrent webhook callbacks.
    public let committer: GroupCommitter
    /// The rate-limit rules in force (nil: no rules directory configured, nothing is limited).
    public let rules: RulesStore?
    public let rateLimiter: RateLimiter?
    /// The product catalogs checkout prices from (nil: none configured, so nothing can be sold).
    public let catalog: CatalogStore?
    /// One payment provider client (with its circuit breaker) per checkout tenant.
    let paymentClients: [String: PaymentProviderClient]
    /// Delivers the fulfilment outbox to the tenants' game backends (nil: no tenant has one).
    public let deliveryWorker: DeliveryWorker?
    /// Asks the game about a player before checkout sells (tenants with player_verification).
    let playerVerifier: PlayerVerifier?
    let gameBackendHTTP: HTTPClient?
    /// Ports the listeners bound (useful when the configuration asks for port 0).
    public let boundPorts = BoundPorts()
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger

    /// Builds the clients; resolves secrets. Nothing connects until ``run(migrate:)``.
    /// - Parameter metrics: the registry `/metrics` renders; the command line bootstraps it
    ///   (`Telemetry.bootstrapMetrics()`), since a library must not bootstrap global metrics.
    public init(
        configuration: TollgateConfiguration, tenants: TenantCatalog = TenantCatalog(), rules: RulesStore? = nil,
        catalog: CatalogStore? = nil, metrics: PrometheusCollectorRegistry, environment: [String: String], logger: Logger
    ) throws {
        self.configuration = configuration
        self.tenants = tenants
        self.logger = logger
        self.registry = metrics

        guard var pgEndpoint = PostgresEndpoint(url: configuration.postgres.url) else {
            throw ServerStartError("postgres.url is not a valid postgres:// URL")
        }
        if let password = configuration.postgres.password {
            pgEndpoint.password = try password.resolve(environment: environment).exposedValue
        }
        var postgresConfiguration = pgEndpoint.clientConfiguration(poolSize: configuration.postgres.poolSize, connectTimeout: configuration.postgres.connectTimeout)
        // Deadlines Postgres itself enforces (PostgresNIO cannot cancel a query): a held row lock
        // fails its own commit in lock_timeout instead of stalling every tenant's callbacks.
        postgresConfiguration.options.additionalStartupParameters = [
            ("lock_timeout", "\(configuration.postgres.lockTimeout.milliseconds)"),
            ("statement_timeout", "\(configuration.postgres.statementTimeout.milliseconds)"),
        ]
        self.postgres = PostgresClient(configuration: postgresConfiguration, backgroundLogger: logger)

        guard var redisEndpoint = RedisEndpoint(url: configuration.redis.url) else {
            throw ServerStartError("redis.url is not a valid redis:// or rediss:// URL")
        }
        if let password = configuration.redis.password {
            redisEndpoint.password = try password.resolve(environment: environment).exposedValue
        }
        var redisConfiguration = RedisClient.Configuration(endpoint: redisEndpoint)
        redisConfiguration.tlsCAFile = configuration.redis.tlsCAFile
        redisConfiguration.poolSize = configuration.redis.poolSize
        redisConfiguration.commandTimeout = configuration.redis.commandTimeout
        redisConfiguration.connectTimeout = configuration.redis.connectTimeout
        redisConfiguration.preloadedScripts = [RateLimiter.script] + WebhookDeduplicator.scripts
        self.redis = RedisClient(configuration: redisConfiguration, logger: logger)

        var commitOptions = GroupCommitter.Options()
        commitOptions.commitTimeout = configuration.webhooks.commitTimeout
        commitOptions.workers = configuration.webhooks.commitWorkers
        // The events each tenant's game backend takes: transitions write their outbox rows for these.
        let fulfilment = tenants.gameBackends.mapValues(\.events)
        self.committer = GroupCommitter(store: PaymentEventStore(client: postgres, logger: logger, fulfilment: fulfilment), options: commitOptions)
        let gameBackendHTTP = tenants.gameBackends.isEmpty ? nil : GameBackendClient.makeHTTPClient()
        self.playerVerifier = gameBackendHTTP.map { PlayerVerifier(backends: tenants.gameBackends, client: GameBackendClient(http: $0)) }
        let postgresClient = self.postgres
        self.gameBackendHTTP = gameBackendHTTP
        self.deliveryWorker = gameBackendHTTP.map {
            DeliveryWorker(queue: DeliveryStore(client: postgresClient, logger: logger, fulfilment: fulfilment), backends: tenants.gameBackends,
                           client: GameBackendClient(http: $0), logger: logger)
        }
        self.rules = rules
        self.catalog = catalog
        var limiterOptions = RateLimiter.Options()
        limiterOptions.redisBudget = configuration.rateLimits.redisBudget
        limiterOptions.instances = configuration.rateLimits.instances
        let redisClient = self.redis
        self.rateLimiter = rules.map { RateLimiter(rules: $0, redis: redisClient, options: limiterOptions, logger: logger) }
        self.paymentClients = tenants.checkout.mapValues { PaymentProviderClient(tenant: $0.tenant, settings: $0.payments, logger: logger) }
        self.certificates = try CertificateStore(
            chainPath: configuration.server.certificateChainPath,
            keyPath: configuration.server.privateKeyPath
        )
        self.readinessProbe = Self.makeReadinessProbe(postgres: postgres, redis: redis, committer: committer, boundPorts: boundPorts, logger: logger)
    }

    /// Serves until SIGTERM/SIGINT (graceful, bounded by the grace period) or cancellation.
    ///
    /// Migrations (with `migrate`) run in the edge's `beforeServerStarts`, so they finish before the
    /// edge binds; the Postgres pool is first in the service list, so it stops last.
    public func run(migrate: Bool = false, gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let postgres = self.postgres, logger = self.logger
        let beforeListening: @Sendable () async throws -> Void = {
            guard migrate else { return }
            let applied = try await Migrator(migrations: Migration.bundled()).apply(on: postgres, logger: logger)
            logger.info("migrations up to date", metadata: ["applied_now": "\(applied)"])
        }
        // Listed in the order they stop in reverse: the edge first, Postgres last.
        var services: [any Service] = [postgres, redis, committer, OperationalGauges(client: postgres, logger: logger)]
        if let deliveryWorker { services.append(deliveryWorker) }
        if let rules { services.append(DirectoryReloader(rules, interval: self.configuration.rateLimits.pollInterval)) }
        if let catalog { services.append(DirectoryReloader(catalog, interval: self.configuration.catalog.pollInterval)) }
        services += [
            CertificateReloader(store: certificates, rules: rules, catalog: catalog, logger: logger),
            try makeAdminApplication(),
            try await makeEdgeApplication(beforeListening: beforeListening),
        ]
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: gracefulShutdownSignals, logger: logger)
        configuration.maximumGracefulShutdownDuration = self.configuration.server.shutdownGracePeriod
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            for client in paymentClients.values { await client.shutdown() }
            try? await gameBackendHTTP?.shutdown()
            throw error
        }
        for client in paymentClients.values { await client.shutdown() }
        try? await gameBackendHTTP?.shutdown()
    }

    /// What `/readyz` checks: one probe for the edge and the admin listener, so both see the same
    /// checks still running.
    public let readinessProbe: ReadinessProbe

    static func makeReadinessProbe(postgres: PostgresClient, redis: RedisClient, committer: GroupCommitter, boundPorts: BoundPorts, logger: Logger) -> ReadinessProbe {
        ReadinessProbe(checks: [
            ("postgres", { [postgres] in
                try await PostgresMetrics.measure("ping") {
                    _ = try await postgres.checkedQuery("SELECT 1", logger: logger)
                }
            }),
            ("redis", { [redis] in try await redis.ping() }),
            // A commit running past its deadline: Postgres answers pings but not this edge's commits.
            ("commits", { [committer] in if let age = committer.stuckCommit { throw CommitStuck(age: age) } }),
            // Services start together: the admin listener answers while the edge still migrates.
            ("edge", { [boundPorts] in if boundPorts.edge == nil { throw EdgeNotListening() } }),
        ])
    }

    func makeEdgeApplication(beforeListening: @escaping @Sendable () async throws -> Void) async throws -> some ApplicationProtocol {
        let webhooks = WebhookRoutes(
            tenants: tenants,
            deduplicator: WebhookDeduplicator(
                redis: redis, doneTTL: configuration.webhooks.doneTTL, inFlightTTL: configuration.webhooks.inFlightTTL,
                limiter: rateLimiter, logger: logger
            ),
            committer: committer,
            rateLimiter: rateLimiter,
            rateLimitHeadersOnAdmitted: configuration.rateLimits.headersOnAdmitted,
            players: playerVerifier
        )
        let redis = self.redis
        let checkout = try await CheckoutRoutes.make(
            tenants: tenants, products: { [catalog] in catalog?.snapshot.catalogs.tenants[$0] }, payments: paymentClients, orders: DeadlineBoundOrders(CheckoutOrderStore(client: postgres, logger: logger, fulfilment: tenants.gameBackends.mapValues(\.events)), timeout: configuration.postgres.statementTimeout),
            idempotency: { IdempotencyRecordStore(redis: redis, ttl: $0.idempotencyTTL, lease: $0.idempotencyLease) },
            rateLimiter: rateLimiter, rateLimitHeadersOnAdmitted: configuration.rateLimits.headersOnAdmitted, players: playerVerifier, logger: logger
        )
        let router = Self.makeEdgeRouter(bodyLimit: configuration.server.bodyLimitBytes, readiness: readinessProbe, webhooks: webhooks, checkout: checkout)

        let server = configuration.server
        let http1 = HTTP1Channel.Configuration(
            idleTimeout: TimeAmount.nanoseconds(server.idleTimeout.nanoseconds),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: server.maxHeaderBytes,
                maxHeaderListSize: server.maxHeaderBytes,
                maxHeaderFieldCount: server.maxHeaderCount
            )
        )
        let tls = certificates.serverTLSConfiguration()
        let idleTimeout = server.idleTimeout
        let guardSettings = server.connectionGuard
        let tarpit = Tarpit(hold: guardSettings.tarpitHold, capacity: guardSettings.tarpitMaxConnections)
        let edgeChannel = HTTPServerBuilder { responder in
            try EdgeChannel(
                tlsConfiguration: tls, guardSettings: guardSettings, tarpit: tarpit, idleTimeout: idleTimeout,
                streamConfiguration: http1, responder: responder
            )
        }
        let ports = boundPorts
        var application = Application(
            router: router,
            server: edgeChannel,
            configuration: ApplicationConfiguration(
                address: .hostname(server.host, port: server.port),
                serverName: nil,
                backlog: server.acceptBacklog,
                availableConnectionsDelegate: ConnectionLimit(maximum: server.maxConnections, tarpit: tarpit)
            ),
            onServerRunning: { channel in
                tarpit.listening(on: channel)
                ports.record(edge: channel.localAddress?.port)
            },
            logger: logger
        )
        application.beforeServerStarts(perform: beforeListening)
        return application
    }

    /// The edge's middleware, outermost first, and its routes: one builder for the server and the
    /// in-process route tests.
    static func makeEdgeRouter(bodyLimit: Int, readiness: ReadinessProbe, webhooks: WebhookRoutes, checkout: CheckoutRoutes) -> Router<EdgeRequestContext> {
        let router = Router(context: EdgeRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ObservabilityMiddleware())
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: RequestBodyLimitMiddleware(limit: bodyLimit))
        HealthRoutes(readiness: readiness).register(on: router)
        webhooks.register(on: router)
        checkout.register(on: router)
        return router
    }

    func makeAdminApplication() throws -> some ApplicationProtocol {
        let router = Router(context: EdgeRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ProblemMiddleware())
        MetricsRoute(registry: registry).register(on: router)
        HealthRoutes(readiness: readinessProbe).register(on: router)
        if let rules { RulesAdminRoutes.make(store: rules).register(on: router) }
        if let catalog { CatalogAdminRoutes.make(store: catalog).register(on: router) }
        DeliveryAdminRoutes(store: DeliveryStore(client: postgres, logger: logger, fulfilment: tenants.gameBackends.mapValues(\.events))).register(on: router)
        let ports = boundPorts
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(configuration.admin.host, port: configuration.admin.port)),
            onServerRunning: { channel in ports.record(admin: channel.localAddress?.port) },
            logger: logger
        )
    }
}

/// `/healthz` (the process answers) and `/readyz` (it can do its job).
struct HealthRoutes {
    let readiness: ReadinessProbe

    func register(on router: Router<EdgeRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(.object([("status", .string("ok"))]))
        }
        router.get("/readyz") { _, _ in
            let report = await readiness.run()
            if report.isReady {
                return Response.json(.object([("status", .string("ready")), ("checks", report.json)]))
            }
            return Response.problem(Problem(
                .notReady,
                detail: "Not ready: \(report.down.joined(separator: ", ")) down.",
                extensions: ["checks": report.json],
                headers: [("Retry-After", "1")]
            ))
        }
    }
}

/// The ports the listeners actually bound, published once each is up.
public final class BoundPorts: Sendable {
    private let ports = NIOLockedValueBox<(edge: Int?, admin: Int?)>((nil, nil))

    public init() {}

    func record(edge: Int?) { ports.withLockedValue { $0.edge = edge } }
    func record(admin: Int?) { ports.withLockedValue { $0.admin = admin } }

    public var edge: Int? { ports.withLockedValue { $0.edge } }
    public var admin: Int? { ports.withLockedValue { $0.admin } }
}

/// `/readyz` while a commit has run past its deadline.
struct CommitStuck: Error, CustomStringConvertible {
    let age: Duration
    var description: String { "a commit has run for \(age) past its deadline" }
}

/// `/readyz` before the edge has bound its port (migrations still running).
struct EdgeNotListening: Error {}

public struct ServerStartError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// `GET /metrics`: the Prometheus text of the process's registry.
struct MetricsRoute {
    let registry: PrometheusCollectorRegistry

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/metrics") { [registry] _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
    }
}

/// A plain-HTTP listener with `/metrics` and `/healthz` alone, for processes without the admin
/// listener (`tollgate deliver`): keep it on loopback or a private network.
public enum MetricsListener {
    public static func make(registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger) -> some Service {
        let router = Router()
        MetricsRoute(registry: registry).register(on: router)
        router.get("/healthz") { _, _ in Response.json(.object([("status", .string("ok"))])) }
        return Application(router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port)), logger: logger)
    }
}

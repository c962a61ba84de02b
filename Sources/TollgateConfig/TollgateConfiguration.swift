import Foundation

/// Everything `tollgate serve` needs, validated. Built by ``ConfigurationLoader``.
///
/// Every setting has a documented default (see `config/tollgate.yaml`) and a validated range.
public struct TollgateConfiguration: Sendable {
    public struct Server: Sendable {
        /// Listen host and port of the public TLS edge. Default `127.0.0.1:8443`.
        public var host: String = "127.0.0.1"
        public var port: Int = 8443
        /// PEM certificate chain (leaf first) and PEM private key. Reloaded on SIGHUP.
        public var certificateChainPath: String = "certs/dev/server.pem"
        public var privateKeyPath: String = "certs/dev/server-key.pem"
        /// Open connections beyond this wait in the accept backlog. Default 4096.
        public var maxConnections: Int = 4096
        /// Connections the kernel queues for accepting (capped by net.core.somaxconn). Default 4096:
        /// with 256 the attack scenario overflowed it and genuine connection attempts were dropped.
        public var acceptBacklog: Int = 4096
        /// A connection with no request in flight for this long is closed. Default 60 s.
        public var idleTimeout: Duration = .seconds(60)
        /// Limits on request headers: total bytes and field count. Defaults 16 KiB and 100.
        public var maxHeaderBytes: Int = 16 * 1024
        public var maxHeaderCount: Int = 100
        /// Largest request body accepted; larger ones get 413. Default 1 MiB.
        public var bodyLimitBytes: Int = 1 << 20
        /// How long SIGTERM waits for in-flight requests before closing. Default 25 s.
        public var shutdownGracePeriod: Duration = .seconds(25)

        /// Connection hygiene: what one client may hold of the edge (``ConnectionGuardSettings``).
        public var connectionGuard = ConnectionGuardSettings()
    }

    public struct Admin: Sendable {
        /// Plain-HTTP listener for `/metrics` (and later admin routes). Keep it on loopback.
        public var host: String = "127.0.0.1"
        public var port: Int = 9090
    }

    public struct Postgres: Sendable {
        /// `postgres://user@host:port/database[?sslmode=MODE&sslrootcert=PATH]`, libpq's names and
        /// meanings (``PostgresEndpoint/TLSMode``). Default the `make run` cluster, `sslmode=disable`.
        public var url: String = "postgres://tollgate@127.0.0.1:54330/tollgate"
        /// Password, as a secret reference; overrides one in the URL.
        public var password: SecretReference?
        /// Largest number of pooled connections. Default 20.
        public var poolSize: Int = 20
        public var connectTimeout: Duration = .seconds(5)
        /// The edge's connections give up waiting for a row or advisory lock after this, so a row
        /// held elsewhere (a stuck session, an operator's open transaction) delays only the
        /// callbacks for that order: they answer 503 and land on retry. Default 1 s; at most a
        /// third of `webhooks.commit_timeout`, so the rest of a batch still commits in time.
        public var lockTimeout: Duration = .seconds(1)
        /// Any one statement of the edge's is cancelled by Postgres after this. Default 4 s. A
        /// checkout's call to Postgres is answered 503 after this too, whatever holds it (a
        /// connection lease while Postgres is cut off, a silent connection).
        public var statementTimeout: Duration = .seconds(4)
    }

    public struct Redis: Sendable {
        /// `redis://[:password@]host:port[/db]`, or `rediss://` for TLS. Default the `make run` server.
        public var url: String = "redis://127.0.0.1:63790/0"
        public var password: SecretReference?
        /// PEM CA bundle a `rediss://` server's certificate must chain to. Default nil: the system's roots.
        public var tlsCAFile: String?
        /// Connections kept open; commands are pipelined over them. Default 4.
        public var poolSize: Int = 4
        /// A command without a reply after this long fails with a timeout. Default 250 ms.
        public var commandTimeout: Duration = .milliseconds(250)
        public var connectTimeout: Duration = .seconds(2)
    }

    public struct Webhooks: Sendable {
        /// Directory of tenant files (`*.yaml`), relative to the working directory. Default `config/tenants`.
        public var tenantsDirectory: String = "config/tenants"
        /// How long Redis remembers a committed event id. Default 7 days.
        public var doneTTL: Duration = .seconds(7 * 86_400)
        /// How long an in-flight claim lives if its holder dies. Default 30 s.
        public var inFlightTTL: Duration = .seconds(30)
        /// A commit slower than this answers 503 (the provider retries). Default 5 s.
        public var commitTimeout: Duration = .seconds(5)
        /// Group-commit transactions in flight at once, each on a pooled Postgres connection. Default 4.
        public var commitWorkers: Int = 4
    }

    public struct RateLimits: Sendable {
        /// Directory of rules files. Default `rules`.
        public var rulesDirectory: String = "rules"
        /// Redis must answer a limit check within this, or it is decided locally. Default 5 ms.
        public var redisBudget: Duration = .milliseconds(5)
        /// Instances sharing one Redis; the local fallback admits rate / instances. Default 1.
        public var instances: Int = 1
        /// Send RateLimit-Policy and RateLimit on admitted responses too. Default true.
        public var headersOnAdmitted: Bool = true
        /// How often the rules directory is checked for edits. Default 1 s.
        public var pollInterval: Duration = .seconds(1)
    }

    public struct Catalog: Sendable {
        /// Directory of product catalogs (`<tenant>.yaml`) the checkout prices orders from. Default `catalog`.
        public var directory: String = "catalog"
        /// How often the catalog directory is checked for edits. Default 1 s.
        public var pollInterval: Duration = .seconds(1)
    }

    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public var server = Server()
    public var admin = Admin()
    public var postgres = Postgres()
    public var redis = Redis()
    public var webhooks = Webhooks()
    public var rateLimits = RateLimits()
    public var catalog = Catalog()
    public var logLevel: LogLevel = .info
    /// Where the settings came from, for the start-up log line.
    public var sourcePath: String?

    public init() {}

    /// Every key the file may hold. The sample file `config/tollgate.yaml` documents each.
    public static let knownKeys: Set<String> = [
        "server.listen", "server.tls.certificate_chain", "server.tls.private_key",
        "server.max_connections", "server.idle_timeout", "server.max_header_bytes",
        "server.max_header_count", "server.body_limit", "server.shutdown_grace_period",
        "server.accept_backlog", "server.tls_handshake_timeout", "server.first_request_timeout", "server.request_head_timeout",
        "server.body_read_timeout", "server.max_connections_per_client", "server.connection_body_budget",
        "server.tarpit_hold", "server.tarpit_max_connections",
        "admin.listen",
        "postgres.url", "postgres.password", "postgres.pool_size", "postgres.connect_timeout", "postgres.lock_timeout", "postgres.statement_timeout",
        "redis.url", "redis.password", "redis.tls_ca_file", "redis.pool_size", "redis.command_timeout", "redis.connect_timeout",
        "webhooks.tenants_dir", "webhooks.dedup_done_ttl", "webhooks.dedup_inflight_ttl", "webhooks.commit_timeout", "webhooks.commit_workers",
        "rate_limits.rules_dir", "rate_limits.redis_budget", "rate_limits.instances", "rate_limits.headers",
        "rate_limits.poll_interval",
        "catalog.dir", "catalog.poll_interval",
        "logging.level",
    ]
}

/// What one client may hold of the edge: how long it may take to finish the TLS handshake, to send
/// its first request, a request head and a request body, how many connections one address may
/// keep open, and how many body bytes one connection may have in flight across HTTP/2 streams.
/// Keys under `server:`; every close these cause is counted in
/// `tollgate_http_guard_closures_total{reason}`.
///
/// A payment edge is on the open internet and shared by every tenant: without these, sockets that
/// never send a ClientHello or send a byte a minute hold connection slots until none is left for
/// the providers (issue 14). Hummingbird's idle timeout starts only after ALPN and is reset by
/// every body part, so it bounds neither.
public struct ConnectionGuardSettings: Sendable {
    /// From accept to a finished TLS handshake. Default 5 s.
    public var tlsHandshakeTimeout: Duration = .seconds(5)
    /// From the handshake to the first complete request head. Default 10 s.
    public var firstRequestTimeout: Duration = .seconds(10)
    /// HTTP/1.1: from a request's first byte to its complete head (slow headers). Default 10 s.
    public var requestHeadTimeout: Duration = .seconds(10)
    /// From a request head to the last byte of its body (slow bodies). Default 10 s.
    public var bodyReadTimeout: Duration = .seconds(10)
    /// Open connections from one client address; 0 turns the cap off (behind a proxy that does
    /// not pass the client address, every connection shares the proxy's). Default 256.
    public var maxConnectionsPerClient: Int = 256
    /// Request body bytes one connection may hold in flight across its HTTP/2 streams; a stream
    /// that would exceed it is reset. At least `body_limit`. Default 4 MiB.
    public var connectionBodyBudget: Int = 4 << 20
    /// How long a connection from a cooling-off address is held open, unanswered, instead of
    /// being closed at accept: half to one and a half times this, drawn per connection (so that
    /// an address's sockets do not all come back at once); 0 closes at once. Default 60 s.
    public var tarpitHold: Duration = .seconds(60)
    /// The most connections held at once; past it, refusals close at once. Held connections are
    /// not counted in `max_connections`. Default 8192.
    public var tarpitMaxConnections: Int = 8192

    public init() {}
}

import Foundation
import TollgateCore

/// Reads, overrides and validates the configuration. Collects every problem before failing.
public struct ConfigurationLoader: Sendable {
    /// What a successful load yields: the configuration and warnings worth logging.
    public struct Loaded: Sendable {
        public var configuration: TollgateConfiguration
        public var warnings: [ConfigurationIssue]
    }

    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Loads `path`. Throws ``ConfigurationError`` naming file, line and reason for each problem.
    public func load(path: String) throws(ConfigurationError) -> Loaded {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(issues: [ConfigurationIssue(.file(path: path, line: 0, column: 0), "cannot read the configuration file")])
        }
        guard let yaml = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(issues: [ConfigurationIssue(.file(path: path, line: 1, column: 1), "the file is not UTF-8")])
        }
        return try load(yaml: yaml, path: path)
    }

    public func load(yaml: String, path: String) throws(ConfigurationError) -> Loaded {
        let source = ConfigurationSource(yaml: yaml, path: path, knownKeys: TollgateConfiguration.knownKeys, environment: environment)
        var reader = SettingReader(source: source)
        var config = TollgateConfiguration()
        config.sourcePath = path

        if let (host, port) = reader.read("server.listen", SettingParser.hostAndPort, expected: "host:port") {
            (config.server.host, config.server.port) = (host, port)
        }
        reader.read("server.tls.certificate_chain", into: &config.server.certificateChainPath, { $0.isEmpty ? nil : $0 }, expected: "a file path")
        reader.read("server.tls.private_key", into: &config.server.privateKeyPath, { $0.isEmpty ? nil : $0 }, expected: "a file path")
        reader.read("server.max_connections", into: &config.server.maxConnections, Int.init, expected: "an integer", range: 1...1_000_000)
        reader.read("server.idle_timeout", into: &config.server.idleTimeout, SettingParser.duration, expected: "a duration like 60s", range: .seconds(1)...Duration.seconds(86_400))
        reader.read("server.max_header_bytes", into: &config.server.maxHeaderBytes, SettingParser.byteCount, expected: "a size like 16KiB", range: 1024...(1 << 20))
        reader.read("server.max_header_count", into: &config.server.maxHeaderCount, Int.init, expected: "an integer", range: 8...10_000)
        reader.read("server.body_limit", into: &config.server.bodyLimitBytes, SettingParser.byteCount, expected: "a size like 1MiB", range: 1...(64 << 20))
        reader.read("server.shutdown_grace_period", into: &config.server.shutdownGracePeriod, SettingParser.duration, expected: "a duration like 25s", range: .zero...Duration.seconds(3600))
        reader.read("server.accept_backlog", into: &config.server.acceptBacklog, Int.init, expected: "an integer", range: 1...65_535)
        reader.read("server.tls_handshake_timeout", into: &config.server.connectionGuard.tlsHandshakeTimeout, SettingParser.duration, expected: "a duration like 5s", range: .milliseconds(100)...Duration.seconds(300))
        reader.read("server.first_request_timeout", into: &config.server.connectionGuard.firstRequestTimeout, SettingParser.duration, expected: "a duration like 10s", range: .milliseconds(100)...Duration.seconds(300))
        reader.read("server.request_head_timeout", into: &config.server.connectionGuard.requestHeadTimeout, SettingParser.duration, expected: "a duration like 10s", range: .milliseconds(100)...Duration.seconds(300))
        reader.read("server.body_read_timeout", into: &config.server.connectionGuard.bodyReadTimeout, SettingParser.duration, expected: "a duration like 10s", range: .milliseconds(100)...Duration.seconds(300))
        reader.read("server.max_connections_per_client", into: &config.server.connectionGuard.maxConnectionsPerClient, Int.init, expected: "an integer (0: no cap)", range: 0...1_000_000)
        reader.read("server.connection_body_budget", into: &config.server.connectionGuard.connectionBodyBudget, SettingParser.byteCount, expected: "a size like 4MiB", range: 1...(1 << 30))
        reader.read("server.tarpit_hold", into: &config.server.connectionGuard.tarpitHold, SettingParser.duration, expected: "a duration like 60s (0s: close at once)", range: .zero...Duration.seconds(3600))
        reader.read("server.tarpit_max_connections", into: &config.server.connectionGuard.tarpitMaxConnections, Int.init, expected: "an integer", range: 0...1_000_000)
        if let (host, port) = reader.read("admin.listen", SettingParser.hostAndPort, expected: "host:port") {
            (config.admin.host, config.admin.port) = (host, port)
        }
        reader.readPostgresURL(into: &config.postgres.url)
        config.postgres.password = reader.secret("postgres.password")
        reader.read("postgres.pool_size", into: &config.postgres.poolSize, Int.init, expected: "an integer", range: 1...1000)
        reader.read("postgres.connect_timeout", into: &config.postgres.connectTimeout, SettingParser.duration, expected: "a duration like 5s", range: .milliseconds(10)...Duration.seconds(600))
        reader.read("postgres.lock_timeout", into: &config.postgres.lockTimeout, SettingParser.duration, expected: "a duration like 1s", range: .milliseconds(10)...Duration.seconds(60))
        reader.read("postgres.statement_timeout", into: &config.postgres.statementTimeout, SettingParser.duration, expected: "a duration like 4s", range: .milliseconds(100)...Duration.seconds(600))
        reader.readRedisURL(into: &config.redis.url)
        config.redis.password = reader.secret("redis.password")
        config.redis.tlsCAFile = reader.readCertificateFile("redis.tls_ca_file")
        if config.redis.tlsCAFile != nil, RedisEndpoint(url: config.redis.url)?.tls == false, let value = source.values["redis.tls_ca_file"] {
            reader.warnings.append(ConfigurationIssue(value.origin, "redis.tls_ca_file is unused: redis.url is not rediss://"))
        }
        reader.read("redis.pool_size", into: &config.redis.poolSize, Int.init, expected: "an integer", range: 1...256)
        reader.read("redis.command_timeout", into: &config.redis.commandTimeout, SettingParser.duration, expected: "a duration like 250ms", range: .milliseconds(1)...Duration.seconds(60))
        reader.read("redis.connect_timeout", into: &config.redis.connectTimeout, SettingParser.duration, expected: "a duration like 2s", range: .milliseconds(10)...Duration.seconds(600))
        reader.read("webhooks.tenants_dir", into: &config.webhooks.tenantsDirectory, { $0.isEmpty ? nil : $0 }, expected: "a directory path")
        reader.read("webhooks.dedup_done_ttl", into: &config.webhooks.doneTTL, SettingParser.duration, expected: "a duration like 7d", range: .seconds(60)...Duration.seconds(90 * 86_400))
        reader.read("webhooks.dedup_inflight_ttl", into: &config.webhooks.inFlightTTL, SettingParser.duration, expected: "a duration like 30s", range: .seconds(1)...Duration.seconds(3600))
        reader.read("webhooks.commit_timeout", into: &config.webhooks.commitTimeout, SettingParser.duration, expected: "a duration like 5s", range: .milliseconds(100)...Duration.seconds(60))
        reader.read("webhooks.commit_workers", into: &config.webhooks.commitWorkers, Int.init, expected: "an integer", range: 1...64)
        reader.read("rate_limits.rules_dir", into: &config.rateLimits.rulesDirectory, { $0.isEmpty ? nil : $0 }, expected: "a directory path")
        reader.read("rate_limits.redis_budget", into: &config.rateLimits.redisBudget, SettingParser.duration, expected: "a duration like 5ms", range: .milliseconds(1)...Duration.seconds(1))
        reader.read("rate_limits.instances", into: &config.rateLimits.instances, Int.init, expected: "an integer", range: 1...1000)
        reader.read("rate_limits.headers", into: &config.rateLimits.headersOnAdmitted, { ["true": true, "false": false][$0] }, expected: "true or false")
        reader.read("rate_limits.poll_interval", into: &config.rateLimits.pollInterval, SettingParser.duration, expected: "a duration like 1s", range: .milliseconds(100)...Duration.seconds(3600))
        reader.read("catalog.dir", into: &config.catalog.directory, { $0.isEmpty ? nil : $0 }, expected: "a directory path")
        reader.read("catalog.poll_interval", into: &config.catalog.pollInterval, SettingParser.duration, expected: "a duration like 1s", range: .milliseconds(100)...Duration.seconds(3600))
        reader.read("logging.level", into: &config.logLevel, TollgateConfiguration.LogLevel.init(rawValue:),
                    expected: "one of " + TollgateConfiguration.LogLevel.allCases.map(\.rawValue).joined(separator: ", "))

        // Secrets are resolved now so that an unset variable stops the start, not the first request.
        for key in ["postgres.password", "redis.password"] {
            guard let value = source.values[key] else { continue }
            let reference = SecretReference(parsing: value.text)
            do {
                _ = try reference.resolve(environment: environment)
            } catch {
                reader.issues.append(ConfigurationIssue(value.origin, "\(key): \(error)"))
            }
            if reference.isLiteral {
                reader.warnings.append(ConfigurationIssue(value.origin, "\(key) is a literal secret; use env: or file: outside development"))
            }
        }

        // One whole body must fit a connection's budget, or a legal request could never be read.
        if config.server.connectionGuard.connectionBodyBudget < config.server.bodyLimitBytes {
            let origin = (source.values["server.connection_body_budget"] ?? source.values["server.body_limit"])?.origin
            reader.issues.append(ConfigurationIssue(origin ?? .defaultValue, "server.connection_body_budget must be at least server.body_limit"))
        }
        // A lock wait must fail well inside the commit deadline: a batch that meets a held row
        // retries event by event (a second wait), and its other events must still commit in time.
        if config.postgres.lockTimeout * 3 > config.webhooks.commitTimeout {
            let origin = (source.values["postgres.lock_timeout"] ?? source.values["webhooks.commit_timeout"])?.origin
            reader.issues.append(ConfigurationIssue(origin ?? .defaultValue,
                                                    "postgres.lock_timeout must be at most a third of webhooks.commit_timeout"))
        }
        guard reader.issues.isEmpty else { throw ConfigurationError(issues: reader.issues) }
        return Loaded(configuration: config, warnings: reader.warnings)
    }
}

/// Typed access to a ``ConfigurationSource`` that records a located issue for each bad value.
struct SettingReader {
    let source: ConfigurationSource
    var issues: [ConfigurationIssue]
    var warnings: [ConfigurationIssue] = []

    init(source: ConfigurationSource) {
        self.source = source
        self.issues = source.issues
    }

    mutating func read<T>(_ key: String, _ parse: (String) -> T?, expected: String) -> T? {
        guard let value = source.values[key] else { return nil }
        guard let parsed = parse(value.text) else {
            issues.append(ConfigurationIssue(value.origin, "\(key): '\(value.text)' is not \(expected)"))
            return nil
        }
        return parsed
    }

    mutating func read<T>(_ key: String, into target: inout T, _ parse: (String) -> T?, expected: String) {
        if let parsed = read(key, parse, expected: expected) { target = parsed }
    }

    mutating func read<T: Comparable>(_ key: String, into target: inout T, _ parse: (String) -> T?, expected: String, range: ClosedRange<T>) {
        guard let parsed = read(key, parse, expected: expected) else { return }
        guard range.contains(parsed) else {
            issues.append(ConfigurationIssue(source.values[key]!.origin, "\(key): \(parsed) is outside \(range.lowerBound)...\(range.upperBound)"))
            return
        }
        target = parsed
    }

    func secret(_ key: String) -> SecretReference? {
        source.values[key].map { SecretReference(parsing: $0.text) }
    }

    /// `postgres.url`, with libpq's `sslmode` and a readable `sslrootcert`. A bad URL is reported
    /// without its text: it may hold the password.
    mutating func readPostgresURL(into target: inout String) {
        guard let value = source.values["postgres.url"] else { return }
        do {
            let endpoint = try PostgresEndpoint(parsing: value.text)
            if let path = endpoint.rootCertificatePath, let problem = Self.certificateFileProblem(path) {
                issues.append(ConfigurationIssue(value.origin, "postgres.url: sslrootcert \(problem)"))
                return
            }
            target = value.text
        } catch {
            issues.append(ConfigurationIssue(value.origin, "postgres.url: \(error)"))
        }
    }

    /// `redis.url`, reported without its text on error: it may hold the password.
    mutating func readRedisURL(into target: inout String) {
        guard let value = source.values["redis.url"] else { return }
        guard RedisEndpoint(url: value.text) != nil else {
            issues.append(ConfigurationIssue(value.origin, "redis.url: not a redis:// or rediss://[:password@]host[:port][/db] URL"))
            return
        }
        target = value.text
    }

    /// A path to a PEM file of CA certificates, checked now so that a typo stops the start
    /// rather than every connection attempt.
    mutating func readCertificateFile(_ key: String) -> String? {
        guard let value = source.values[key] else { return nil }
        if let problem = Self.certificateFileProblem(value.text) {
            issues.append(ConfigurationIssue(value.origin, "\(key): \(problem)"))
            return nil
        }
        return value.text
    }

    /// Why `path` is not a readable PEM file of certificates, or nil.
    static func certificateFileProblem(_ path: String) -> String? {
        guard !path.isEmpty else { return "names no file" }
        guard let data = FileManager.default.contents(atPath: path) else { return "\(path) cannot be read" }
        guard String(decoding: data, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            return "\(path) holds no PEM certificate"
        }
        return nil
    }
}

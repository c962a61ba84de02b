import ArgumentParser
import Foundation
import TollgateHTTP
import TollgateRedisStores
import TollgateRateLimits
import TollgateRedis
import TollgateCore

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with rate-limit rules files.",
        subcommands: [Check.self, RulesExplain.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a rules directory; print file:line:col: message per problem and exit 1 if any."
        )

        @Argument(help: "The rules directory.")
        var directory: String = "rules"

        func run() throws {
            switch RulesFileParser.load(directory: directory) {
            case .success(let set):
                let total = set.defaults.count + set.tenants.values.map(\.count).reduce(0, +)
                print("\(directory): ok (\(total) rules; tenants: \(set.tenants.keys.sorted().joined(separator: ", ")))")
            case .failure(let errors):
                for diagnostic in errors.diagnostics { print(diagnostic) }
                throw ExitCode.failure
            }
        }
    }
}

/// `tollgate rules explain`: which rules apply to a request, and their state in Redis.
struct RulesExplain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show which rules apply to a request and their current state in Redis."
    )

    @OptionGroup var options: ConfigOptions
    @Option var tenant: String
    @Option(help: "webhooks, checkout or status") var route: String
    @Option var source: String?
    @Option var method: String = "POST"
    @Option var player: String?
    @Option var ip: String?

    func run() async throws {
        guard let routeClass = RouteClass(rawValue: route) else { throw ValidationError("--route must be webhooks, checkout or status") }
        let loaded = try Bootstrap.loadConfiguration(path: options.config)
        let logger = Bootstrap.logger(for: loaded.configuration)
        let rules = try Bootstrap.loadRules(loaded.configuration, logger: logger)
        guard let endpoint = RedisEndpoint(url: loaded.configuration.redis.url) else { throw ValidationError("redis.url is not a redis:// or rediss:// URL") }
        var redisConfiguration = RedisClient.Configuration(endpoint: endpoint)
        redisConfiguration.tlsCAFile = loaded.configuration.redis.tlsCAFile
        let redis = RedisClient(configuration: redisConfiguration, logger: logger)
        let limiter = RateLimiter(rules: rules, redis: redis, logger: logger)
        let subject = RateLimitSubject(tenant: tenant, route: routeClass, source: source, method: method, player: player, clientIP: ip)
        let explanations = try await withThrowingTaskGroup(of: [RateLimiter.Explanation].self) { group in
            group.addTask { try await redis.run(); return [] }
            defer { group.cancelAll() }
            for _ in 0..<40 where !redis.isConnected { try await Task.sleep(for: .milliseconds(50)) }
            return await limiter.explain(subject)
        }
        if explanations.isEmpty { print("no rule applies (or an unlimited rule exempts this request)") }
        for item in explanations {
            let rule = item.rule
            let rate = rule.rate.map { "\($0.count)/\($0.windowSeconds)s" } ?? "-"
            var line = "\(rule.name) [\(rule.mode.rawValue)] rate=\(rate) burst=\(rule.burst) by=\(rule.by.rawValue) (\(rule.origin))"
            if let key = item.key, let remaining = item.remaining, let reset = item.resetSeconds {
                line += "\n    key \(key): remaining \(remaining), full again in \(String(format: "%.3f", reset)) s"
            } else {
                line += "\n    no state: this request has no \(rule.by.rawValue), or Redis is unreachable"
            }
            print(line)
        }
    }
}

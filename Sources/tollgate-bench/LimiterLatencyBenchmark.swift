import ArgumentParser
import Foundation
import Logging
import TollgateHTTP
import TollgateRedisStores
import TollgateRateLimits
import TollgateRedis
import TollgateCore

/// The latency the rate limiter adds to a request: `RateLimiter.check` against a real Redis,
/// next to a bare Redis `PING` measured in the same run as the baseline.
struct LimiterLatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "limiter")

    @Option(help: "redis:// URL.")
    var redisURL: String = ProcessInfo.processInfo.environment["TOLLGATE_REDIS_URL"] ?? "redis://127.0.0.1:63790/0"

    @Option(help: "Checks to time.")
    var iterations: Int = 20_000

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        guard let endpoint = RedisEndpoint(url: redisURL) else { throw ValidationError("bad --redis-url") }
        var configuration = RedisClient.Configuration(endpoint: endpoint)
        configuration.poolSize = 1
        let redis = RedisClient(configuration: configuration, logger: logger)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-bench-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Two matching rules, the shipped default's shape, limits high enough never to deny.
        try """
            rules:
              - name: per-tenant
                match: { route: webhooks }
                rate: 1000000/s
              - name: per-source
                match: { route: webhooks, source: stripe }
                rate: 1000000/s
                by: source
            """.write(to: directory.appendingPathComponent("bench.yaml"), atomically: true, encoding: .utf8)
        let rules = try RulesStore(directory: directory.path, logger: logger)
        var options = RateLimiter.Options()
        options.redisBudget = .milliseconds(100)
        let limiter = RateLimiter(rules: rules, redis: redis, options: options, logger: logger)
        let subject = RateLimitSubject(tenant: "bench", route: .webhooks, source: "stripe", method: "POST")

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await redis.run() }
            defer { group.cancelAll() }
            for _ in 0..<100 where !redis.isConnected { try await Task.sleep(for: .milliseconds(20)) }
            for _ in 0..<1000 { _ = await limiter.check(subject); try await redis.ping() }  // warm up
            var ping: [Int64] = [], check: [Int64] = []
            var localDecisions = 0
            for _ in 0..<iterations {
                var start = ContinuousClock.now
                try await redis.ping()
                ping.append(Self.micros(ContinuousClock.now - start))
                start = ContinuousClock.now
                let verdict = await limiter.check(subject)
                check.append(Self.micros(ContinuousClock.now - start))
                if verdict.decidedLocally { localDecisions += 1 }
            }
            ping.sort()
            check.sort()
            func percentile(_ values: [Int64], _ p: Double) -> Int64 { values[min(values.count - 1, Int(Double(values.count) * p))] }
            print("redis PING (baseline): median \(percentile(ping, 0.5)) us, p99 \(percentile(ping, 0.99)) us")
            print("rate-limit check (2 rules, EVALSHA): median \(percentile(check, 0.5)) us, p99 \(percentile(check, 0.99)) us")
            print(String(format: "ratio check/PING: median %.2fx, p99 %.2fx; decided locally: %d of %d",
                         Double(percentile(check, 0.5)) / Double(max(1, percentile(ping, 0.5))),
                         Double(percentile(check, 0.99)) / Double(max(1, percentile(ping, 0.99))), localDecisions, iterations))
        }
    }

    static func micros(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }
}

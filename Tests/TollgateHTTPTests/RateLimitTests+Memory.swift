import Foundation
import TollgateCore
import Logging
import Testing
@testable import TollgateHTTP
@testable import TollgateRedisStores
import TollgateRedis
import TollgateTelemetry
import TollgateTestSupport

extension RateLimitTests {
    /// A flood of distinct clients while Redis is unreachable: the in-process maps keep to their caps.
    /// Nested in `RateLimitTests`, whose `.serialized` keeps it off the accuracy test's CPU.
    @Suite struct LocalMemory {
        static let rules = """
            rules:
              - name: per-ip
                match: { route: checkout }
                rate: 1/h
                burst: 1
                by: client_ip
              - name: per-player
                match: { route: checkout }
                rate: 1/h
                burst: 1
                by: player
            """

        /// Every subject has a player of its own; two subjects in a row share an address, so the first
        /// is admitted (two fallback TATs) and the second denied (one over-limit entry). One hour TATs
        /// outlive the run, so every entry dropped is an eviction. Unbounded, the maps would end with a
        /// million TATs and half a million denials: the RSS grew 238 MB in a debug build without caps,
        /// 49 MB with the default caps (2 x 100_000 entries, plus a sweep's copy; 79 MB with the rest of the
        /// suite running beside it). The bound sits between; the map sizes are the exact check.
        /// About two minutes in a debug build: a million trips through `check`, its metrics included.
        /// Two minutes of one busy core would starve the timing-bound edge tests running beside it
        /// (their commits time out at 1 s), so `make test` runs it on its own after the suite.
        @Test(.enabled(if: ProcessInfo.processInfo.environment["TOLLGATE_MEMORY_TESTS"] == "1", "run alone: make test sets TOLLGATE_MEMORY_TESTS=1"))
        func aMillionSubjectsThroughTheFallbackKeepTheMapsWithinTheirCaps() async throws {
            let subjects = 1_000_000
            let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-rules")
            defer { try? FileManager.default.removeItem(at: directory) }
            try Self.rules.write(to: directory.appendingPathComponent("acme.yaml"), atomically: true, encoding: .utf8)
            let store = try RulesStore(directory: directory.path, logger: Logger(label: "test.rules"))
            // A client that is never run has no connection: every command fails at once, as with Redis down.
            let redis = RedisClient(configuration: .init(endpoint: RedisEndpoint(url: "redis://127.0.0.1:1/0")!), logger: Logger(label: "test.redis"))
            let options = RateLimiter.Options()
            let limiter = RateLimiter(rules: store, redis: redis, options: options, logger: Logger(label: "test.limiter"))

            let fallbackBefore = Self.evictions(map: "fallback"), overLimitBefore = Self.evictions(map: "over_limit")
            let residentBefore = Self.residentBytes()
            var largestFallback = 0, largestOverLimit = 0
            var admitted = 0, decidedLocally = 0
            for index in 0..<subjects {
                let subject = RateLimitSubject(tenant: "acme", route: .checkout, method: "POST", player: "player-\(index)", clientIP: Self.address(index / 2))
                let verdict = await limiter.check(subject)
                if verdict.admitted { admitted += 1 }
                if verdict.decidedLocally { decidedLocally += 1 }
                if index % 1000 == 999 {
                    largestFallback = max(largestFallback, limiter.fallbackCount)
                    largestOverLimit = max(largestOverLimit, limiter.overLimitCount)
                }
            }
            let growth = Self.residentBytes() - residentBefore
            let fallbackEvictions = Self.evictions(map: "fallback") - fallbackBefore
            let overLimitEvictions = Self.evictions(map: "over_limit") - overLimitBefore
            print("1M subjects: RSS growth \(growth / 1_000_000) MB, largest maps \(largestFallback) / \(largestOverLimit), evictions \(fallbackEvictions) / \(overLimitEvictions)")

            #expect(admitted == subjects / 2 && decidedLocally == subjects, "every other subject is admitted, all in process")
            #expect(largestFallback <= options.fallbackCapacity && largestFallback > options.fallbackCapacity / 2)
            #expect(largestOverLimit <= options.overLimitCapacity && largestOverLimit > options.overLimitCapacity / 2)
            #expect(fallbackEvictions >= subjects - options.fallbackCapacity, "\(fallbackEvictions)")
            #expect(overLimitEvictions >= subjects / 2 - options.overLimitCapacity, "\(overLimitEvictions)")
            #expect(growth < 160_000_000, "RSS grew \(growth / 1_000_000) MB")
        }

        /// A distinct address per index: only a key, never contacted.
        static func address(_ index: Int) -> String {
            "10.\(index >> 16 & 255).\(index >> 8 & 255).\(index & 255)"
        }

        /// The process's resident set, from /proc/self/statm (pages).
        static func residentBytes() -> Int {
            let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
            return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * sysconf(Int32(_SC_PAGESIZE))
        }

        /// `tollgate_rate_limit_local_evictions_total{map=...}` as `/metrics` would show it.
        static func evictions(map: String) -> Int {
            var buffer: [UInt8] = []
            Telemetry.bootstrapMetrics().emit(into: &buffer)
            let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("tollgate_rate_limit_local_evictions_total") && $0.contains("map=\"\(map)\"") }
            return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }.map { Int($0) } ?? 0
        }
    }
}

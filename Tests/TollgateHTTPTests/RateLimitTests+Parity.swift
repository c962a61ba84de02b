import Foundation
import TollgateCore
import Logging
import Testing
@testable import TollgateHTTP
@testable import TollgateRedisStores
import TollgateLoad
import TollgateRateLimits
import TollgateRedis
import TollgateTestSupport

extension RateLimitTests {
    /// The GCRA exists twice, in Lua in Redis and in Swift in process (the fallback). Fed the same
    /// random requests on the same clock, the two must take the same decision for every rule.
    /// Nested in `RateLimitTests`, whose `.serialized` keeps it off the accuracy test's CPU.
    @Suite struct LuaSwiftParity {
        /// What kind of rules a schedule draws.
        enum Schedule: String, CaseIterable, Sendable {
            /// One enforced rule per request, bursts from 1 to 10.
            case burst
            /// One to three rules per request, mostly shadow.
            case shadow
            /// Two to four rules per request, enforce and shadow mixed.
            case mixed

            var rulesPerRequest: ClosedRange<Int> { [.burst: 1...1, .shadow: 1...3, .mixed: 2...4][self]! }
            var shadowShare: Double { [.burst: 0, .shadow: 0.7, .mixed: 0.4][self]! }
            var seed: UInt64 { [.burst: 1, .shadow: 2, .mixed: 3][self]! }
        }

        /// What a schedule exercised, so that a run that never denied cannot pass as parity.
        struct Tally {
            var admittedRules = 0, deniedRules = 0
            /// A shadow rule denied, the request went through and another rule consumed.
            var shadowDenialsPassed = 0
            /// An enforced rule denied a request that another rule admitted (nothing consumed).
            var rolledBack = 0
            /// The first request on which the two disagreed, if any.
            var mismatchAt: Int?
        }

        static let requests = 3000

        @Test(arguments: Schedule.allCases)
        func luaInRedisAndSwiftInProcessDecideAlike(_ schedule: Schedule) async throws {
            var random = SplitMix64(seed: schedule.seed)
            let pool = Self.rulePool(schedule, using: &random)
            let tally = try await Self.withLimiter { limiter in
                var tally = Tally()
                var now: Int64 = 1_700_000_000_000_000   // µs since the epoch, as Redis's TIME would be
                for index in 0..<Self.requests {
                    now += Self.step(using: &random)
                    let subject = RateLimitSubject(tenant: "acme", route: .checkout, method: "POST",
                                                   player: "player-\(Int.random(in: 0..<2, using: &random))",
                                                   clientIP: "192.0.2.\(Int.random(in: 1...2, using: &random))")
                    let count = Int.random(in: schedule.rulesPerRequest, using: &random)
                    let rules = Array(pool.shuffled(using: &random).prefix(count)).compactMap { RateLimiter.AppliedRule($0, for: subject) }

                    let inRedis = try await limiter.decideInRedis(rules, now: now)
                    let inProcess = limiter.decideLocally(rules, now: now)
                    #expect(inRedis == inProcess, "request \(index) at \(now), rules \(rules.map(\.rule))")
                    guard inRedis == inProcess else {
                        tally.mismatchAt = index
                        break
                    }

                    let modes = rules.map(\.rule.mode)
                    let admitted = GCRA.admits(inProcess, modes: modes)
                    tally.admittedRules += inProcess.count { $0.admitted }
                    tally.deniedRules += inProcess.count { !$0.admitted }
                    if admitted, inProcess.indices.contains(where: { !inProcess[$0].admitted }), inProcess.count { $0.admitted } > 0 {
                        tally.shadowDenialsPassed += 1
                    }
                    if !admitted, inProcess.contains(where: \.admitted) { tally.rolledBack += 1 }
                }
                return tally
            }
            guard tally.mismatchAt == nil else { return }
            #expect(tally.admittedRules > Self.requests / 4 && tally.deniedRules > Self.requests / 10, "\(tally)")
            if schedule != .burst { #expect(tally.shadowDenialsPassed > 20, "\(tally)") }
            if schedule == .mixed { #expect(tally.rolledBack > 20, "\(tally)") }
        }

        @Test func withoutAClockTheScriptRunsOnRedisTimeAndItsKeysExpire() async throws {
            let rule = RateLimitRule(name: "per-player", route: .checkout, rate: Rate(count: 10, period: .seconds(60)), burst: 3, by: .player)
            let applied = try #require(RateLimiter.AppliedRule(rule, for: RateLimitSubject(tenant: "acme", route: .checkout, method: "POST", player: "p1")))
            #expect(applied.key == "rl:{acme}:per-player:p1")
            try await Self.withLimiter { limiter in
                let before = RateLimiter.nowMicros()
                var decisions: [GCRADecision] = []
                for _ in 0..<4 { decisions.append(try await limiter.decideInRedis([applied])[0]) }
                #expect(decisions.map(\.admitted) == [true, true, true, false])
                #expect(decisions.map(\.remaining) == [2, 1, 0, 0])
                // Redis's clock and this process's are the same machine's: the TAT is 3 intervals (18 s) ahead.
                let ahead = decisions[3].newTAT - before
                #expect((18_000_000...19_000_000).contains(ahead), "\(ahead) µs")
                let ttl = try await limiter.redis.send(RESPCommand("PTTL", [RESPArgument(applied.key)])).integer ?? -1
                #expect((17_000...18_001).contains(ttl), "the key lapses with its TAT: \(ttl) ms")
            }
        }

        /// Five rules with rates from 20 per 10 ms to 1 per minute, each counting by tenant, player or
        /// client address; requests come from two players at two addresses, so keys are shared and
        /// state builds up.
        static func rulePool(_ schedule: Schedule, using random: inout SplitMix64) -> [RateLimitRule] {
            let periods: [Duration] = [.milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10), .seconds(60)]
            return (0..<5).map { index in
                RateLimitRule(
                    name: "r\(index)", route: .checkout,
                    rate: Rate(count: Int64.random(in: 1...20, using: &random), period: periods.randomElement(using: &random)!),
                    burst: Int64.random(in: 1...10, using: &random),
                    by: [LimitKey.tenant, .player, .clientIP].randomElement(using: &random)!,
                    mode: Double.random(in: 0..<1, using: &random) < schedule.shadowShare ? .shadow : .enforce
                )
            }
        }

        /// The time to the next request: often none (a burst), mostly under an interval, now and
        /// then long enough for keys to refill or lapse.
        static func step(using random: inout SplitMix64) -> Int64 {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<45: 0
            case 45..<85: Int64.random(in: 1...20_000, using: &random)
            case 85..<99: Int64.random(in: 1...1_000_000, using: &random)
            default: Int64.random(in: 1...120_000_000, using: &random)
            }
        }

        /// A limiter on a fresh Redis of its own, with a budget no test machine misses.
        static func withLimiter<T: Sendable>(_ body: (RateLimiter) async throws -> T) async throws -> T {
            try await RedisServerProcess.withConnectedClient(configure: { configuration in
                configuration.poolSize = 1
                configuration.commandTimeout = .seconds(5)
            }) { redis in
                let rules = try RulesStore(directory: try TestEnvironment.makeTemporaryDirectory("tollgate-rules").path, logger: Logger(label: "test.rules"))
                var options = RateLimiter.Options()
                options.redisBudget = .seconds(5)
                return try await body(RateLimiter(rules: rules, redis: redis, options: options, logger: Logger(label: "test.limiter")))
            }
        }
    }
}

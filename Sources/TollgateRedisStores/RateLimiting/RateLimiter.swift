import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import TollgateRateLimits
import TollgateRedis
import TollgateTelemetry

/// Who a request is, for matching rules and choosing the key each rule counts by.
public struct RateLimitSubject: Sendable {
    public var tenant: String
    public var route: RouteClass
    public var source: String?
    public var method: String
    public var player: String?
    public var clientIP: String?

    public init(tenant: String, route: RouteClass, source: String? = nil, method: String, player: String? = nil, clientIP: String? = nil) {
        self.tenant = tenant
        self.route = route
        self.source = source
        self.method = method
        self.player = player
        self.clientIP = clientIP
    }

    func value(for key: LimitKey) -> String? {
        switch key {
        case .tenant: tenant
        case .source: source
        case .clientIP: clientIP
        case .player: player
        }
    }
}

/// The limiter's answer, with what the RateLimit headers report.
public struct RateLimitVerdict: Sendable {
    public struct RuleState: Sendable {
        public var name: String
        public var quota: Int64
        public var windowSeconds: Int64
        public var remaining: Int64
        public var resetSeconds: Int64
    }

    public var admitted: Bool
    /// The most restrictive enforced rule (the denying one when denied).
    public var limiting: RuleState?
    public var retryAfterSeconds: Int64
    public var decidedLocally: Bool

    public static let unlimited = RateLimitVerdict(admitted: true, limiting: nil, retryAfterSeconds: 0, decidedLocally: false)
}

/// Per-tenant GCRA limits, decided in Redis in one round trip for all matching rules.
///
/// Falls back to the in-process ``GCRA`` at `rate / instances` when Redis is down or slower than
/// its budget, and never fails a request for it. Keys known to be over their limit are denied from
/// a local cache until their retry time, which keeps Redis load flat under a flood. Both in-process
/// maps are capped (``Options``), so a flood of distinct clients cannot grow memory without bound.
public final class RateLimiter: Sendable {
    private static let decisions = CounterFamily("tollgate_rate_limit_decisions_total", labels: "outcome")
    private static let localDecisions = CounterFamily("tollgate_rate_limit_local_decisions_total", labels: "error")

    public struct Options: Sendable {
        /// Redis must answer within this or the decision is made locally. Default 5 ms.
        public var redisBudget: Duration = .milliseconds(5)
        /// Instances sharing the limits; the local fallback admits `rate / instances`. Default 1.
        public var instances: Int = 1
        /// Keys whose TAT the local fallback keeps at most (about 250 bytes each at peak), at least 1.
        /// Past it the keys closest to expiry are forgotten, which can only admit more. Default 100_000.
        public var fallbackCapacity: Int = 100_000
        /// Keys the over-limit cache keeps at most, at least 1. A forgotten key is asked of Redis
        /// again. Default 100_000.
        public var overLimitCapacity: Int = 100_000
        public init() {}
    }

    let rules: RulesStore
    let redis: RedisClient
    let options: Options
    let logger: Logger
    /// Fallback TATs (µs), each expiring at itself: a TAT in the past means the same as no entry.
    private let fallback: NIOLockedValueBox<BoundedExpiringMap<String, Int64>>
    /// Key -> denied until (µs), expiring then.
    private let overLimit: NIOLockedValueBox<BoundedExpiringMap<String, Int64>>

    public init(rules: RulesStore, redis: RedisClient, options: Options = Options(), logger: Logger) {
        self.rules = rules
        self.redis = redis
        self.options = options
        self.logger = logger
        self.fallback = NIOLockedValueBox(BoundedExpiringMap(capacity: options.fallbackCapacity))
        self.overLimit = NIOLockedValueBox(BoundedExpiringMap(capacity: options.overLimitCapacity))
    }

    /// One matching rule as it applies to one request: the counter's key and the limit in µs.
    struct AppliedRule {
        var rule: RateLimitRule
        var key: String
        /// In microseconds, the unit of Redis's clock and of the fallback (exact in Lua's doubles).
        var limit: GCRALimit

        /// Nil when the rule has no rate or the request has no value for what the rule counts by.
        init?(_ rule: RateLimitRule, for subject: RateLimitSubject) {
            guard let value = subject.value(for: rule.by), let rate = rule.rate else { return nil }
            self.rule = rule
            self.key = Self.key(tenant: subject.tenant, rule: rule.name, value: value)
            self.limit = GCRALimit(emissionInterval: GCRALimit(rate: rate, burst: rule.burst).emissionInterval / 1000, burst: rule.burst)
        }

        /// The one place a counter's key is spelled. `{tenant}` is a Redis Cluster hash tag: all of
        /// a tenant's keys share a slot, so one script can touch every rule of a request.
        static func key(tenant: String, rule: String, value: String) -> String {
            "rl:{\(tenant)}:\(rule):\(value)"
        }
    }

    /// A rule's decision for one request.
    struct RuleOutcome {
        var rule: AppliedRule
        var decision: GCRADecision
    }

    /// The rules in force that match `subject` (none if an `unlimited` rule exempts it).
    func matchingRules(_ subject: RateLimitSubject) -> [RateLimitRule] {
        rules.snapshot.rules.matching(tenant: subject.tenant, route: subject.route, source: subject.source, method: subject.method)
    }

    public func check(_ subject: RateLimitSubject) async -> RateLimitVerdict {
        await check(subject, then: nil).verdict
    }

    /// Work that rides in the limit's round trip and runs in Redis only if the limit admits: a
    /// script made by ``script(then:)``, with the keys and arguments of its follow-on function.
    public struct FollowOn: Sendable {
        public var script: RedisScript
        public var keys: [String]
        public var arguments: [RESPArgument]

        public init(script: RedisScript, keys: [String], arguments: [RESPArgument]) {
            self.script = script
            self.keys = keys
            self.arguments = arguments
        }
    }

    /// What became of a ``FollowOn``.
    public enum FollowOnAnswer: Sendable {
        /// Redis was not asked (no rule applies, or a cached denial) or the limit denied: it did not run.
        case notRun
        /// Its function's reply.
        case answered(RESPValue)
        /// Redis failed or did not answer within its command timeout: the script may or may not have run.
        case unknown(RedisError)
    }

    /// ``check(_:)``, and `followOn` in the same round trip when Redis admits. The one place a
    /// request's limit is decided, with or without work riding along.
    public func check(_ subject: RateLimitSubject, then followOn: FollowOn?) async -> (verdict: RateLimitVerdict, followOn: FollowOnAnswer) {
        let applicable = matchingRules(subject).compactMap { AppliedRule($0, for: subject) }
        guard !applicable.isEmpty else { return (.unlimited, .notRun) }
        let now = Self.nowMicros()

        // Known over the limit: deny without asking Redis.
        if let cached = cachedDenial(applicable.filter { $0.rule.mode == .enforce }, now: now) {
            Self.decisions("denied_cached").increment()
            return (verdict(admitted: false, enforced: [cached], local: false), .notRun)
        }

        let decisions: [GCRADecision]
        var followOnAnswer = FollowOnAnswer.notRun
        var decidedLocally = false
        do {
            (decisions, followOnAnswer) = try await decideInRedis(applicable, then: followOn)
        } catch {
            Self.localDecisions(error.metricLabel).increment()
            decidedLocally = true
            decisions = decideLocally(applicable, now: now)
            if followOn != nil { followOnAnswer = .unknown(error) }
        }

        let admitted = GCRA.admits(decisions, modes: applicable.map(\.rule.mode))
        var enforced: [RuleOutcome] = []
        for (rule, decision) in zip(applicable, decisions) {
            if rule.rule.mode == .shadow {
                if !decision.admitted {
                    Counter(label: "tollgate_rate_limit_shadow_denials_total", dimensions: [("rule", rule.rule.name)]).increment()
                    logger.info("shadow rule would deny", metadata: ["rule": "\(rule.rule.name)", "tenant": "\(subject.tenant)"])
                }
                continue
            }
            enforced.append(RuleOutcome(rule: rule, decision: decision))
            if !decision.admitted { rememberDenial(of: rule.key, until: now + decision.retryAfter, now: now) }
        }
        Self.decisions(admitted ? "admitted" : "denied").increment()
        return (verdict(admitted: admitted, enforced: enforced, local: decidedLocally), followOnAnswer)
    }

    private func verdict(admitted: Bool, enforced: [RuleOutcome], local: Bool) -> RateLimitVerdict {
        // The most restrictive: a denying rule, else the one with the least remaining.
        let rank = { (outcome: RuleOutcome) in outcome.decision.retryAfter > 0 ? -1 : outcome.decision.remaining }
        let state = enforced.min { rank($0) < rank($1) }.map { outcome in
            RateLimitVerdict.RuleState(
                name: outcome.rule.rule.name,
                quota: outcome.rule.rule.rate?.count ?? 0,
                windowSeconds: outcome.rule.rule.rate?.windowSeconds ?? 1,
                remaining: max(0, outcome.decision.remaining),
                resetSeconds: Self.ceilSeconds(outcome.decision.resetAfter)
            )
        }
        let retry = admitted ? 0 : max(1, Self.ceilSeconds(enforced.map(\.decision.retryAfter).filter { $0 > 0 }.max() ?? 0))
        return RateLimitVerdict(admitted: admitted, limiting: state, retryAfterSeconds: retry, decidedLocally: local)
    }

    /// The first enforced rule whose key is cached as over its limit, as a denial.
    private func cachedDenial(_ enforced: [AppliedRule], now: Int64) -> RuleOutcome? {
        overLimit.withLockedValue { cache in
            for rule in enforced {
                if let until = cache.value(for: rule.key, now: now) {
                    let wait = until - now
                    return RuleOutcome(rule: rule, decision: GCRADecision(admitted: false, newTAT: until, remaining: 0, retryAfter: wait, resetAfter: wait))
                }
            }
            return nil
        }
    }

    private func rememberDenial(of key: String, until: Int64, now: Int64) {
        let evicted = overLimit.withLockedValue { $0.set(until, for: key, expiresAt: until, now: now) }
        Self.countEvictions(evicted, map: "over_limit")
    }

    /// All rules in Redis in one `EVALSHA`, on Redis's clock; `now` (µs) replaces that clock in tests.
    func decideInRedis(_ rules: [AppliedRule], now: Int64? = nil) async throws(RedisError) -> [GCRADecision] {
        try await decideInRedis(rules, then: nil, now: now).decisions
    }

    /// The rules and, when they admit, `followOn` in one `EVALSHA` (``script(then:)``'s layout).
    func decideInRedis(_ rules: [AppliedRule], then followOn: FollowOn?, now: Int64? = nil) async throws(RedisError)
        -> (decisions: [GCRADecision], followOn: FollowOnAnswer) {
        var arguments: [RESPArgument] = [RESPArgument(Int(now ?? 0)), RESPArgument(rules.count)]
        for rule in rules {
            arguments += [RESPArgument(Int(rule.limit.emissionInterval)), RESPArgument(Int(rule.limit.burst)), rule.rule.mode == .enforce ? "1" : "0"]
        }
        // The budget keeps Redis from delaying a request that needs only the limit. A request with
        // a follow-on needs Redis's answer anyway (a callback's claim), so it waits as long as any
        // command would; an answer abandoned at the budget would leave the claim unknown.
        let reply = try await redis.evaluate(followOn?.script ?? Self.script, keys: rules.map(\.key) + (followOn?.keys ?? []),
                                             arguments: arguments + (followOn?.arguments ?? []), timeout: followOn == nil ? options.redisBudget : nil)
        let fields = rules.count * 5
        guard case .array(let values) = reply, values.count == fields || (followOn != nil && values.count == fields + 1) else {
            throw .unexpectedReply("\(reply)")
        }
        let numbers = values.prefix(fields).map { $0.integer ?? 0 }
        let decisions = rules.indices.map { rule in
            let field = { numbers[5 * rule + $0] }
            return GCRADecision(admitted: field(0) == 1, newTAT: field(1), remaining: field(2), retryAfter: field(3), resetAfter: field(4))
        }
        return (decisions, values.count > fields ? .answered(values[fields]) : .notRun)
    }

    /// The in-process fallback: the same ``GCRA/decideAll(tats:now:limits:modes:)`` as the script,
    /// at `rate / instances`.
    func decideLocally(_ rules: [AppliedRule], now: Int64) -> [GCRADecision] {
        let instances = Int64(max(1, options.instances))
        let limits = rules.map { GCRALimit(emissionInterval: $0.limit.emissionInterval * instances, burst: max(1, $0.limit.burst / instances)) }
        let modes = rules.map(\.rule.mode)
        var evicted = 0
        let decisions = fallback.withLockedValue { tats in
            let decisions = GCRA.decideAll(tats: rules.map { tats.value(for: $0.key, now: now) }, now: now, limits: limits, modes: modes)
            if GCRA.admits(decisions, modes: modes) {
                for (rule, decision) in zip(rules, decisions) where decision.admitted {
                    evicted += tats.set(decision.newTAT, for: rule.key, expiresAt: decision.newTAT, now: now)
                }
            }
            return decisions
        }
        Self.countEvictions(evicted, map: "fallback")
        return decisions
    }

    /// Sizes of the in-process maps, for tests.
    var fallbackCount: Int { fallback.withLockedValue { $0.count } }
    var overLimitCount: Int { overLimit.withLockedValue { $0.count } }

    private static func countEvictions(_ count: Int, map: String) {
        guard count > 0 else { return }
        Counter(label: "tollgate_rate_limit_local_evictions_total", dimensions: [("map", map)]).increment(by: count)
    }

    static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    static func ceilSeconds(_ micros: Int64) -> Int64 { (micros + 999_999) / 1_000_000 }

    /// ``GCRA/decideAll(tats:now:limits:modes:)`` in Lua, for every matching rule in one atomic step,
    /// on Redis's own clock (so instances with skewed clocks agree). Microseconds keep epoch times
    /// exact in Lua's doubles. ARGV[1]: now in µs, or 0 for Redis's `TIME` (production; tests pass a
    /// clock to compare with the Swift GCRA). ARGV[2]: the number of rules n, whose keys are the
    /// first n KEYS. Then per rule: emission interval (µs), burst, enforce (1/0). Returns per rule the
    /// fields of `GCRADecision`: admitted, new TAT, remaining, retry after (µs), reset after (µs).
    /// If an enforced rule denies, no rule consumes.
    public static let script = script(then: nil)

    /// The limit script, and when it admits, `function(keys, args)` over the KEYS after the rules'
    /// and the ARGV after theirs; its reply is appended to the rules' fields. A follow-on defined as
    /// `local function <name>(keys, args) ... end` in `definition`.
    public static func script(then followOn: (name: String, definition: String)?) -> RedisScript {
        var lua = gcraFunction + "\n"
        lua += "local n = tonumber(ARGV[2])\n"
        lua += "local out, denied = limit(n)\n"
        if let followOn {
            lua = followOn.definition + "\n" + lua
            lua += """
                if not denied then
                  local keys, args = {}, {}
                  for i = n + 1, #KEYS do keys[#keys + 1] = KEYS[i] end
                  for i = 3 * n + 3, #ARGV do args[#args + 1] = ARGV[i] end
                  out[#out + 1] = \(followOn.name)(keys, args)
                end

                """
        }
        return RedisScript(lua + "return out\n")
    }

    private static let gcraFunction = """
        local function limit(n)
          local now = tonumber(ARGV[1])
          local redisClock = now == 0
          if redisClock then
            local t = redis.call('TIME')
            now = tonumber(t[1]) * 1000000 + tonumber(t[2])
          end
          local out, current, new, denied = {}, {}, {}, false
          for i = 1, n do
            local interval = tonumber(ARGV[3 * i])
            local burst = tonumber(ARGV[3 * i + 1])
            local enforce = ARGV[3 * i + 2] == '1'
            local tolerance = interval * burst
            local tat = tonumber(redis.call('GET', KEYS[i]) or now)
            if tat < now then tat = now end
            current[i] = tat
            local candidate = tat + interval
            local earliest = candidate - tolerance
            local o = 5 * (i - 1)
            if now < earliest then
              if enforce then denied = true end
              out[o + 1] = 0; out[o + 2] = tat; out[o + 3] = 0; out[o + 4] = earliest - now; out[o + 5] = tat - now
            else
              new[i] = candidate
              out[o + 1] = 1; out[o + 2] = candidate; out[o + 3] = math.floor((tolerance - (candidate - now)) / interval)
              out[o + 4] = 0; out[o + 5] = candidate - now
            end
          end
          for i = 1, n do
            local o = 5 * (i - 1)
            if new[i] and denied then
              -- Spent nothing: report the key as it stands, one more remaining.
              out[o + 2] = current[i]; out[o + 3] = out[o + 3] + 1; out[o + 5] = current[i] - now
            elseif new[i] and redisClock then
              redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', math.floor((new[i] - now) / 1000) + 1)
            elseif new[i] then
              -- A caller's clock need not keep Redis's pace: an expiry on Redis's clock could drop a TAT still ahead of it.
              redis.call('SET', KEYS[i], string.format('%.0f', new[i]))
            end
          end
          return out, denied
        end
        """
}

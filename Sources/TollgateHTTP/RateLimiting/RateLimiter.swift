import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import TollgateRateLimits
import TollgateRedis

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

    static let unlimited = RateLimitVerdict(admitted: true, limiting: nil, retryAfterSeconds: 0, decidedLocally: false)
}

/// Per-tenant GCRA limits, decided in Redis in one round trip for all matching rules.
///
/// Falls back to an in-process GCRA at `rate / instances` when Redis is down or slower than its
/// budget, and never fails a request for it. Keys known to be over their limit are denied from a
/// local cache until their retry time, which keeps Redis load flat under a flood.
public final class RateLimiter: Sendable {
    public struct Options: Sendable {
        /// Redis must answer within this or the decision is made locally. Default 5 ms.
        public var redisBudget: Duration = .milliseconds(5)
        /// Instances sharing the limits; the local fallback admits `rate / instances`. Default 1.
        public var instances: Int = 1
        public init() {}
    }

    let rules: RulesStore
    let redis: RedisClient
    let options: Options
    let logger: Logger
    private let local = NIOLockedValueBox<[String: Int64]>([:])        // fallback TATs, microseconds
    private let overLimit = NIOLockedValueBox<[String: Int64]>([:])    // key -> denied until, microseconds

    public init(rules: RulesStore, redis: RedisClient, options: Options = Options(), logger: Logger) {
        self.rules = rules
        self.redis = redis
        self.options = options
        self.logger = logger
    }

    struct Applicable {
        var rule: RateLimitRule
        var key: String
        var limit: GCRALimit
    }

    public func check(_ subject: RateLimitSubject) async -> RateLimitVerdict {
        let matched = rules.snapshot.rules.matching(tenant: subject.tenant, route: subject.route, source: subject.source, method: subject.method)
        let applicable: [Applicable] = matched.compactMap { rule in
            guard let value = subject.value(for: rule.by), let rate = rule.rate else { return nil }
            // Nanosecond interval here; Redis and the fallback work in microseconds.
            let limit = GCRALimit(rate: rate, burst: rule.burst)
            return Applicable(rule: rule, key: "rl:{\(subject.tenant)}:\(rule.name):\(value)", limit: limit)
        }
        guard !applicable.isEmpty else { return .unlimited }
        let now = Self.nowMicros()

        // Known over the limit: deny without asking Redis.
        let enforced = applicable.filter { $0.rule.mode == .enforce }
        let cached: (Int, Int64)? = overLimit.withLockedValue { cache in
            for index in enforced.indices {
                if let until = cache[enforced[index].key], until > now { return (index, until) }
            }
            return nil
        }
        if let (index, until) = cached {
            Counter(label: "tollgate_rate_limit_decisions_total", dimensions: [("outcome", "denied_cached")]).increment()
            let rule = enforced[index]
            return verdict(admitted: false, states: [(rule, 0, until - now, until - now)], local: false)
        }

        let results: [(admitted: Bool, remaining: Int64, retry: Int64, reset: Int64)]
        var decidedLocally = false
        do {
            results = try await decideInRedis(applicable)
        } catch {
            Counter(label: "tollgate_rate_limit_local_decisions_total", dimensions: [("error", error.metricLabel)]).increment()
            decidedLocally = true
            results = decideLocally(applicable, now: now)
        }

        var enforcedStates: [(Applicable, Int64, Int64, Int64)] = []
        var admitted = true
        for (rule, result) in zip(applicable, results) {
            if rule.rule.mode == .shadow {
                if !result.admitted {
                    Counter(label: "tollgate_rate_limit_shadow_denials_total", dimensions: [("rule", rule.rule.name)]).increment()
                    logger.info("shadow rule would deny", metadata: ["rule": "\(rule.rule.name)", "tenant": "\(subject.tenant)"])
                }
                continue
            }
            enforcedStates.append((rule, result.remaining, result.retry, result.reset))
            if !result.admitted {
                admitted = false
                overLimit.withLockedValue { $0[rule.key] = now + result.retry }
            }
        }
        Counter(label: "tollgate_rate_limit_decisions_total", dimensions: [("outcome", admitted ? "admitted" : "denied")]).increment()
        return verdict(admitted: admitted, states: enforcedStates, local: decidedLocally)
    }

    private func verdict(admitted: Bool, states: [(Applicable, Int64, Int64, Int64)], local: Bool) -> RateLimitVerdict {
        // The most restrictive: a denying rule, else the one with the least remaining.
        let chosen = states.min { lhs, rhs in (lhs.2 > 0 ? -1 : lhs.1) < (rhs.2 > 0 ? -1 : rhs.1) }
        let state = chosen.map { applicable, remaining, retry, reset in
            RateLimitVerdict.RuleState(
                name: applicable.rule.name,
                quota: applicable.rule.rate?.count ?? 0,
                windowSeconds: applicable.rule.rate?.windowSeconds ?? 1,
                remaining: max(0, remaining),
                resetSeconds: Self.ceilSeconds(reset)
            )
        }
        let retry = admitted ? 0 : max(1, Self.ceilSeconds(states.filter { $0.2 > 0 }.map(\.2).max() ?? 0))
        return RateLimitVerdict(admitted: admitted, limiting: state, retryAfterSeconds: retry, decidedLocally: local)
    }

    private func decideInRedis(_ rules: [Applicable]) async throws(RedisError) -> [(admitted: Bool, remaining: Int64, retry: Int64, reset: Int64)] {
        var arguments: [RESPArgument] = []
        for rule in rules {
            arguments += [RESPArgument(Int(rule.limit.emissionInterval / 1000)), RESPArgument(Int(rule.limit.burst)), rule.rule.mode == .enforce ? "1" : "0"]
        }
        let reply = try await redis.evaluate(Self.script, keys: rules.map(\.key), arguments: arguments, timeout: options.redisBudget)
        guard case .array(let values) = reply, values.count == rules.count * 4 else { throw .unexpectedReply("\(reply)") }
        let numbers = values.map { $0.integer ?? 0 }
        return (0..<rules.count).map { i in (numbers[4 * i] == 1, numbers[4 * i + 1], numbers[4 * i + 2], numbers[4 * i + 3]) }
    }

    /// The in-process fallback: the same math, at `rate / instances`, all-or-nothing.
    private func decideLocally(_ rules: [Applicable], now: Int64) -> [(admitted: Bool, remaining: Int64, retry: Int64, reset: Int64)] {
        let instances = Int64(max(1, options.instances))
        let limits = rules.map { rule in
            GCRALimit(emissionInterval: rule.limit.emissionInterval / 1000 * instances, burst: max(1, rule.limit.burst / instances))
        }
        return local.withLockedValue { state in
            let enforcedIndices = rules.indices.filter { rules[$0].rule.mode == .enforce }
            let decisions = rules.indices.map { GCRA.decide(tat: state[rules[$0].key], now: now, limit: limits[$0]) }
            let denied = enforcedIndices.contains { !decisions[$0].admitted }
            for index in rules.indices where !denied && decisions[index].admitted {
                state[rules[index].key] = decisions[index].newTAT
            }
            return decisions.map { ($0.admitted, $0.remaining, $0.retryAfter, $0.resetAfter) }
        }
    }

    static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    static func ceilSeconds(_ micros: Int64) -> Int64 { (micros + 999_999) / 1_000_000 }

    /// GCRA for every matching rule in one atomic step, on Redis's own clock (so instances with
    /// skewed clocks agree). Microseconds keep epoch times exact in Lua's doubles. ARGV per rule:
    /// emission interval (µs), burst, enforce (1/0). Returns per rule: admitted, remaining,
    /// retry after (µs), reset after (µs). If an enforced rule denies, no rule consumes.
    static let script = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local out, new, denied = {}, {}, false
        for i = 1, #KEYS do
          local interval = tonumber(ARGV[3 * i - 2])
          local burst = tonumber(ARGV[3 * i - 1])
          local enforce = ARGV[3 * i] == '1'
          local tolerance = interval * burst
          local tat = tonumber(redis.call('GET', KEYS[i]) or now)
          if tat < now then tat = now end
          local candidate = tat + interval
          local earliest = candidate - tolerance
          if now < earliest then
            if enforce then denied = true end
            out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = earliest - now; out[#out + 1] = tat - now
          else
            new[i] = candidate
            out[#out + 1] = 1; out[#out + 1] = math.floor((tolerance - (candidate - now)) / interval)
            out[#out + 1] = 0; out[#out + 1] = candidate - now
          end
        end
        if not denied then
          for i = 1, #KEYS do
            if new[i] then
              redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', math.floor((new[i] - now) / 1000) + 1)
            end
          end
        end
        return out
        """)
}

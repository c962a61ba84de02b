import TollgateRateLimits
import TollgateRedis

extension RateLimiter {
    /// One matching rule and what Redis holds for its key, for `tollgate rules explain`.
    public struct Explanation: Sendable {
        public var rule: RateLimitRule
        public var key: String?
        /// Requests admissible right now (nil: no key value for this request, or Redis unreachable).
        public var remaining: Int64?
        /// Seconds until the key is back to a full burst.
        public var resetSeconds: Double?
    }

    /// Which rules apply to `subject`, and their current state in Redis (read-only).
    public func explain(_ subject: RateLimitSubject) async -> [Explanation] {
        let matched = rules.snapshot.rules.matching(tenant: subject.tenant, route: subject.route, source: subject.source, method: subject.method)
        var out: [Explanation] = []
        let now: Int64? = try? await {
            let reply = try await redis.send(RESPCommand("TIME"))
            guard case .array(let parts) = reply, parts.count == 2, let s = parts[0].string.flatMap(Int64.init), let us = parts[1].string.flatMap(Int64.init) else { return nil }
            return s * 1_000_000 + us
        }()
        for rule in matched {
            guard let value = subject.value(for: rule.by), let rate = rule.rate, let now else {
                out.append(Explanation(rule: rule))
                continue
            }
            let key = "rl:{\(subject.tenant)}:\(rule.name):\(value)"
            let interval = GCRALimit(rate: rate, burst: rule.burst).emissionInterval / 1000
            let tat = (try? await redis.get(key)).flatMap { $0 }.flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? now
            let ahead = max(0, tat - now)
            let remaining = max(0, (interval * rule.burst - ahead) / interval)
            out.append(Explanation(rule: rule, key: key, remaining: remaining, resetSeconds: Double(ahead) / 1e6))
        }
        return out
    }
}

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
        let matched = matchingRules(subject)
        var out: [Explanation] = []
        let now: Int64? = try? await {
            let reply = try await redis.send(RESPCommand("TIME"))
            guard case .array(let parts) = reply, parts.count == 2, let s = parts[0].string.flatMap(Int64.init), let us = parts[1].string.flatMap(Int64.init) else { return nil }
            return s * 1_000_000 + us
        }()
        for rule in matched {
            guard let applied = AppliedRule(rule, for: subject), let now else {
                out.append(Explanation(rule: rule))
                continue
            }
            let tat = (try? await redis.get(applied.key)).flatMap { $0 }.flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
            let standing = GCRA.standing(tat: tat, now: now, limit: applied.limit)
            out.append(Explanation(rule: rule, key: applied.key, remaining: standing.remaining, resetSeconds: Double(standing.resetAfter) / 1e6))
        }
        return out
    }
}

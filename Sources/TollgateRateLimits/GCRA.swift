import TollgateCore

/// The Generic Cell Rate Algorithm: a smooth rate limit with a burst, no window edges, any period.
///
/// The whole state of a key is one number, its theoretical arrival time (TAT): when the key would
/// be back to empty if requests kept coming at exactly the allowed rate. A request at `now` is
/// admitted if, after adding one emission interval, the TAT is no further than `burst` intervals
/// ahead of `now`. Times are integer nanoseconds on a clock the caller injects, so the same math
/// runs in tests with a fake clock, in-process as a fallback, and (transcribed) in Redis Lua.
public struct GCRALimit: Sendable, Hashable {
    /// Time per admitted request at the steady rate (period / count), in nanoseconds, at least 1.
    public let emissionInterval: Int64
    /// Requests that may be admitted at once from an idle key.
    public let burst: Int64

    public init(rate: Rate, burst: Int64) {
        self.init(emissionInterval: rate.period.nanoseconds / rate.count, burst: burst)
    }

    /// A limit in any time unit; `now` and TATs passed to ``GCRA`` must use the same unit.
    public init(emissionInterval: Int64, burst: Int64) {
        self.emissionInterval = max(1, emissionInterval)
        self.burst = max(1, burst)
    }

    /// How far ahead of now the TAT may run: the burst's worth of intervals.
    var tolerance: Int64 { emissionInterval.multipliedReportingOverflow(by: burst).overflow ? .max : emissionInterval * burst }
}

/// One rule's verdict for one request.
public struct GCRADecision: Sendable, Equatable {
    public var admitted: Bool
    /// The key's TAT after this request (unchanged when denied).
    public var newTAT: Int64
    /// Requests that could still be admitted right now after this one.
    public var remaining: Int64
    /// When denied: how long until this request would be admitted.
    public var retryAfter: Int64
    /// Until the key is back to a full burst.
    public var resetAfter: Int64
}

public enum GCRA {
    /// Decides one request for a key whose stored TAT is `tat` (nil if unknown or expired).
    /// A clock that went backwards (now < a stored TAT far ahead) only makes the decision
    /// stricter, never admits more.
    public static func decide(tat: Int64?, now: Int64, limit: GCRALimit) -> GCRADecision {
        let current = max(tat ?? now, now)
        let candidate = current &+ limit.emissionInterval
        let earliest = candidate &- limit.tolerance
        if now < earliest {
            let resetAfter = current - now
            return GCRADecision(admitted: false, newTAT: current, remaining: 0, retryAfter: earliest - now, resetAfter: resetAfter)
        }
        let remaining = (limit.tolerance - (candidate - now)) / limit.emissionInterval
        return GCRADecision(admitted: true, newTAT: candidate, remaining: max(0, remaining), retryAfter: 0, resetAfter: candidate - now)
    }

    /// Decides a request against every matching rule at once: admitted only if every rule admits
    /// it, and then every rule consumes; if any denies, none consumes (a denied request must not
    /// spend another rule's budget).
    public static func decideAll(tats: [Int64?], now: Int64, limits: [GCRALimit]) -> [GCRADecision] {
        precondition(tats.count == limits.count, "one TAT per limit")
        var decisions = zip(tats, limits).map { decide(tat: $0, now: now, limit: $1) }
        if decisions.contains(where: { !$0.admitted }) {
            for index in decisions.indices where decisions[index].admitted {
                // Roll back: this rule admitted, but the request is denied overall.
                decisions[index].newTAT = max(tats[index] ?? now, now)
                decisions[index].remaining += 1
            }
        }
        return decisions
    }
}

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
    /// This rule admits the request (the request itself may still be denied by another rule).
    public var admitted: Bool
    /// The key's TAT after this request (unchanged when the request is denied).
    public var newTAT: Int64
    /// Requests that could still be admitted right now after this one.
    public var remaining: Int64
    /// When denied: how long until this request would be admitted.
    public var retryAfter: Int64
    /// Until the key is back to a full burst.
    public var resetAfter: Int64

    public init(admitted: Bool, newTAT: Int64, remaining: Int64, retryAfter: Int64, resetAfter: Int64) {
        self.admitted = admitted
        self.newTAT = newTAT
        self.remaining = remaining
        self.retryAfter = retryAfter
        self.resetAfter = resetAfter
    }
}

/// What a key holds at a moment, without spending anything.
public struct GCRAStanding: Sendable, Equatable {
    /// Requests admissible right now.
    public var remaining: Int64
    /// Until the key is back to a full burst.
    public var resetAfter: Int64

    public init(remaining: Int64, resetAfter: Int64) {
        self.remaining = remaining
        self.resetAfter = resetAfter
    }
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
            return GCRADecision(admitted: false, newTAT: current, remaining: 0, retryAfter: earliest - now, resetAfter: current - now)
        }
        let after = standing(tat: candidate, now: now, limit: limit)
        return GCRADecision(admitted: true, newTAT: candidate, remaining: after.remaining, retryAfter: 0, resetAfter: after.resetAfter)
    }

    /// The state of a key whose stored TAT is `tat` at `now`: the one formula for "remaining" and
    /// "reset", used by ``decide(tat:now:limit:)`` and by `rules explain`.
    public static func standing(tat: Int64?, now: Int64, limit: GCRALimit) -> GCRAStanding {
        let ahead = max(tat ?? now, now) - now
        return GCRAStanding(remaining: max(0, (limit.tolerance - ahead) / limit.emissionInterval), resetAfter: ahead)
    }

    /// Decides a request against every matching rule at once; `modes[i]` is rule i's mode (nil:
    /// every rule enforces). The request is admitted unless an enforced rule denies; then every
    /// rule that admits it consumes, shadow rules included. If an enforced rule denies, no rule
    /// consumes (a denied request must not spend another rule's budget). A shadow rule's denial
    /// is only reported: it never blocks, and never stops the other rules consuming.
    public static func decideAll(tats: [Int64?], now: Int64, limits: [GCRALimit], modes: [RuleMode]? = nil) -> [GCRADecision] {
        precondition(tats.count == limits.count, "one TAT per limit")
        precondition(modes.map { $0.count == limits.count } ?? true, "one mode per limit")
        var decisions = zip(tats, limits).map { decide(tat: $0, now: now, limit: $1) }
        if !admits(decisions, modes: modes) {
            for index in decisions.indices where decisions[index].admitted {
                // Roll back: this rule admitted, but the request is denied overall.
                let current = max(tats[index] ?? now, now)
                let unspent = standing(tat: current, now: now, limit: limits[index])
                decisions[index] = GCRADecision(admitted: true, newTAT: current, remaining: unspent.remaining, retryAfter: 0, resetAfter: unspent.resetAfter)
            }
        }
        return decisions
    }

    /// Whether a request with these per-rule decisions is admitted: no enforced rule denies it.
    public static func admits(_ decisions: [GCRADecision], modes: [RuleMode]? = nil) -> Bool {
        decisions.indices.allSatisfy { decisions[$0].admitted || modes?[$0] == .shadow }
    }
}

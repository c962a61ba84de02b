/// When a failed delivery is tried again: Svix's schedule by default (at once, then after 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: eight attempts over about a day and a half), each
/// delay moved by up to ±20% so that deliveries failed together do not retry together.
///
/// A `Retry-After` the game sent is honoured as a floor: the next attempt is never sooner than
/// it asked (up to `maximumRetryAfter`, so an endpoint cannot park a delivery for weeks), and
/// never sooner than the schedule.
public struct RetrySchedule: Sendable, Equatable {
    /// The delay after each failed attempt: `delays[0]` after the first. Once they are used up
    /// the delivery has failed (a dead letter).
    public var delays: [Duration]
    /// The share a delay may move either way (0.2: ±20%).
    public var jitter: Double
    public var maximumRetryAfter: Duration

    public static let svix = RetrySchedule(
        delays: [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000)])

    public init(delays: [Duration], jitter: Double = 0.2, maximumRetryAfter: Duration = .seconds(3600)) {
        self.delays = delays
        self.jitter = min(max(jitter, 0), 0.9)
        self.maximumRetryAfter = maximumRetryAfter
    }

    /// Every attempt the schedule allows, the first included.
    public var attempts: Int { delays.count + 1 }

    /// The wait before the attempt after `attempt` (1 for the first) failed; nil when that was
    /// the last one.
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil, random: inout some RandomNumberGenerator) -> Duration? {
        guard attempt >= 1, attempt <= delays.count else { return nil }
        let factor = jitter == 0 ? 1 : Double.random(in: (1 - jitter)...(1 + jitter), using: &random)
        let scheduled = delays[attempt - 1] * factor
        guard let retryAfter else { return scheduled }
        return max(scheduled, min(retryAfter, maximumRetryAfter))
    }
}

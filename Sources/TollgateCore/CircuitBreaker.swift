/// A circuit breaker per (tenant, provider), as a pure value on an injected clock (nanoseconds).
///
/// Closed: calls go through; `failureThreshold` failures within `window` open it. Open: calls are
/// refused at once (503 with Retry-After) for `openDuration`. Half-open: one probe call goes
/// through; its success closes the breaker, its failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: [Int64])
        case open(until: Int64)
        case halfOpen(probeInFlight: Bool)
    }

    public struct Options: Sendable, Equatable {
        public var failureThreshold = 5
        public var window: Int64 = 10_000_000_000
        public var openDuration: Int64 = 30_000_000_000
        public init() {}
    }

    public enum Permission: Sendable, Equatable {
        case allowed
        /// Refused; retry after this many nanoseconds.
        case refused(retryAfter: Int64)
    }

    public private(set) var state: State = .closed(failures: [])
    public let options: Options

    public init(options: Options = Options()) {
        self.options = options
    }

    /// Asks to make a call at `now`.
    public mutating func permit(now: Int64) -> Permission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .refused(retryAfter: until - now) }
            state = .halfOpen(probeInFlight: true)
            return .allowed
        case .halfOpen(let probeInFlight):
            if probeInFlight { return .refused(retryAfter: 1_000_000_000) }
            state = .halfOpen(probeInFlight: true)
            return .allowed
        }
    }

    /// Whether a call at `now` would be refused because the breaker is open, without asking for
    /// one (a half-open probe is not taken): nanoseconds until it may be tried again, or nil.
    public func openFor(now: Int64) -> Int64? {
        guard case .open(let until) = state, now < until else { return nil }
        return until - now
    }

    /// Gives back a half-open probe that was permitted but never made (nothing was there to
    /// send), so that the next call may probe.
    public mutating func cancelProbe() {
        if case .halfOpen(true) = state { state = .halfOpen(probeInFlight: false) }
    }

    /// Reports how a permitted call ended.
    public mutating func record(success: Bool, now: Int64) {
        switch state {
        case .closed(let failures):
            guard !success else { return }
            let recent = failures.filter { now - $0 < options.window } + [now]
            state = recent.count >= options.failureThreshold ? .open(until: now + options.openDuration) : .closed(failures: recent)
        case .halfOpen:
            state = success ? .closed(failures: []) : .open(until: now + options.openDuration)
        case .open:
            break  // A call permitted before the breaker opened; its result changes nothing.
        }
    }
}

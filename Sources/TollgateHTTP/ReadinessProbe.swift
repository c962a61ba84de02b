import Synchronization
import TollgateCore

/// Runs the `/readyz` dependency checks concurrently, each under its own deadline, so one hung
/// dependency makes the edge "not ready" quickly instead of hanging the probe.
public struct ReadinessProbe: Sendable {
    public typealias Check = @Sendable () async throws -> Void

    public var checks: [(name: String, check: Check)]
    /// How long one check may take before it counts as down. Default 1 s.
    public var timeout: Duration
    /// Checks running and abandoned, by name.
    private let running: RunningChecks

    public init(checks: [(name: String, check: Check)], timeout: Duration = .seconds(1)) {
        self.init(checks: checks, timeout: timeout, running: RunningChecks())
    }

    init(checks: [(name: String, check: Check)], timeout: Duration, running: RunningChecks) {
        self.checks = checks
        self.timeout = timeout
        self.running = running
    }

    public func run() async -> ReadinessReport {
        await withTaskGroup(of: (String, DependencyStatus).self) { group in
            for (name, check) in checks {
                group.addTask { (name, await run(name, check)) }
            }
            var results: [String: DependencyStatus] = [:]
            for await (name, status) in group { results[name] = status }
            return ReadinessReport(checks: results)
        }
    }

    /// One check, answered by its deadline. A check past it is abandoned, never cancelled: a
    /// PostgresNIO query or lease does not end on cancellation, so a task group waiting for it
    /// held `/readyz` (and the server's shutdown) for as long as Postgres was cut off. While an
    /// abandoned check of a dependency is still running no other is started: the dependency is
    /// down, and probes every few seconds must not pile up waiting on it.
    private func run(_ name: String, _ check: @escaping Check) async -> DependencyStatus {
        guard let number = running.start(name) else { return .down(reason: "an earlier check has not answered yet") }
        // Whether the check was abandoned when it ends is decided under one lock, so a check
        // ending just as its deadline passes is counted exactly once either way.
        let ticket = CheckTicket()
        let answer = await resultWithin(timeout, finished: { [running] in
            let wasAbandoned = ticket.abandoned.withLock { state in defer { state = false }; return state ?? false }
            running.end(name, number, abandoned: wasAbandoned)
        }, check)
        switch answer {
        case .success?: return .up
        case .failure(let error)?: return .down(reason: Self.reason(error))
        case nil:
            ticket.abandoned.withLock { state in
                if state == nil {
                    state = true
                    running.abandon(name, number)
                }
            }
            return .down(reason: "no answer within \(timeout)")
        }
    }

    /// A reason safe to publish: the error's type and description, which for our clients carry
    /// no credentials (URLs are never part of their errors).
    private static func reason(_ error: any Error) -> String {
        String(String(describing: error).prefix(200))
    }
}

/// Which readiness checks are running, and which were abandoned at their deadline and have not
/// ended yet.
///
/// While the latest check of a dependency was abandoned and still runs, a new one starts only
/// once it is `retryAfter` old, and never with `maximumAbandoned` outstanding: probes every few
/// seconds cannot pile up checks on a dependency that hangs, and one that comes back (a failover)
/// is seen within `retryAfter` even while older checks still hang (a query on a dead connection
/// can wait out TCP's retransmissions, minutes). Once a newer check answers in time, checks run
/// on every probe again.
final class RunningChecks: Sendable {
    private struct State {
        var running = 0
        var abandoned = 0
        var latest = 0
        var latestAbandoned = false
        var lastStart = ContinuousClock.Instant.now
    }

    let retryAfter: Duration
    let maximumAbandoned: Int
    private let states = Mutex<[String: State]>([:])
    private let serial = Mutex(0)

    init(retryAfter: Duration = .seconds(10), maximumAbandoned: Int = 8) {
        self.retryAfter = retryAfter
        self.maximumAbandoned = maximumAbandoned
    }

    /// A number for a check of `name` that may start now (counted as running), or nil.
    func start(_ name: String) -> Int? {
        let number = serial.withLock { $0 += 1; return $0 }
        return states.withLock { states in
            var state = states[name] ?? State()
            let now = ContinuousClock.now
            if state.abandoned >= maximumAbandoned || (state.latestAbandoned && now - state.lastStart < retryAfter) { return nil }
            state.running += 1
            state.latest = number
            state.latestAbandoned = false
            state.lastStart = now
            states[name] = state
            return number
        }
    }

    /// Check `number` of `name` ended (`abandoned`: it had been answered for at its deadline).
    func end(_ name: String, _ number: Int, abandoned: Bool) {
        states.withLock { states in
            guard var state = states[name] else { return }
            state.running -= 1
            if abandoned { state.abandoned -= 1 }
            if number == state.latest { state.latestAbandoned = false }
            states[name] = state.running == 0 ? nil : state
        }
    }

    /// Check `number` of `name` passed its deadline and is still running.
    func abandon(_ name: String, _ number: Int) {
        states.withLock { states in
            guard var state = states[name] else { return }
            state.abandoned += 1
            if number == state.latest { state.latestAbandoned = true }
            states[name] = state
        }
    }
}

/// One check's fate: nil while running in time, true once abandoned, false once ended.
private final class CheckTicket: Sendable {
    let abandoned = Mutex<Bool?>(nil)
}

import Synchronization
import TollgateCore

/// Runs the `/readyz` dependency checks concurrently, each under its own deadline, so one hung
/// dependency makes the edge "not ready" quickly instead of hanging the probe.
public struct ReadinessProbe: Sendable {
    public typealias Check = @Sendable () async throws -> Void

    public var checks: [(name: String, check: Check)]
    /// How long one check may take before it counts as down. Default 1 s.
    public var timeout: Duration
    /// Checks running, by name: true once abandoned at their deadline.
    private let running = RunningChecks()

    public init(checks: [(name: String, check: Check)], timeout: Duration = .seconds(1)) {
        self.checks = checks
        self.timeout = timeout
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
        guard running.start(name) else { return .down(reason: "the previous check has not answered yet") }
        let answer = await resultWithin(timeout, finished: { [running] in running.end(name) }, check)
        switch answer {
        case .success?: return .up
        case .failure(let error)?: return .down(reason: Self.reason(error))
        case nil:
            running.abandon(name)
            return .down(reason: "no answer within \(timeout)")
        }
    }

    /// A reason safe to publish: the error's type and description, which for our clients carry
    /// no credentials (URLs are never part of their errors).
    private static func reason(_ error: any Error) -> String {
        String(String(describing: error).prefix(200))
    }
}

/// Which readiness checks are running, and which of them were abandoned at their deadline.
private final class RunningChecks: Sendable {
    private let checks = Mutex<[String: Bool]>([:])

    /// False while an abandoned check of `name` is still running.
    func start(_ name: String) -> Bool {
        checks.withLock { checks in
            if checks[name] == true { return false }
            checks[name] = false
            return true
        }
    }

    func end(_ name: String) { checks.withLock { _ = $0.removeValue(forKey: name) } }

    /// Marks `name` abandoned, unless it ended in the meantime.
    func abandon(_ name: String) { checks.withLock { if $0[name] != nil { $0[name] = true } } }
}

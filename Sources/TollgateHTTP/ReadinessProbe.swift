import TollgateCore

/// Runs the `/readyz` dependency checks concurrently, each under its own deadline, so one hung
/// dependency makes the edge "not ready" quickly instead of hanging the probe.
public struct ReadinessProbe: Sendable {
    public typealias Check = @Sendable () async throws -> Void

    public var checks: [(name: String, check: Check)]
    /// How long one check may take before it counts as down. Default 1 s.
    public var timeout: Duration

    public init(checks: [(name: String, check: Check)], timeout: Duration = .seconds(1)) {
        self.checks = checks
        self.timeout = timeout
    }

    public func run() async -> ReadinessReport {
        await withTaskGroup(of: (String, DependencyStatus).self) { group in
            for (name, check) in checks {
                group.addTask { (name, await Self.run(check, timeout: timeout)) }
            }
            var results: [String: DependencyStatus] = [:]
            for await (name, status) in group { results[name] = status }
            return ReadinessReport(checks: results)
        }
    }

    private static func run(_ check: @escaping Check, timeout: Duration) async -> DependencyStatus {
        await withTaskGroup(of: DependencyStatus?.self) { group in
            group.addTask {
                do {
                    try await check()
                    return .up
                } catch {
                    return .down(reason: Self.reason(error))
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .down(reason: "no answer within \(timeout)")
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .down(reason: "check cancelled")
        }
    }

    /// A reason safe to publish: the error's type and description, which for our clients carry
    /// no credentials (URLs are never part of their errors).
    private static func reason(_ error: any Error) -> String {
        String(String(describing: error).prefix(200))
    }
}

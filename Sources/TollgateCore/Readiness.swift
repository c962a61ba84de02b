/// The outcome of one dependency check behind `/readyz`.
public enum DependencyStatus: Sendable, Equatable {
    case up
    /// Down, with a short reason that is safe to show (no hosts' passwords, no secrets).
    case down(reason: String)

    public var isUp: Bool { self == .up }
}

/// What `/readyz` reports: ready only when every dependency is up and configuration is loaded.
public struct ReadinessReport: Sendable, Equatable {
    /// Checks by dependency name, reported in name order.
    public var checks: [String: DependencyStatus]

    public init(checks: [String: DependencyStatus]) {
        self.checks = checks
    }

    public var isReady: Bool { checks.values.allSatisfy(\.isUp) }

    /// Names of the dependencies that are down, sorted.
    public var down: [String] { checks.filter { !$0.value.isUp }.map(\.key).sorted() }

    public var json: JSONValue {
        .object(checks.keys.sorted().map { name in
            switch checks[name]! {
            case .up: (name, .object([("status", .string("up"))]))
            case .down(let reason): (name, .object([("status", .string("down")), ("reason", .string(reason))]))
            }
        })
    }
}

/// The classes of routes a rule can match.
public enum RouteClass: String, Sendable, CaseIterable {
    case webhooks, checkout, status
}

/// What a rule counts requests by.
public enum LimitKey: String, Sendable, CaseIterable {
    case tenant, source
    case clientIP = "client_ip"
    /// The checkout session's subject.
    case player
}

public enum RuleMode: String, Sendable, CaseIterable {
    /// Denies over the limit.
    case enforce
    /// Never denies; logs and counts what it would have denied.
    case shadow
}

/// One rate-limit rule from a rules file.
public struct RateLimitRule: Sendable, Hashable {
    public var name: String
    public var route: RouteClass
    public var source: String?
    public var method: String?
    public var rate: Rate?
    /// Requests admitted at once from idle; defaults to the rate's count.
    public var burst: Int64
    public var by: LimitKey
    public var mode: RuleMode
    /// Exempts matching requests from every rule (an allow-list entry).
    public var unlimited: Bool
    /// `file:line` the rule came from, for `GET /admin/rules` and diagnostics.
    public var origin: String

    public init(name: String, route: RouteClass, source: String? = nil, method: String? = nil, rate: Rate?, burst: Int64? = nil,
                by: LimitKey = .tenant, mode: RuleMode = .enforce, unlimited: Bool = false, origin: String = "") {
        self.name = name
        self.route = route
        self.source = source
        self.method = method
        self.rate = rate
        self.burst = burst ?? rate?.count ?? 1
        self.by = by
        self.mode = mode
        self.unlimited = unlimited
        self.origin = origin
    }

    public var limit: GCRALimit? { rate.map { GCRALimit(rate: $0, burst: burst) } }

    /// True when this rule applies to a request of `route` (and `source`, `method`).
    public func matches(route: RouteClass, source: String?, method: String) -> Bool {
        guard self.route == route else { return false }
        if let wanted = self.source, wanted != source { return false }
        if let wanted = self.method, wanted.uppercased() != method.uppercased() { return false }
        return true
    }
}

/// The rules in force: `_defaults.yaml` for every tenant, each tenant's file adding or
/// overriding rules by name.
public struct RuleSet: Sendable {
    public var defaults: [RateLimitRule]
    public var tenants: [String: [RateLimitRule]]

    public init(defaults: [RateLimitRule] = [], tenants: [String: [RateLimitRule]] = [:]) {
        self.defaults = defaults
        self.tenants = tenants
    }

    /// The effective rules of `tenant`: defaults, with same-named tenant rules replacing them.
    public func rules(for tenant: String) -> [RateLimitRule] {
        let overrides = tenants[tenant] ?? []
        let overridden = Set(overrides.map(\.name))
        return defaults.filter { !overridden.contains($0.name) } + overrides
    }

    /// The rules that apply to one request; empty if an `unlimited` rule matches.
    public func matching(tenant: String, route: RouteClass, source: String?, method: String) -> [RateLimitRule] {
        let matched = rules(for: tenant).filter { $0.matches(route: route, source: source, method: method) }
        if matched.contains(where: \.unlimited) { return [] }
        return matched
    }
}

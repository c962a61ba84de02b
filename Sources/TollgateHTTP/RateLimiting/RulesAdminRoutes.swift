import TollgateCore
import TollgateRateLimits
import TollgateRedisStores

/// Admin listener: `GET /admin/rules` (what is in force, from which files, hash, load time) and
/// `POST /admin/rules/reload`.
enum RulesAdminRoutes {
    static func make(store: RulesStore) -> ReloadableDirectoryRoutes<RuleSet> {
        ReloadableDirectoryRoutes(path: "/admin/rules", store: store) { set in
            [("defaults", rules(set.defaults)), ("tenants", .object(set.tenants.keys.sorted().map { ($0, rules(set.tenants[$0]!)) }))]
        }
    }

    static func rules(_ list: [RateLimitRule]) -> JSONValue {
        .array(list.map { rule in
            .object([
                ("name", .string(rule.name)), ("route", .string(rule.route.rawValue)),
                ("source", rule.source.map(JSONValue.string) ?? .null), ("method", rule.method.map(JSONValue.string) ?? .null),
                ("rate", rule.rate.map { .string("\($0.count)/\($0.windowSeconds)s") } ?? .null),
                ("burst", .int(Int(rule.burst))), ("by", .string(rule.by.rawValue)), ("mode", .string(rule.mode.rawValue)),
                ("unlimited", .bool(rule.unlimited)), ("origin", .string(rule.origin)),
            ])
        })
    }
}

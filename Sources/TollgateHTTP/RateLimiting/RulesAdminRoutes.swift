import Foundation
import Hummingbird
import TollgateCore
import TollgateRateLimits
import TollgateRedisStores

/// Admin listener: `GET /admin/rules` (what is in force, from which files, hash, load time) and
/// `POST /admin/rules/reload`.
struct RulesAdminRoutes {
    let store: RulesStore

    func register(on router: Router<EdgeRequestContext>) {
        router.get("/admin/rules") { _, _ in
            Response.json(describe(store.snapshot))
        }
        router.post("/admin/rules/reload") { _, _ in
            switch store.reload(trigger: "admin") {
            case .reloaded, .unchanged:
                return Response.json(.object([("status", .string("ok")), ("rules", describe(store.snapshot))]))
            case .rejected(let diagnostics):
                return Response.problem(Problem(
                    .unprocessable,
                    detail: "The rules were not reloaded; the previous rules stay in force.",
                    extensions: ["diagnostics": .array(diagnostics.split(separator: "\n").map { .string(String($0)) })]
                ))
            }
        }
    }

    func describe(_ snapshot: RulesStore.Snapshot) -> JSONValue {
        func rules(_ list: [RateLimitRule]) -> JSONValue {
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
        return .object([
            ("directory", .string(store.directory)),
            ("files", .array(snapshot.files.map(JSONValue.string))),
            ("content_hash", .string(snapshot.contentHash)),
            ("loaded_at", .string(ISO8601DateFormatter().string(from: snapshot.loadedAt))),
            ("defaults", rules(snapshot.rules.defaults)),
            ("tenants", .object(snapshot.rules.tenants.keys.sorted().map { ($0, rules(snapshot.rules.tenants[$0]!)) })),
        ])
    }
}

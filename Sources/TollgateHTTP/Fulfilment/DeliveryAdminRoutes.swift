import Foundation
import Hummingbird
import TollgateCore
import TollgatePostgres

/// Admin listener routes over the fulfilment outbox (the same as `tollgate deliveries ...`):
///
/// - `GET  /admin/deliveries?tenant=T[&status=S][&order_id=O][&limit=N]`: newest first, each with
///   its attempts (status, latency, the answer cut to 4 KiB), and the tenant's counts by status.
/// - `POST /admin/deliveries/{id}/retry?tenant=T`: a failed delivery (or a pending one nobody
///   holds) due now, with its whole schedule ahead again.
/// - `GET  /admin/game-backends/{tenant}`: the endpoint's state and counts.
/// - `POST /admin/game-backends/{tenant}/replay?since=ISO8601`: every delivery that failed since then, again.
/// - `POST /admin/game-backends/{tenant}/pause` and `/resume` (resume also after a 410 disabled it).
struct DeliveryAdminRoutes {
    let store: DeliveryStore

    func register(on router: Router<EdgeRequestContext>) {
        router.get("/admin/deliveries") { request, _ in
            let query = request.uri.queryParameters
            guard let tenant = query["tenant"].map(String.init), !tenant.isEmpty else { return Self.badRequest("tenant is required") }
            let status = query["status"].map(String.init)
            if let status, !DeliveryStore.statuses.contains(status) {
                return Self.badRequest("status must be one of \(DeliveryStore.statuses.sorted().joined(separator: ", "))")
            }
            let limit = query["limit"].flatMap { Int(String($0)) } ?? 100
            guard (1...1000).contains(limit) else { return Self.badRequest("limit must be 1 to 1000") }
            let listed = try await store.list(tenant: tenant, status: status, orderID: query["order_id"].map(String.init), limit: limit)
            let counts = try await store.counts(tenant: tenant)
            return Response.json(.object([
                ("tenant", .string(tenant)),
                ("counts", .object(counts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("deliveries", .array(listed.map(\.json))),
            ]))
        }
        router.post("/admin/deliveries/{id}/retry") { request, context in
            guard let id = context.parameters.get("id").flatMap(Int64.init) else { return Self.badRequest("the delivery id is a number") }
            guard let tenant = request.uri.queryParameters["tenant"].map(String.init), !tenant.isEmpty else { return Self.badRequest("tenant is required") }
            guard try await store.retry(id: id, tenant: tenant) else {
                return Response.problem(Problem(.conflict, detail: "Delivery \(id) of \(tenant) is not failed, or a worker holds it, or it does not exist."))
            }
            return Response.json(.object([("id", .int(Int(id))), ("status", .string("pending"))]))
        }
        router.get("/admin/game-backends/{tenant}") { _, context in
            let tenant = context.parameters.get("tenant") ?? ""
            let endpoint = try await store.endpoint(tenant: tenant)
            let counts = try await store.counts(tenant: tenant)
            return Response.json(.object([("endpoint", endpoint.json), ("counts", .object(counts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))]))
        }
        router.post("/admin/game-backends/{tenant}/replay") { request, context in
            let tenant = context.parameters.get("tenant") ?? ""
            guard let since = request.uri.queryParameters["since"].flatMap({ ISO8601Timestamp.parse(String($0)) }) else {
                return Self.badRequest("since must be an ISO 8601 time, like 2026-11-26T08:00:00Z")
            }
            let count = try await store.replay(tenant: tenant, since: since)
            return Response.json(.object([("tenant", .string(tenant)), ("replayed", .int(count))]))
        }
        for (action, active) in [("pause", false), ("resume", true)] {
            router.post(RouterPath("/admin/game-backends/{tenant}/\(action)")) { request, context in
                let tenant = context.parameters.get("tenant") ?? ""
                let reason = request.uri.queryParameters["reason"].map(String.init) ?? "\(action)d by an operator"
                return Response.json(.object([("endpoint", try await store.setEndpoint(tenant: tenant, active: active, reason: reason).json)]))
            }
        }
    }

    static func badRequest(_ detail: String) -> Response {
        Response.problem(Problem(.badRequest, detail: detail))
    }
}

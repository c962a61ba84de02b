import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import TollgateCheckout
import TollgateConfig
import TollgateCore
import TollgatePayments
import TollgatePostgres
import TollgateRateLimits
import TollgateRedisStores

/// `POST /v1/checkout/{tenant}/orders` and `GET /v1/checkout/{tenant}/orders/{order_id}`: Game Hub
/// pages create orders and poll them.
///
/// The promise: one Idempotency-Key (per tenant and player) makes at most one order and one
/// payment at the provider, and every retry of the same request gets the same answer. Redis
/// remembers answers for replay; Postgres's unique (tenant, player, key) is the truth when Redis
/// forgets; the provider's own idempotency (our order id as its key) guards the payment.
struct CheckoutRoutes: Sendable {
    /// What the routes need per tenant.
    struct Tenant: Sendable {
        let settings: CheckoutSettings
        let tokens: PlayerTokenVerifier
        let validator: CheckoutOrderValidator
        let payments: any PaymentOpener
        let idempotency: (any IdempotencyRecords)?
    }

    let tenants: [String: Tenant]
    let orders: any CheckoutOrders
    let rateLimiter: (any RateLimiting)?
    let rateLimitHeadersOnAdmitted: Bool
    let logger: Logger

    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    func register(on router: Router<EdgeRequestContext>) {
        let group = router.group("/v1/checkout/{tenant}")
            .add(middleware: CheckoutCORSMiddleware(origins: tenants.mapValues { Set($0.settings.origins) }))
        group.post("orders") { request, context in try await create(request, context: context) }
        group.get("orders/{order_id}") { request, context in try await status(request, context: context) }
        // Answered by the CORS middleware; the routes exist so that preflights match.
        group.on("orders", method: .options) { _, _ in Response(status: .noContent) }
        group.on("orders/{order_id}", method: .options) { _, _ in Response(status: .noContent) }
    }

    // MARK: - POST: the pipeline, top to bottom

    func create(_ request: Request, context: EdgeRequestContext) async throws -> Response {
        let tenant = try checkoutTenant(context)
        let player = try await authenticate(request, tenant: tenant)
        let key = try idempotencyKey(request)
        let limit = try await rateLimit(request, context: context, tenant: tenant, player: player, route: .checkout)
        let body = try await request.collectedBodyBytes()
        let fingerprint = Idempotency.fingerprint(method: "POST", path: request.uri.path, body: body)
        let scope = IdempotencyScope(tenant: tenant, player: player, key: key, fingerprint: fingerprint)
        switch await claim(scope) {
        case .replay(let stored):
            Counter(label: "tollgate_checkout_requests_total", dimensions: [("outcome", "replayed")]).increment()
            return Self.response(stored, replayed: true)
        case .inProgress:
            throw Problem(.conflict, detail: "A request with this Idempotency-Key is in progress; retry shortly.", headers: [("Retry-After", "1")])
        case .mismatch:
            throw Problem(.idempotencyKeyReused, detail: "This Idempotency-Key was first used with a different request body or path.")
        case .proceed:
            break
        }
        let answer: Idempotency.StoredResponse
        do {
            answer = try await placeOrder(body: body, tenant: tenant, player: player, key: key)
        } catch let problem as Problem where problem.status < 500 {
            answer = Self.stored(problem)  // a final refusal (validation, decline): the same request gets it again
        } catch {
            await release(scope)  // maybe transient: the client may retry with the same key
            throw error
        }
        await complete(scope, with: answer)
        Counter(label: "tollgate_checkout_requests_total", dimensions: [("outcome", "\(answer.status)")]).increment()
        var response = Self.response(answer, replayed: false)
        if let limit, rateLimitHeadersOnAdmitted { RateLimitHeaders.apply(limit, to: &response) }
        return response
    }

    /// Validate, write the order (once per key), open the payment (once per order), answer 201.
    private func placeOrder(body: [UInt8], tenant: Tenant, player: String, key: String) async throws -> Idempotency.StoredResponse {
        let order = try validate(body, tenant: tenant)
        guard order.playerID == player else {
            throw Problem(.unauthorized, detail: "The session token belongs to another player than player_id.")
        }
        // Nothing is written while the provider is known to be failing.
        if let refusal = tenant.payments.refusal() { throw Self.problem(refusal, orderID: nil) }
        let stored: CheckoutOrderStore.StoredOrder
        do {
            stored = try await orders.create(tenant: tenant.settings.tenant, orderID: Self.newOrderID(), order: order, idempotencyKey: key).order
        } catch {
            logger.error("checkout order could not be stored", metadata: ["tenant": "\(tenant.settings.tenant)", "error": "\(String(reflecting: error))"])
            throw Problem(.serviceUnavailable, detail: "The order could not be stored; retry with the same Idempotency-Key.", headers: [("Retry-After", "2")])
        }
        // A retry after Redis forgot finds the order the first request made; a payment that was
        // already opened is found again through the provider's idempotency on our order id.
        guard [.created, .pendingPayment].contains(stored.status) else { return Self.created(stored, tenant: tenant.settings.tenant, payment: nil) }
        let payment: OpenedPayment
        do {
            payment = try await tenant.payments.openPayment(orderID: stored.orderID, amountMinor: stored.amountMinor, currency: stored.currency)
        } catch {
            try? await orders.recordPaymentFailure(tenant: tenant.settings.tenant, orderID: stored.orderID,
                                                   provider: tenant.settings.payments.provider, error: Self.describe(error))
            throw Self.problem(error, orderID: stored.orderID)
        }
        do {
            let now = try await orders.recordPaymentOpened(tenant: tenant.settings.tenant, orderID: stored.orderID,
                                                           provider: payment.provider, paymentID: payment.id)
            return Self.created(now ?? stored, tenant: tenant.settings.tenant, payment: payment)
        } catch {
            // The provider has the payment; a retry with the same key finds it again and records it.
            throw Problem(.serviceUnavailable, detail: "The payment was opened but could not be recorded; retry with the same Idempotency-Key.",
                          headers: [("Retry-After", "2")])
        }
    }

    // MARK: - GET

    func status(_ request: Request, context: EdgeRequestContext) async throws -> Response {
        let tenant = try checkoutTenant(context)
        let player = try await authenticate(request, tenant: tenant)
        let limit = try await rateLimit(request, context: context, tenant: tenant, player: player, route: .status)
        let orderID = context.parameters.get("order_id") ?? ""
        let found: CheckoutOrderStore.StoredOrder?
        do {
            found = try await orders.find(tenant: tenant.settings.tenant, orderID: orderID, playerID: player)
        } catch {
            throw Problem(.serviceUnavailable, detail: "Order status is unavailable; retry shortly.", headers: [("Retry-After", "1")])
        }
        // Another player's order is indistinguishable from a missing one.
        guard let found else { throw Problem(.notFound, detail: "No such order.") }
        var response = Response.json(Self.orderJSON(found, payment: nil))
        response.headers[.cacheControl] = "no-store"
        if let limit, rateLimitHeadersOnAdmitted { RateLimitHeaders.apply(limit, to: &response) }
        return response
    }

    // MARK: - Steps

    private func checkoutTenant(_ context: EdgeRequestContext) throws -> Tenant {
        guard let name = context.parameters.get("tenant"), let tenant = tenants[name] else {
            throw Problem(.notFound, detail: "No checkout for this tenant.")
        }
        return tenant
    }

    /// The player the bearer token names. Every refusal is the same 401; the reason is counted.
    private func authenticate(_ request: Request, tenant: Tenant) async throws -> String {
        do {
            return try await tenant.tokens.verify(authorization: request.headers[.authorization], playerID: nil).sub.value
        } catch {
            Counter(label: "tollgate_checkout_auth_failures_total", dimensions: [("reason", "\(error)")]).increment()
            throw Problem(.unauthorized, detail: "A valid player session token is required.", headers: [("WWW-Authenticate", "Bearer")])
        }
    }

    private func idempotencyKey(_ request: Request) throws -> String {
        guard let raw = request.headers[Self.idempotencyKeyHeader] else {
            throw Problem(.badRequest, detail: "The Idempotency-Key header is required.", extensions: ["field": .string("Idempotency-Key")])
        }
        guard let key = Idempotency.validateKey(raw) else {
            throw Problem(.badRequest, detail: "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                          extensions: ["field": .string("Idempotency-Key")])
        }
        return key
    }

    private func rateLimit(_ request: Request, context: EdgeRequestContext, tenant: Tenant, player: String, route: RouteClass) async throws -> RateLimitVerdict? {
        guard let rateLimiter else { return nil }
        return try await rateLimiter.admit(RateLimitSubject(
            tenant: tenant.settings.tenant, route: route, method: request.method.rawValue,
            player: player, clientIP: context.remoteAddress?.ipAddress
        ))
    }

    private func validate(_ body: [UInt8], tenant: Tenant) throws -> CheckoutOrder {
        do {
            return try tenant.validator.validate(body)
        } catch .malformed(let reason) {
            throw Problem(.badRequest, detail: "The body is not a checkout order: \(reason).")
        } catch .invalid(let errors) {
            throw Problem(.unprocessable, detail: errors.map(\.description).joined(separator: "; "), extensions: [
                "errors": .array(errors.map { .object([("field", .string($0.field)), ("message", .string($0.message))]) }),
            ])
        }
    }

    // MARK: - Idempotency records (Redis); Postgres's unique key guards when Redis cannot

    struct IdempotencyScope {
        let tenant: Tenant
        let player: String
        let key: String
        let fingerprint: String
    }

    private func claim(_ scope: IdempotencyScope) async -> Idempotency.Decision {
        guard let store = scope.tenant.idempotency else { return .proceed }
        do {
            let record = try await store.claim(tenant: scope.tenant.settings.tenant, player: scope.player, idempotencyKey: scope.key, fingerprint: scope.fingerprint)
            return Idempotency.decide(record: record, fingerprint: scope.fingerprint)
        } catch {
            // Postgres's unique key and the provider's idempotency still make a retry safe.
            Counter(label: "tollgate_checkout_idempotency_redis_errors_total").increment()
            logger.warning("idempotency record unavailable; relying on Postgres", metadata: ["error": "\(error)"])
            return .proceed
        }
    }

    private func complete(_ scope: IdempotencyScope, with answer: Idempotency.StoredResponse) async {
        guard let store = scope.tenant.idempotency, answer.isFinal else { return }
        try? await store.complete(tenant: scope.tenant.settings.tenant, player: scope.player, idempotencyKey: scope.key,
                                  fingerprint: scope.fingerprint, response: answer)
    }

    private func release(_ scope: IdempotencyScope) async {
        try? await scope.tenant.idempotency?.release(tenant: scope.tenant.settings.tenant, player: scope.player, idempotencyKey: scope.key)
    }

    // MARK: - Answers

    /// `ord_` and 26 lower-case base-32 characters (130 random bits).
    static func newOrderID() -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        var generator = SystemRandomNumberGenerator()
        return "ord_" + String((0..<26).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }

    static func orderJSON(_ order: CheckoutOrderStore.StoredOrder, payment: OpenedPayment?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("order_id", .string(order.orderID)), ("status", .string(order.status.rawValue)),
            ("amount_minor", .int(Int(order.amountMinor))), ("currency", .string(order.currency)),
        ]
        if let payment {
            var fields: [(String, JSONValue)] = [("provider", .string(payment.provider)), ("id", .string(payment.id))]
            if let secret = payment.clientSecret { fields.append(("client_secret", .string(secret))) }
            if let url = payment.redirectURL { fields.append(("redirect_url", .string(url))) }
            members.append(("payment", .object(fields)))
        } else if let provider = order.provider, let id = order.providerPaymentID {
            members.append(("payment", .object([("provider", .string(provider)), ("id", .string(id))])))
        }
        return .object(members)
    }

    static func created(_ order: CheckoutOrderStore.StoredOrder, tenant: String, payment: OpenedPayment?) -> Idempotency.StoredResponse {
        Idempotency.StoredResponse(
            status: 201,
            headers: ["Content-Type": "application/json", "Location": "/v1/checkout/\(tenant)/orders/\(order.orderID)"],
            body: Array(orderJSON(order, payment: payment).serialized.utf8)
        )
    }

    static func stored(_ problem: Problem) -> Idempotency.StoredResponse {
        var headers = ["Content-Type": Problem.mediaType]
        for (name, value) in problem.headers { headers[name] = value }
        return Idempotency.StoredResponse(status: problem.status, headers: headers, body: Array(problem.jsonObject(instance: nil).serialized.utf8))
    }

    static func response(_ stored: Idempotency.StoredResponse, replayed: Bool) -> Response {
        var headers = HTTPFields()
        for (name, value) in stored.headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        if replayed { headers[replayedHeader] = "true" }
        return Response(status: .init(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
    }

    static func problem(_ error: any Error, orderID: String?) -> Problem {
        let order: [String: JSONValue] = orderID.map { ["order_id": .string($0)] } ?? [:]
        switch error as? PaymentProviderClient.Failure {
        case .circuitOpen(let seconds):
            return Problem(.upstreamCircuitOpen, detail: "The payment provider is failing; retry later.", extensions: order,
                           headers: [("Retry-After", "\(seconds)")])
        case .declined(let code, let message):
            return Problem(.paymentDeclined, detail: message, extensions: order.merging(["decline_code": .string(code)]) { $1 })
        case .rejected:
            return Problem(.upstreamFailed, detail: "The payment provider refused the request.", extensions: order, headers: [("Retry-After", "5")])
        case .unavailable(_, let timedOut):
            return Problem(timedOut ? .upstreamTimeout : .upstreamFailed, detail: "The payment provider is unavailable; retry with the same Idempotency-Key.",
                           extensions: order, headers: [("Retry-After", "2")])
        case nil:
            return Problem(.internalError)
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error as? PaymentProviderClient.Failure {
        case .circuitOpen: "circuit open"
        case .declined(let code, _): "declined: \(code)"
        case .rejected(let status, let code): "rejected: \(status) \(code)"
        case .unavailable(let reason, _): "unavailable: \(reason)"
        case nil: "\(type(of: error))"
        }
    }

    /// Builds the per-tenant parts (token verifiers need async set-up).
    static func make(catalog: TenantCatalog, payments: [String: any PaymentOpener], orders: any CheckoutOrders,
                     idempotency: (CheckoutSettings) -> (any IdempotencyRecords)?, rateLimiter: (any RateLimiting)?,
                     rateLimitHeadersOnAdmitted: Bool, logger: Logger) async throws -> CheckoutRoutes {
        var tenants: [String: Tenant] = [:]
        for (name, settings) in catalog.checkout {
            guard let client = payments[name] else { continue }
            let keys: [PlayerTokenKey] = settings.playerTokenKeys.map {
                switch $0.algorithm {
                case .hs256: .hs256(kid: $0.kid, secret: $0.material.exposedValue)
                case .es256: .es256(kid: $0.kid, publicKeyPEM: $0.material.exposedValue)
                }
            }
            tenants[name] = Tenant(
                settings: settings, tokens: try await PlayerTokenVerifier.make(tenant: name, keys: keys),
                validator: CheckoutOrderValidator(maximumTotalMinor: settings.maximumTotalMinor), payments: client,
                idempotency: idempotency(settings)
            )
        }
        return CheckoutRoutes(tenants: tenants, orders: orders, rateLimiter: rateLimiter, rateLimitHeadersOnAdmitted: rateLimitHeadersOnAdmitted, logger: logger)
    }
}

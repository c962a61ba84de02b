import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import TollgateCatalog
import TollgateCheckout
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgatePayments
import TollgatePostgres
import TollgateRateLimits
import TollgateRedisStores
import TollgateTelemetry

/// `POST /v1/checkout/{tenant}/orders` and `GET /v1/checkout/{tenant}/orders/{order_id}`: Game Hub
/// pages create orders and poll them.
///
/// The promises: the page names items, the edge prices them from the tenant's catalog; one
/// Idempotency-Key (per tenant and player) makes at most one order, and one order at most one
/// payment at the provider; every retry of the same request gets the same answer. Redis remembers
/// answers for replay under a short in-flight lease; Postgres's unique (tenant, player, key) and
/// the stored request fingerprint are the truth when Redis forgets; an order that has a payment
/// retrieves it rather than asking the provider again, so even a provider that forgot its own
/// idempotency key never opens a second one.
struct CheckoutRoutes: Sendable {
    private static let requests = CounterFamily("tollgate_checkout_requests_total", labels: "outcome")

    /// What the routes need per tenant.
    struct Tenant: Sendable {
        let settings: CheckoutSettings
        let tokens: PlayerTokenVerifier
        let validator: CheckoutOrderValidator
        let payments: any PaymentOpener
        let idempotency: (any IdempotencyRecords)?
    }

    let tenants: [String: Tenant]
    /// The tenant's product catalog in force (nil: none, so nothing can be sold).
    let catalog: @Sendable (String) -> ProductCatalog?
    let orders: any CheckoutOrders
    let rateLimiter: (any RateLimiting)?
    let rateLimitHeadersOnAdmitted: Bool
    /// Asks the game about the player before an order is written (tenants with player_verification).
    var players: (any PlayerVerifying)? = nil
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
        let session = try await authenticate(request, tenant: tenant)
        let player = session.player
        let key = try idempotencyKey(request)
        let limit = try await rateLimit(request, context: context, tenant: tenant, player: player, route: .checkout)
        let body = try await request.collectedBodyBytes()
        let fingerprint = Idempotency.fingerprint(method: "POST", path: request.uri.path, body: body)
        let scope = IdempotencyScope(tenant: tenant, player: player, key: key, fingerprint: fingerprint, token: Self.newClaimToken())
        switch await claim(scope) {
        case .replay(let stored):
            Self.requests("replayed").increment()
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
            answer = try await holdingClaim(scope) {
                try await placeOrder(body: body, tenant: tenant, session: session, key: key, fingerprint: fingerprint)
            }
        } catch let problem as Problem where problem.kind == .idempotencyKeyReused {
            await release(scope)  // the key belongs to the request that made its order: never store this answer over it
            throw problem
        } catch let problem as Problem where problem.status < 500 {
            answer = Self.stored(problem)  // a final refusal (validation, price, decline): the same request gets it again
        } catch {
            await release(scope)  // maybe transient: the client may retry with the same key
            throw error
        }
        await complete(scope, with: answer)
        Self.requests("\(answer.status)").increment()
        var response = Self.response(answer, replayed: false)
        if let limit, rateLimitHeadersOnAdmitted { RateLimitHeaders.apply(limit, to: &response) }
        return response
    }

    /// Validate, price from the catalog, write the order (once per key), open its payment (once
    /// per order) or find it again, answer 201.
    private func placeOrder(body: [UInt8], tenant: Tenant, session: PlayerSession, key: String, fingerprint: String) async throws -> Idempotency.StoredResponse {
        let name = tenant.settings.tenant, player = session.player
        let order: CheckoutOrder, country: String?, priced: PricedOrder
        do {
            order = try validate(body, tenant: tenant)
            guard order.playerID == player else {
                throw Problem(.unauthorized, detail: "The session token belongs to another player than player_id.")
            }
            country = try pricingCountry(order, session: session)
            priced = try price(order, country: country, tenant: tenant)
            try await verifyPlayer(player, tenant: name, key: key)
        } catch let refusal as Problem where refusal.status < 500 {
            // A final refusal is stored under this key, so first ask Postgres whether the key already
            // made an order (Redis forgot it): then that order is the answer (the catalog may have
            // moved since), or, for another request, 422 key reused; never a refusal over an order's key.
            let earlier: (order: CheckoutOrderStore.StoredOrder, fingerprint: String?)?
            do {
                earlier = try await orders.find(tenant: name, playerID: player, idempotencyKey: key)
            } catch {
                throw Problem(.serviceUnavailable, detail: "The order could not be checked; retry with the same Idempotency-Key.", headers: [("Retry-After", "2")])
            }
            guard let earlier else { throw refusal }
            guard Idempotency.sameRequest(stored: earlier.fingerprint, fingerprint: fingerprint) else { throw Self.keyReused }
            return try await collectPayment(for: earlier.order, tenant: tenant)
        }
        // Nothing is written while the provider is known to be failing.
        if let refusal = tenant.payments.refusal() { throw Self.problem(refusal, orderID: nil) }
        let outcome: CheckoutOrderStore.CreateOutcome
        do {
            outcome = try await orders.create(tenant: name, orderID: Self.newOrderID(), order: CheckoutOrderStore.NewOrder(
                playerID: player, country: country, returnURL: order.returnURL, priced: priced, idempotencyKey: key, fingerprint: fingerprint
            ), notAfter: nil)
        } catch {
            logger.error("checkout order could not be stored", metadata: ["tenant": "\(name)", "error": "\(String(reflecting: error))"])
            throw Problem(.serviceUnavailable, detail: "The order could not be stored; retry with the same Idempotency-Key.", headers: [("Retry-After", "2")])
        }
        let stored: CheckoutOrderStore.StoredOrder
        switch outcome {
        case .created(let order), .existing(let order):
            stored = order
        case .keyReused:
            throw Self.keyReused  // Redis forgot the key, Postgres did not
        case .purchaseLimitReached(let sku, let limit, let held):
            throw Problem(.purchaseLimitReached, detail: "A player may hold at most \(limit) of '\(sku)'; this player holds \(held) in open or paid orders.",
                          extensions: ["sku": .string(sku), "limit": .int(Int(limit)), "held": .int(Int(held))])
        }
        return try await collectPayment(for: stored, tenant: tenant)
    }

    /// The order's payment: opened once, found again ever after.
    private func collectPayment(for stored: CheckoutOrderStore.StoredOrder, tenant: Tenant) async throws -> Idempotency.StoredResponse {
        let name = tenant.settings.tenant
        // An order that is no longer waiting for its payment is answered as it stands.
        guard [.created, .pendingPayment].contains(stored.status) else { return Self.created(stored, tenant: name, payment: nil) }
        let payment: OpenedPayment
        do {
            if let existing = stored.providerPaymentID {
                // Never a second payment for one order, even after the provider forgot its idempotency key.
                payment = try await tenant.payments.retrievePayment(id: existing)
            } else {
                payment = try await tenant.payments.openPayment(orderID: stored.orderID, amountMinor: stored.amountMinor, currency: stored.currency)
            }
        } catch {
            try? await orders.recordPaymentFailure(tenant: name, orderID: stored.orderID, provider: tenant.settings.payments.provider, error: Self.describe(error))
            throw Self.problem(error, orderID: stored.orderID)
        }
        if stored.providerPaymentID == payment.id { return Self.created(stored, tenant: name, payment: payment) }
        do {
            let now = try await orders.recordPaymentOpened(tenant: name, orderID: stored.orderID, provider: payment.provider, paymentID: payment.id)
            return Self.created(now ?? stored, tenant: name, payment: payment)
        } catch {
            // The provider has the payment; a retry with the same key finds it again and records it.
            throw Problem(.serviceUnavailable, detail: "The payment was opened but could not be recorded; retry with the same Idempotency-Key.",
                          headers: [("Retry-After", "2")])
        }
    }

    /// The game's word on the player, where the tenant asks for it: a banned or unknown player
    /// gets 403 (a refusal like a refused item: a retry of an order this key already made is
    /// answered with that order, see the caller); a game that could not say gets 503 when the
    /// tenant refuses on timeout (the page retries with the same key), unless the key already
    /// made its order: that retry is answered with it, whatever the game says now.
    private func verifyPlayer(_ player: String, tenant: String, key: String) async throws {
        guard let players, players.verifies(tenant: tenant) else { return }
        switch await players.decide(tenant: tenant, player: player) {
        case .allow: return
        case .refuse(.unverified):
            let made: Bool
            do {
                made = try await orders.find(tenant: tenant, playerID: player, idempotencyKey: key) != nil
            } catch {
                made = false
            }
            guard !made else { return }
            throw Problem(.serviceUnavailable, detail: "The game could not verify the player; retry with the same Idempotency-Key.", headers: [("Retry-After", "5")])
        case .refuse(let verdict):
            throw Problem(.playerNotAllowed, detail: "The game does not allow this player to buy (\(verdict.rawValue)).",
                          extensions: ["reason": .string(verdict.rawValue)])
        }
    }

    static let keyReused = Problem(.idempotencyKeyReused, detail: "This Idempotency-Key was first used with a different request body or path.")

    /// The country a regional price may be given for: the one the session token vouches for. The
    /// body's `country` is the page's word; it may only repeat the token's.
    private func pricingCountry(_ order: CheckoutOrder, session: PlayerSession) throws -> String? {
        if let requested = order.country, let vouched = session.country, requested != vouched {
            throw Problem(.unprocessable, detail: "country: must be the session's country (\(vouched))", extensions: [
                "errors": .array([.object([("field", .string("country")), ("message", .string("must be the session's country (\(vouched))"))])]),
            ])
        }
        return session.country
    }

    /// The order's lines priced from the tenant's catalog in force: the one place an amount is set.
    private func price(_ order: CheckoutOrder, country: String?, tenant: Tenant) throws -> PricedOrder {
        let requested = order.items.map { RequestedLine(sku: $0.sku, quantity: $0.quantity, shownUnitAmountMinor: $0.shownUnitAmountMinor) }
        switch CheckoutPricing.price(requested, currency: order.currency, country: country, catalog: catalog(tenant.settings.tenant),
                                     maximumTotalMinor: tenant.settings.maximumTotalMinor) {
        case .success(let priced):
            return priced
        case .failure(.unavailable(let problems)):
            let errors = problems.map { problem -> (field: String, message: String) in
                let message = switch problem.reason {
                case .unknown: "'\(problem.sku)' is not in this store's catalog"
                case .inactive: "'\(problem.sku)' is not on sale"
                case .unpriced: "'\(problem.sku)' has no price in \(order.currency)\(country.map { " for \($0)" } ?? "")"
                case .quantityAboveMaximum(let maximum): "'\(problem.sku)' is sold at most \(maximum) per order"
                case .duplicate(let first): "'\(problem.sku)' is already on items[\(first)]; send one line per sku"
                }
                return ("items[\(problem.index)]", message)
            }
            throw Problem(.itemUnavailable, detail: errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), extensions: [
                "errors": .array(problems.indices.map { .object([("field", .string(errors[$0].field)), ("sku", .string(problems[$0].sku)),
                                                                 ("message", .string(errors[$0].message))]) }),
            ])
        case .failure(.priceChanged(let prices)):
            throw Problem(.priceChanged, detail: "A price has changed since the page showed it; show the current prices and ask again.", extensions: [
                "currency": .string(order.currency),
                "prices": .array(prices.map { price in
                    .object([("field", .string("items[\(price.index)]")), ("sku", .string(price.sku)),
                             ("shown_unit_amount_minor", price.shownUnitAmountMinor.map { .int(Int($0)) } ?? .null),
                             ("unit_amount_minor", .int(Int(price.unitAmountMinor)))])
                }),
            ])
        case .failure(.totalTooLarge(let total, let maximum)):
            throw Problem(.unprocessable, detail: "The order total\(total.map { " \($0)" } ?? "") exceeds this store's maximum \(maximum).",
                          extensions: ["errors": .array([.object([("field", .string("items")), ("message", .string("the total exceeds \(maximum)"))])])])
        }
    }

    // MARK: - GET

    func status(_ request: Request, context: EdgeRequestContext) async throws -> Response {
        let tenant = try checkoutTenant(context)
        let player = try await authenticate(request, tenant: tenant).player
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

    /// Who the session token says is buying: the player, and the country its backend vouches for.
    struct PlayerSession {
        let player: String
        let country: String?
    }

    /// The player the bearer token names. Every refusal is the same 401; the reason is counted.
    private func authenticate(_ request: Request, tenant: Tenant) async throws -> PlayerSession {
        do {
            let claims = try await tenant.tokens.verify(authorization: request.headers[.authorization], playerID: nil)
            return PlayerSession(player: claims.sub.value, country: claims.verifiedCountry)
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
        /// This request's proof of its in-flight claim.
        let token: String
    }

    private func claim(_ scope: IdempotencyScope) async -> Idempotency.Decision {
        guard let store = scope.tenant.idempotency else { return .proceed }
        do {
            let record = try await store.claim(tenant: scope.tenant.settings.tenant, player: scope.player, idempotencyKey: scope.key,
                                               fingerprint: scope.fingerprint, token: scope.token)
            return Idempotency.decide(record: record, fingerprint: scope.fingerprint)
        } catch {
            // Postgres's unique key, the stored fingerprint and the order's payment id still make a retry safe.
            Counter(label: "tollgate_checkout_idempotency_redis_errors_total").increment()
            logger.warning("idempotency record unavailable; relying on Postgres", metadata: ["error": "\(error)"])
            return .proceed
        }
    }

    /// Runs `work` while renewing the in-flight claim every third of its lease, so a slow provider
    /// never lets the claim lapse while a crash lets it lapse within one lease.
    private func holdingClaim<T: Sendable>(_ scope: IdempotencyScope, _ work: () async throws -> T) async throws -> T {
        guard let store = scope.tenant.idempotency else { return try await work() }
        let tenant = scope.tenant.settings.tenant, player = scope.player, key = scope.key, fingerprint = scope.fingerprint, token = scope.token
        let renewal = Task {
            while true {
                try await Task.sleep(for: store.lease / 3)
                _ = try? await store.renew(tenant: tenant, player: player, idempotencyKey: key, fingerprint: fingerprint, token: token)
            }
        }
        defer { renewal.cancel() }
        return try await work()
    }

    /// Stores the final answer for replay, retrying briefly: a lost write only costs a retry the
    /// trip to Postgres (the claim's lease lapses on its own), but it is counted.
    private func complete(_ scope: IdempotencyScope, with answer: Idempotency.StoredResponse) async {
        guard let store = scope.tenant.idempotency, answer.isFinal else { return }
        for attempt in 1...Self.completionAttempts {
            do {
                let stored = try await store.complete(tenant: scope.tenant.settings.tenant, player: scope.player, idempotencyKey: scope.key,
                                                      fingerprint: scope.fingerprint, token: scope.token, response: answer)
                // Not stored: this request's lease lapsed and another claimed the key; its record stands.
                let outcome = !stored ? "superseded" : attempt == 1 ? "stored" : "stored_after_retry"
                Counter(label: "tollgate_checkout_idempotency_completions_total", dimensions: [("outcome", outcome)]).increment()
                return
            } catch {
                if attempt == Self.completionAttempts {
                    Counter(label: "tollgate_checkout_idempotency_completions_total", dimensions: [("outcome", "failed")]).increment()
                    logger.warning("idempotency answer not stored; a retry is answered from Postgres", metadata: ["error": "\(error)"])
                } else {
                    try? await Task.sleep(for: .milliseconds(25 << attempt))
                }
            }
        }
    }

    static let completionAttempts = 3

    private func release(_ scope: IdempotencyScope) async {
        try? await scope.tenant.idempotency?.release(tenant: scope.tenant.settings.tenant, player: scope.player, idempotencyKey: scope.key,
                                                     fingerprint: scope.fingerprint, token: scope.token)
    }

    // MARK: - Answers

    /// `ord_` and 26 lower-case base-32 characters (130 random bits).
    static func newOrderID() -> String { "ord_" + randomBase32(26) }

    /// 26 base-32 characters: unguessable, so no other request can renew or release this claim.
    static func newClaimToken() -> String { randomBase32(26) }

    static func randomBase32(_ count: Int) -> String {
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }

    static func orderJSON(_ order: CheckoutOrderStore.StoredOrder, payment: OpenedPayment?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("order_id", .string(order.orderID)), ("status", .string(order.status.rawValue)),
            ("amount_minor", .int(Int(order.amountMinor))), ("currency", .string(order.currency)),
            ("lines", .array(order.lines.map { line in
                .object([("sku", .string(line.sku)), ("title", .string(line.title)), ("quantity", .int(Int(line.quantity))),
                         ("unit_amount_minor", .int(Int(line.unitAmountMinor))), ("amount_minor", .int(Int(line.amountMinor)))])
            })),
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
    static func make(tenants catalog: TenantCatalog, products: @escaping @Sendable (String) -> ProductCatalog?,
                     payments: [String: any PaymentOpener], orders: any CheckoutOrders,
                     idempotency: (CheckoutSettings) -> (any IdempotencyRecords)?, rateLimiter: (any RateLimiting)?,
                     rateLimitHeadersOnAdmitted: Bool, players: (any PlayerVerifying)? = nil, logger: Logger) async throws -> CheckoutRoutes {
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
                validator: CheckoutOrderValidator(), payments: client,
                idempotency: idempotency(settings)
            )
        }
        return CheckoutRoutes(tenants: tenants, catalog: products, orders: orders, rateLimiter: rateLimiter, rateLimitHeadersOnAdmitted: rateLimitHeadersOnAdmitted,
                              players: players, logger: logger)
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import TollgateConfig
import TollgateCore
import TollgateFulfilment
import TollgateOrders
import TollgatePostgres
import TollgateRateLimits
import TollgateRedisStores
import TollgateSignatures
import TollgateTelemetry

/// `POST /v1/webhooks/{tenant}/{source}`: a provider callback, from bytes to a durable answer.
///
/// The promise: every genuine callback changes order state exactly once; a forged or replayed
/// one changes nothing; the provider hears "success" only after the effect is committed.
struct WebhookRoutes: Sendable {
    private static let events = CounterFamily("tollgate_webhook_events_total", labels: "provider", "outcome")
    private static let verificationFailures = CounterFamily("tollgate_webhook_verification_failures_total", labels: "provider", "reason")

    let tenants: TenantCatalog
    let schemes: [String: any SignatureScheme]  // by "tenant/source"
    let deduplicator: any WebhookClaims
    let committer: any EventCommitter
    let rateLimiter: (any RateLimiting)?
    let rateLimitHeadersOnAdmitted: Bool
    /// Answers Xsolla's `user_validation` for tenants whose game verifies players.
    let players: (any PlayerVerifying)?

    init(tenants: TenantCatalog, deduplicator: any WebhookClaims, committer: any EventCommitter, rateLimiter: (any RateLimiting)?, rateLimitHeadersOnAdmitted: Bool,
         players: (any PlayerVerifying)? = nil) {
        self.tenants = tenants
        var schemes: [String: any SignatureScheme] = [:]
        for tenant in tenants.tenants {
            for (name, source) in tenants.sources[tenant] ?? [:] {
                schemes["\(tenant)/\(name)"] = source.signatureScheme
            }
        }
        self.schemes = schemes
        self.deduplicator = deduplicator
        self.committer = committer
        self.rateLimiter = rateLimiter
        self.rateLimitHeadersOnAdmitted = rateLimitHeadersOnAdmitted
        self.players = players
    }

    func register(on router: Router<EdgeRequestContext>) {
        router.post("/v1/webhooks/{tenant}/{source}") { request, context in
            try await receive(request, context: context)
        }
    }

    /// The pipeline, top to bottom.
    func receive(_ request: Request, context: EdgeRequestContext) async throws -> Response {
        let source = try route(context)
        let body = try await request.collectedBodyBytes()
        try await verify(request, body: body, source: source, logger: context.logger)
        // Not an event: Xsolla asks whether the player exists before it takes money.
        if source.provider == .xsolla, let player = XsollaUserValidation.player(in: body), let players, players.verifies(tenant: source.tenant) {
            if let rateLimiter { _ = try await rateLimiter.admit(limitSubject(request, source: source)) }
            return XsollaUserValidation.answer(await players.decide(tenant: source.tenant, player: player))
        }
        let events = Self.distinct(try normalize(request, body: body, source: source))
        let (claim, limit) = try await admit(events, request: request, source: source)
        var response: Response
        switch claim {
        case .allDone:
            response = WebhookResponses.success(provider: source.provider, duplicate: true)
        case .inFlight:
            throw Problem(.conflict, detail: "This event is being processed; retry shortly.", headers: [("Retry-After", "1")])
        case .claimed:
            let duplicate = try await commit(events, source: source, logger: context.logger)
            await deduplicator.markDone(events)
            response = WebhookResponses.success(provider: source.provider, duplicate: duplicate)
        }
        if rateLimitHeadersOnAdmitted { RateLimitHeaders.apply(limit, to: &response) }
        return response
    }

    /// The tenant's rate limit and the events' dedup claim, in one Redis round trip. After
    /// verification, so a forged flood cannot spend a tenant's budget; before any Postgres work.
    private func admit(_ events: [PaymentEvent], request: Request, source: WebhookSource) async throws -> (WebhookClaim, RateLimitVerdict) {
        switch await deduplicator.claim(events, limitedAs: limitSubject(request, source: source)) {
        case .denied(let verdict): throw RateLimitHeaders.tooManyRequests(verdict)
        case .admitted(let claim, let verdict): return (claim, verdict)
        }
    }

    private func limitSubject(_ request: Request, source: WebhookSource) -> RateLimitSubject {
        RateLimitSubject(tenant: source.tenant, route: .webhooks, source: source.name, method: request.method.rawValue)
    }

    private func route(_ context: EdgeRequestContext) throws -> WebhookSource {
        guard let tenant = context.parameters.get("tenant"), let name = context.parameters.get("source"),
              let source = tenants.source(tenant: tenant, name: name)
        else { throw Problem(.notFound, detail: "No such webhook source.") }
        return source
    }

    private func verify(_ request: Request, body: [UInt8], source: WebhookSource, logger: Logger) async throws {
        guard let scheme = schemes["\(source.tenant)/\(source.name)"] else {
            throw WebhookResponses.verificationFailed(provider: source.provider)  // fail closed
        }
        let signed = SignedRequest(headers: request.headers.map { ($0.name.canonicalName, $0.value) }, body: body)
        do {
            try await scheme.verify(signed, now: Date())
        } catch {
            Self.verificationFailures(source.provider.rawValue, error.rawValue).increment()
            logger.warning("webhook verification failed", metadata: [
                "tenant": "\(source.tenant)", "source": "\(source.name)", "provider": "\(source.provider)", "reason": "\(error.rawValue)",
            ])
            throw WebhookResponses.verificationFailed(provider: source.provider)
        }
    }

    private func normalize(_ request: Request, body: [UInt8], source: WebhookSource) throws -> [PaymentEvent] {
        let headers = request.headers.reduce(into: [String: String]()) { $0[$1.name.canonicalName] = $0[$1.name.canonicalName] ?? $1.value }
        let normalizer = PaymentEventNormalizer(tenant: source.tenant, source: source.name, account: source.account, provider: source.provider)
        do {
            let events = try normalizer.normalize(headers: headers, body: body)
            for event in events where !event.understood {
                Counter(label: "tollgate_webhook_unintelligible_total", dimensions: [("provider", source.provider.rawValue)]).increment()
            }
            return events
        } catch {
            throw Problem(.unprocessable, detail: "The callback verified but carries no event id to deduplicate on.")
        }
    }

    /// One event per identity: a batch (Adyen's notificationItems) may carry the same item twice,
    /// and the second would find the first one's in-flight claim, which is its own.
    static func distinct(_ events: [PaymentEvent]) -> [PaymentEvent] {
        var seen = Set<PaymentEventKey>()
        return events.filter { seen.insert($0.key).inserted }
    }

    /// Commits through the group committer. True when every event was already stored.
    private func commit(_ events: [PaymentEvent], source: WebhookSource, logger: Logger) async throws -> Bool {
        let results: [Result<CommitOutcome, any Error>]
        do {
            results = try await committer.commit(events)
        } catch {
            await deduplicator.release(events)
            logger.error("webhook commit failed", metadata: ["provider": "\(source.provider)", "error": "\(String(reflecting: error))"])
            throw Problem(.serviceUnavailable, detail: "The event could not be stored; retry later.", headers: [("Retry-After", "5")])
        }
        var duplicates = 0
        var stored: [PaymentEvent] = []
        var failed: [PaymentEvent] = []
        for (event, result) in zip(events, results) {
            switch result {
            case .success(.duplicate): duplicates += 1; stored.append(event)
            case .success(.recorded(let outcome)):
                stored.append(event)
                Self.events(source.provider.rawValue, outcome.rawValue).increment()
            case .failure: failed.append(event)
            }
        }
        guard failed.isEmpty else {
            // Committed siblings stay committed and are marked done, so the provider's retry of the
            // batch finds them as duplicates at once instead of "in flight" until their claims expire.
            await deduplicator.markDone(stored)
            await deduplicator.release(failed)
            throw Problem(.serviceUnavailable, detail: "Part of the callback could not be stored; retry later.", headers: [("Retry-After", "5")])
        }
        return duplicates == events.count
    }
}

/// What each provider expects to hear back (``Provider/acknowledgement``, ``Provider/verificationFailure``).
enum WebhookResponses {
    static let duplicateHeader = HTTPField.Name("Tollgate-Duplicate")!

    static func success(provider: Provider, duplicate: Bool) -> Response {
        var response = provider.acknowledgement.map(Response.init(reply:))
            ?? .json(.object([("received", .bool(true)), ("duplicate", .bool(duplicate))]))
        if duplicate { response.headers[duplicateHeader] = "true" }
        return response
    }

    /// The provider's documented refusal, else 401 with a generic body (the reason goes to logs and metrics only).
    static func verificationFailed(provider: Provider) -> any Error {
        if let reply = provider.verificationFailure { return ProviderReplyError(reply: reply) }
        return Problem(.unauthorized, detail: "The callback signature could not be verified.")
    }
}

/// An error answered in a provider's own shape rather than as problem+json.
struct ProviderReplyError: HTTPResponseError {
    var reply: ProviderReply

    var status: HTTPResponse.Status { HTTPResponse.Status(code: reply.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(reply: reply)
    }
}

extension Response {
    init(reply: ProviderReply) {
        var headers = HTTPFields()
        if let contentType = reply.contentType { headers[.contentType] = contentType }
        self.init(status: HTTPResponse.Status(code: reply.status), headers: headers,
                  body: reply.body.isEmpty ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
    }
}

/// Xsolla's `user_validation` callback: the user it names, and the answer Xsolla documents (204
/// when the user may pay; 400 with code `INVALID_USER` when not).
enum XsollaUserValidation {
    /// The user id of a `user_validation` notification; nil for any other body.
    static func player(in body: [UInt8]) -> String? {
        guard body.count <= 64 * 1024, let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              object["notification_type"] as? String == "user_validation", let user = object["user"] as? [String: Any] else { return nil }
        if let id = user["id"] as? String, !id.isEmpty { return id }
        return (user["id"] as? Int).map(String.init)
    }

    static func answer(_ decision: PlayerVerifier.Decision) -> Response {
        guard case .refuse(let verdict) = decision else { return Response(status: .noContent) }
        let message = verdict == .unverified ? "The game could not verify the user." : "The game does not allow this user to pay (\(verdict.rawValue))."
        let body = JSONValue.object([("error", .object([("code", .string("INVALID_USER")), ("message", .string(message))]))]).serialized
        return Response(status: .badRequest, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

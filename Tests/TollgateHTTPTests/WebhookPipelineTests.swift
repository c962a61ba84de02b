import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TollgateCheckout
import TollgateConfig
import TollgateCore
@testable import TollgateHTTP
import TollgateOrders
import TollgateProviderEvents
import TollgateRedisStores
import TollgateSignatures

/// Every answer the webhook pipeline can give, decided in process: the real edge middleware and
/// routes, HummingbirdTesting's router mode, and fakes for Redis, Postgres and the limiter.
@Suite struct WebhookPipelineTests {
    static let secrets: [Provider: String] = [.stripe: "whsec_pipeline", .adyen: String(repeating: "3C", count: 32), .xsolla: "xsolla-pipeline"]
    static let catalog = TenantCatalog(sources: secrets.map { provider, secret in
        WebhookSource(tenant: "acme", name: provider.rawValue, provider: provider, secrets: [Secret(secret)])
    })

    struct Edge {
        var claims: FakeClaims
        var committer: FakeCommitter
        var limiter: FakeLimiter?
        var bodyLimit = 4096

        init(claims: WebhookClaim = .claimed, committer: FakeCommitter = FakeCommitter(.outcome(.recorded(.applied))), limiter: FakeLimiter? = nil) {
            self.claims = FakeClaims(claims, limiter: limiter)
            self.committer = committer
            self.limiter = limiter
        }
    }

    /// A signed callback of `provider` for order `ord_1`.
    static func callback(_ provider: Provider, kind: PaymentEventKind = .paymentSucceeded, secret: String? = nil) -> WebhookSigner.SignedCallback {
        let callback = ProviderCallback(kind: kind, orderID: "ord_1", eventID: provider.eventIDsAreDigits ? "424242" : "evt_pipeline_1",
                                        paymentID: "pay_1", amountMinor: 1999, currency: "EUR")
        return callback.signed(by: WebhookSigner(provider: provider, secret: Secret(secret ?? secrets[provider]!)))!
    }

    func send(_ edge: Edge, _ provider: Provider, _ signed: WebhookSigner.SignedCallback, path: String? = nil,
              _ check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        let routes = WebhookRoutes(tenants: Self.catalog, deduplicator: edge.claims, committer: edge.committer, rateLimiter: edge.limiter,
                                   rateLimitHeadersOnAdmitted: true)
        let checkout = CheckoutRoutes(tenants: [:], catalog: { _ in nil }, orders: FakeOrders(), rateLimiter: nil, rateLimitHeadersOnAdmitted: false, logger: Logger(label: "test"))
        let router = TollgateServer.makeEdgeRouter(bodyLimit: edge.bodyLimit, readiness: .alwaysReady, webhooks: routes, checkout: checkout)
        let app = Application(router: router)
        var fields = HTTPFields()
        for (name, value) in signed.headers { fields[HTTPField.Name(name)!] = value }
        let headers = fields
        try await app.test(.router) { client in
            try await client.execute(uri: path ?? "/v1/webhooks/acme/\(provider.rawValue)", method: .post, headers: headers,
                                     body: ByteBuffer(bytes: signed.body)) { response in try check(response) }
        }
    }

    @Test func aCommittedCallbackIsAcknowledgedAndMarkedDone() async throws {
        let edge = Edge()
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == #"{"received":true,"duplicate":false}"#)
            #expect(response.headers[HTTPField.Name("Tollgate-Duplicate")!] == nil)
        }
        #expect(edge.claims.done == ["evt_pipeline_1"])
        #expect(edge.committer.calls.withLockedValue { $0 } == 1)
    }

    @Test func eachProviderHearsItsOwnAcknowledgement() async throws {
        try await send(Edge(), .adyen, Self.callback(.adyen)) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain")
            #expect(String(buffer: response.body) == "[accepted]")
        }
        try await send(Edge(), .xsolla, Self.callback(.xsolla)) { response in
            #expect(response.status == .noContent)
            #expect(response.body.readableBytes == 0)
        }
    }

    @Test func unknownTenantOrSourceIs404() async throws {
        try await send(Edge(), .stripe, Self.callback(.stripe), path: "/v1/webhooks/nobody/stripe") { response in
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == "application/problem+json")
        }
        try await send(Edge(), .stripe, Self.callback(.stripe), path: "/v1/webhooks/acme/paypal") { response in
            #expect(response.status == .notFound)
        }
    }

    @Test func aForgedCallbackIs401AndNeverReachesTheLimiterOrTheStores() async throws {
        let edge = Edge(limiter: FakeLimiter(admitted: false))
        try await send(edge, .stripe, Self.callback(.stripe, secret: "whsec_forged")) { response in
            #expect(response.status == .unauthorized)
            #expect(response.headers[.contentType] == "application/problem+json")
            #expect(!String(buffer: response.body).contains("signature_mismatch"), "the reason goes to logs and metrics only")
        }
        #expect(edge.limiter!.calls.withLockedValue { $0 } == 0)
        #expect(edge.committer.calls.withLockedValue { $0 } == 0)
    }

    @Test func aForgedXsollaCallbackGetsXsollasDocumentedRefusal() async throws {
        try await send(Edge(), .xsolla, Self.callback(.xsolla, secret: "not-the-secret")) { response in
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentType] == "application/json")
            #expect(String(buffer: response.body) == #"{"error":{"code":"INVALID_SIGNATURE","message":"Invalid signature"}}"#)
        }
    }

    @Test func aRateLimitedCallbackIs429WithRetryAfterAndIsNotStored() async throws {
        let edge = Edge(limiter: FakeLimiter(admitted: false))
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter] == "3")
            #expect(response.headers[.contentType] == "application/problem+json")
        }
        #expect(edge.committer.calls.withLockedValue { $0 } == 0)
    }

    @Test func anAdmittedCallbackCarriesRateLimitHeaders() async throws {
        try await send(Edge(limiter: FakeLimiter(admitted: true)), .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("RateLimit-Policy")!] != nil)
        }
    }

    @Test func aVerifiedCallbackWithoutAnEventIDIs422() async throws {
        let body = Array(#"{"type":"payment_intent.succeeded"}"#.utf8)
        let signed = WebhookSigner(provider: .stripe, secret: Secret(Self.secrets[.stripe]!)).sign(body: body, timestamp: Int64(Date().timeIntervalSince1970), id: "")
        try await send(Edge(), .stripe, signed) { response in
            #expect(response.status == .unprocessableContent)
        }
    }

    @Test func anEventInFlightIs409RetryAfterOne() async throws {
        let edge = Edge(claims: .inFlight)
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .conflict)
            #expect(response.headers[.retryAfter] == "1")
        }
        #expect(edge.committer.calls.withLockedValue { $0 } == 0)
    }

    @Test func anEventRedisKnowsAsDoneIsADuplicateWithoutPostgres() async throws {
        let edge = Edge(claims: .allDone)
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("Tollgate-Duplicate")!] == "true")
            #expect(String(buffer: response.body) == #"{"received":true,"duplicate":true}"#)
        }
        #expect(edge.committer.calls.withLockedValue { $0 } == 0)
    }

    @Test func anEventPostgresAlreadyHoldsIsADuplicate() async throws {
        let edge = Edge(committer: FakeCommitter(.outcome(.duplicate)))
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("Tollgate-Duplicate")!] == "true")
        }
    }

    @Test func aFailedCommitIs503AndReleasesTheClaim() async throws {
        let edge = Edge(committer: FakeCommitter(.throwWhole))
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "5")
        }
        #expect(edge.claims.released == ["evt_pipeline_1"])
        #expect(edge.claims.done.isEmpty)
    }

    @Test func aPartlyFailedBatchIs503AndReleasesOnlyTheFailedEvents() async throws {
        // An Adyen batch of two items: the first commits, the second fails.
        let items = (1...2).map { index in
            #"{"NotificationRequestItem":{"pspReference":"PSP\#(index)","merchantAccountCode":"M","merchantReference":"ord_\#(index)","amount":{"value":1999,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true","eventDate":"2026-11-25T10:00:00+01:00"}}"#
        }
        let body = Array(#"{"live":"false","notificationItems":[\#(items.joined(separator: ","))]}"#.utf8)
        let signed = WebhookSigner(provider: .adyen, secret: Secret(Self.secrets[.adyen]!)).sign(body: body, timestamp: 0, id: "")
        let edge = Edge(committer: FakeCommitter(.outcome(.recorded(.applied)), .fail))
        try await send(edge, .adyen, signed) { response in
            #expect(response.status == .serviceUnavailable)
        }
        #expect(edge.claims.released == ["PSP2:AUTHORISATION:true"])
        #expect(edge.claims.done == ["PSP1:AUTHORISATION:true"], "the committed sibling is done, not in flight for 30 s")
    }

    @Test func aBodyOverTheLimitIs413BeforeVerification() async throws {
        var edge = Edge()
        edge.bodyLimit = 64
        try await send(edge, .stripe, Self.callback(.stripe)) { response in
            #expect(response.status == .contentTooLarge)
            #expect(response.headers[.contentType] == "application/problem+json")
        }
        #expect(edge.committer.calls.withLockedValue { $0 } == 0)
    }
}

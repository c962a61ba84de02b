import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TollgateConfig
import TollgateCore
import TollgateTestSupport

/// The webhook path end to end: TLS edge, verification, Redis dedup, Postgres commit.
@Suite(.serialized) struct WebhookIngressTests {
    static let acmeSecret = "whsec_acme_test_secret_1"
    static let globexSecret = "whsec_globex_test_secret_2"

    static let tenants = TenantCatalog(sources: [
        WebhookSource(tenant: "acme", name: "stripe", provider: .stripe, secrets: [Secret(acmeSecret)]),
        WebhookSource(tenant: "globex", name: "stripe", provider: .stripe, secrets: [Secret(globexSecret)]),
        WebhookSource(tenant: "acme", name: "xsolla", provider: .xsolla, secrets: [Secret("xsolla-secret")]),
        WebhookSource(tenant: "acme", name: "adyen", provider: .adyen, secrets: [Secret(String(repeating: "AB", count: 32))]),
    ])

    static func stripeBody(event: String, order: String, type: String = "payment_intent.succeeded", amount: Int = 1999) -> String {
        #"{"id":"\#(event)","type":"\#(type)","created":1764000000,"data":{"object":{"id":"pi_\#(event)","amount":\#(amount),"currency":"usd","metadata":{"order_id":"\#(order)"}}}}"#
    }

    /// `Stripe-Signature` as Stripe computes it (the scheme itself is checked against SDK vectors).
    static func stripeSignature(_ body: String, secret: String, at time: Int = Int(Date().timeIntervalSince1970)) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(time).\(body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(time),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    static func unique(_ prefix: String) -> String { prefix + UUID().uuidString.prefix(12).lowercased() }

    func seed(_ tenant: String, _ orders: [String]) async throws {
        for order in orders {
            let result = try await ChildProcess.run("/usr/bin/psql", [TestEnvironment.postgresURL, "-q", "-c",
                "INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES ('\(tenant)', '\(order)', 'pending_payment', 1999, 'USD')"])
            #expect(result.status == 0, "\(result.output)")
        }
    }

    func sql(_ query: String) async throws -> String {
        try await ChildProcess.run("/usr/bin/psql", [TestEnvironment.postgresURL, "-tAc", query]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func post(_ client: HTTPClient, _ url: String, body: String, headers: [(String, String)]) async throws -> (HTTPClientResponse, String) {
        try await client.fetch(url, method: .POST, headers: headers + [("Content-Type", "application/json")], body: .bytes(ByteBuffer(string: body)))
    }

    @Test func genuineEventPaysTheOrderItsResendIsADuplicateAndAForgeryChangesNothing() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            let order = Self.unique("ord_"), event = Self.unique("evt_")
            try await seed("acme", [order])
            let body = Self.stripeBody(event: event, order: order)
            let url = edge.edge + "/v1/webhooks/acme/stripe"
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let (first, firstBody) = try await post(client, url, body: body, headers: [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret))])
                #expect(first.status == .ok, "\(firstBody)")
                #expect(first.headers["tollgate-duplicate"].isEmpty)
                #expect(try await sql("SELECT status FROM orders WHERE tenant = 'acme' AND order_id = '\(order)'") == "paid")

                let (again, _) = try await post(client, url, body: body, headers: [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret))])
                #expect(again.status == .ok)
                #expect(again.headers["tollgate-duplicate"].first == "true")

                // Same body, forged signature; then a forged refund for the same order.
                let (forged, forgedBody) = try await post(client, url, body: body, headers: [("Stripe-Signature", Self.stripeSignature(body, secret: "whsec_guess"))])
                #expect(forged.status == .unauthorized)
                #expect(try jsonObject(forgedBody)["type"] as? String == "urn:tollgate:problem:unauthorized")
                #expect(!forgedBody.contains("signature_mismatch"), "the precise reason stays in logs and metrics")
                let refund = Self.stripeBody(event: Self.unique("evt_"), order: order, type: "charge.refunded")
                let (forgedRefund, _) = try await post(client, url, body: refund, headers: [("Stripe-Signature", Self.stripeSignature(refund, secret: "whsec_guess"))])
                #expect(forgedRefund.status == .unauthorized)

                // Stale timestamp and truncated body.
                let (stale, _) = try await post(client, url, body: body, headers: [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret, at: 1_700_000_000))])
                #expect(stale.status == .unauthorized)
                let (truncated, _) = try await post(client, url, body: String(body.dropLast(5)), headers: [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret))])
                #expect(truncated.status == .unauthorized)
            }
            #expect(try await sql("SELECT count(*) FROM order_transitions WHERE tenant = 'acme' AND order_id = '\(order)'") == "1")
            #expect(try await sql("SELECT status FROM orders WHERE tenant = 'acme' AND order_id = '\(order)'") == "paid")
        }
    }

    @Test func otherTenantsSecretIsRejectedAndUnknownRoutesAre404() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            let body = Self.stripeBody(event: Self.unique("evt_"), order: Self.unique("ord_"))
            let signedForAcme = [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret))]
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let (crossTenant, _) = try await post(client, edge.edge + "/v1/webhooks/globex/stripe", body: body, headers: signedForAcme)
                #expect(crossTenant.status == .unauthorized)
                let (noTenant, noTenantBody) = try await post(client, edge.edge + "/v1/webhooks/nobody/stripe", body: body, headers: signedForAcme)
                #expect(noTenant.status == .notFound)
                #expect(try jsonObject(noTenantBody)["type"] as? String == "urn:tollgate:problem:not-found")
                let (noSource, _) = try await post(client, edge.edge + "/v1/webhooks/acme/paypal", body: body, headers: signedForAcme)
                #expect(noSource.status == .notFound)
            }
        }
    }

    @Test func providerSpecificAnswers() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let xsolla = #"{"notification_type":"payment","transaction":{"id":\#(Int.random(in: 1...1_000_000_000)),"external_id":"ord_none"},"purchase":{"total":{"currency":"USD","amount":19.99}}}"#
                var hasher = Insecure.SHA1()
                hasher.update(data: Array(xsolla.utf8) + Array("xsolla-secret".utf8))
                let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
                let (ok, _) = try await post(client, edge.edge + "/v1/webhooks/acme/xsolla", body: xsolla, headers: [("Authorization", "Signature \(digest)")])
                #expect(ok.status == .noContent)
                let (bad, badBody) = try await post(client, edge.edge + "/v1/webhooks/acme/xsolla", body: xsolla, headers: [("Authorization", "Signature " + String(repeating: "0", count: 40))])
                #expect(bad.status == .badRequest)
                let error = try #require(try jsonObject(badBody)["error"] as? [String: String])
                #expect(error["code"] == "INVALID_SIGNATURE")

                let key = SymmetricKey(data: Array(repeating: 0xAB, count: 32))
                let psp = String(Int.random(in: 1_000_000...9_999_999))
                let signing = "\(psp)::TestMerchant:ord_none:1000:EUR:AUTHORISATION:true"
                let hmac = Data(HMAC<SHA256>.authenticationCode(for: Array(signing.utf8), using: key)).base64EncodedString()
                let adyen = #"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"\#(psp)","merchantAccountCode":"TestMerchant","merchantReference":"ord_none","amount":{"value":1000,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true","additionalData":{"hmacSignature":"\#(hmac)"}}}]}"#
                let (accepted, acceptedBody) = try await post(client, edge.edge + "/v1/webhooks/acme/adyen", body: adyen, headers: [])
                #expect(accepted.status == .ok)
                #expect(acceptedBody == "[accepted]")
            }
            // The event for an order that does not exist yet is stored as pending, not dropped.
            #expect(try await sql("SELECT outcome FROM payment_events WHERE tenant = 'acme' AND source = 'adyen' ORDER BY id DESC LIMIT 1") == "pending")
        }
    }

    /// Adyen may deliver one notification item twice in a batch: the second must not find the
    /// first's in-flight claim (its own) and answer 409 to every retry.
    @Test func anAdyenBatchWithTheSameItemTwiceIsAcceptedAndStoredOnce() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            let key = SymmetricKey(data: Array(repeating: 0xAB, count: 32))
            let psp = String(Int.random(in: 1_000_000...9_999_999))
            let signing = "\(psp)::TestMerchant:ord_none:1000:EUR:AUTHORISATION:true"
            let hmac = Data(HMAC<SHA256>.authenticationCode(for: Array(signing.utf8), using: key)).base64EncodedString()
            let item = #"{"NotificationRequestItem":{"pspReference":"\#(psp)","merchantAccountCode":"TestMerchant","merchantReference":"ord_none","amount":{"value":1000,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true","additionalData":{"hmacSignature":"\#(hmac)"}}}"#
            let batch = #"{"live":"false","notificationItems":[\#(item),\#(item)]}"#
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                for attempt in 1...2 {
                    let (response, body) = try await post(client, edge.edge + "/v1/webhooks/acme/adyen", body: batch, headers: [])
                    #expect(response.status == .ok && body == "[accepted]", "attempt \(attempt): \(response.status) \(body)")
                }
            }
            #expect(try await sql("SELECT count(*) FROM payment_events WHERE tenant = 'acme' AND source = 'adyen' AND provider_event_id LIKE '\(psp):%'") == "1")
        }
    }

    /// A row held elsewhere (an operator's open transaction) delays only its own order's callbacks:
    /// Postgres's lock_timeout fails that order's commit, the batch is redone event by event, the
    /// other order commits in time; the stuck one answers 503 and lands exactly once on retry.
    @Test func aRowLockedElsewhereDelaysOnlyItsOwnCallbacks() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            let locked = Self.unique("ord_"), free = Self.unique("ord_")
            try await seed("acme", [locked, free])
            let holder = ChildProcess("/usr/bin/psql", [TestEnvironment.postgresURL, "-q", "-c",
                "BEGIN; SELECT 1 FROM orders WHERE tenant = 'acme' AND order_id = '\(locked)' FOR UPDATE; SELECT pg_sleep(4); COMMIT;"])
            try holder.start()
            try await TestEnvironment.waitUntil(timeout: .seconds(5)) {
                try await sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(4)%' AND state = 'active' AND pid <> pg_backend_pid()") == "1"
            }
            let url = edge.edge + "/v1/webhooks/acme/stripe"
            let lockedBody = Self.stripeBody(event: Self.unique("evt_"), order: locked), freeBody = Self.stripeBody(event: Self.unique("evt_"), order: free)
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let started = ContinuousClock.now
                async let stuck = post(client, url, body: lockedBody, headers: [("Stripe-Signature", Self.stripeSignature(lockedBody, secret: Self.acmeSecret))])
                async let flowing = post(client, url, body: freeBody, headers: [("Stripe-Signature", Self.stripeSignature(freeBody, secret: Self.acmeSecret))])
                let (freeResponse, freeText) = try await flowing
                #expect(freeResponse.status == .ok, "\(freeText)")
                let (stuckResponse, _) = try await stuck
                let waited = ContinuousClock.now - started
                #expect(stuckResponse.status == .serviceUnavailable, "the locked order's callback is retried, not stalled")
                #expect(waited < .seconds(3), "both answered within the commit deadline, not after the 4 s lock: \(waited)")
                #expect(try await sql("SELECT status FROM orders WHERE tenant = 'acme' AND order_id = '\(free)'") == "paid")

                _ = try await holder.waitForExit(timeout: .seconds(10))
                let (retried, retriedText) = try await post(client, url, body: lockedBody, headers: [("Stripe-Signature", Self.stripeSignature(lockedBody, secret: Self.acmeSecret))])
                #expect(retried.status == .ok, "\(retriedText)")
            }
            #expect(try await sql("SELECT status FROM orders WHERE tenant = 'acme' AND order_id = '\(locked)'") == "paid")
            #expect(try await sql("SELECT count(*) FROM order_transitions WHERE tenant = 'acme' AND order_id = '\(locked)'") == "1")
        }
    }

    @Test func twoHundredConcurrentDeliveriesOfOneEventMakeOneTransitionAndNo5xx() async throws {
        let certificates = try await TestCertificates.make()
        // The harness's 1 s commit deadline is for the tests of deadlines. Here 200 requests open the
        // pool at once on a loaded 2-core CI machine; a 503 at the deadline would be right, but this
        // test is about deduplication, so the deadline is out of its way.
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants, configure: { $0.webhooks.commitTimeout = .seconds(15) }) { edge in
            let order = Self.unique("ord_"), event = Self.unique("evt_")
            try await seed("acme", [order])
            let body = Self.stripeBody(event: event, order: order)
            let signature = Self.stripeSignature(body, secret: Self.acmeSecret)
            // Several clients, so the deliveries arrive over several connections (HTTP/1.1 and h2).
            let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
                for clientIndex in 0..<4 {
                    group.addTask {
                        try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: clientIndex % 2 == 0 ? .http1Only : .automatic) { client in
                            try await withThrowingTaskGroup(of: UInt.self) { inner in
                                for _ in 0..<50 {
                                    inner.addTask {
                                        try await post(client, edge.edge + "/v1/webhooks/acme/stripe", body: body, headers: [("Stripe-Signature", signature)]).0.status.code
                                    }
                                }
                                var codes: [UInt] = []
                                for try await code in inner { codes.append(code) }
                                return codes
                            }
                        }
                    }
                }
                var all: [UInt] = []
                for try await codes in group { all += codes }
                return all
            }
            #expect(statuses.count == 200)
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 409 }, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
            #expect(statuses.contains(200))
            #expect(try await sql("SELECT count(*) FROM order_transitions WHERE tenant = 'acme' AND order_id = '\(order)'") == "1")
            #expect(try await sql("SELECT count(*) FROM payment_events WHERE tenant = 'acme' AND provider_event_id = '\(event)'") == "1")
        }
    }

    @Test func redisStoppedMidStreamLosesNothingAndAppliesNothingTwice() async throws {
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url, tenants: Self.tenants) { edge in
            let orders = (0..<30).map { _ in Self.unique("ord_") }
            try await seed("acme", orders)
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                for (index, order) in orders.enumerated() {
                    if index == 10 { try await redis.stop() }
                    if index == 20 { try await redis.start() }
                    let body = Self.stripeBody(event: "evt_" + order, order: order)
                    // Each event is delivered twice, like a provider that did not see the first answer.
                    for _ in 0..<2 {
                        let (response, text) = try await post(client, edge.edge + "/v1/webhooks/acme/stripe", body: body,
                                                              headers: [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret))])
                        #expect(response.status == .ok, "\(text)")
                    }
                }
            }
            let list = orders.map { "'\($0)'" }.joined(separator: ",")
            #expect(try await sql("SELECT count(*) FROM orders WHERE tenant = 'acme' AND status = 'paid' AND order_id IN (\(list))") == "30")
            #expect(try await sql("SELECT count(*) FROM order_transitions WHERE tenant = 'acme' AND order_id IN (\(list))") == "30")
        }
        try await redis.stop()
    }

    @Test func postgresStoppedAnswers503AndRetriesApplyExactlyOnce() async throws {
        let certificates = try await TestCertificates.make()
        let target = try #require(URLComponents(string: TestEnvironment.postgresURL))
        let proxy = TCPProxy(upstreamHost: target.host ?? "127.0.0.1", upstreamPort: target.port ?? 5432)
        try await proxy.start()
        var viaProxy = target
        viaProxy.port = proxy.port
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants, postgresURL: viaProxy.string!) { edge in
            let orders = (0..<5).map { _ in Self.unique("ord_") }
            try await seed("acme", orders)
            let deliveries = orders.map { order in Self.stripeBody(event: "evt_" + order, order: order) }
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                func deliver(_ body: String) async throws -> HTTPClientResponse {
                    try await post(client, edge.edge + "/v1/webhooks/acme/stripe", body: body,
                                   headers: [("Stripe-Signature", Self.stripeSignature(body, secret: Self.acmeSecret))]).0
                }
                // Warm: one event goes through while Postgres is reachable.
                #expect(try await deliver(deliveries[0]).status == .ok)

                await proxy.stop()
                for body in deliveries.dropFirst() {
                    let response = try await deliver(body)
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers["retry-after"].first != nil)
                }

                try await proxy.start()
                // The provider retries every event (including the one already committed) until 2xx.
                for body in deliveries {
                    var status: HTTPResponseStatus = .serviceUnavailable
                    for _ in 0..<40 where status != .ok {
                        status = try await deliver(body).status
                        if status != .ok { try await Task.sleep(for: .milliseconds(250)) }
                    }
                    #expect(status == .ok)
                }
            }
            let list = orders.map { "'\($0)'" }.joined(separator: ",")
            #expect(try await sql("SELECT count(*) FROM orders WHERE tenant = 'acme' AND status = 'paid' AND order_id IN (\(list))") == "5")
            #expect(try await sql("SELECT count(*) FROM order_transitions WHERE tenant = 'acme' AND order_id IN (\(list))") == "5")
        }
        await proxy.stop()
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TollgateConfig
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures
import TollgateTestSupport

/// Per provider, the whole life of an order through the running edge (TLS, verification, Redis
/// dedup, Postgres): pay -> partial refund -> refund -> dispute -> outcome, each callback shaped
/// as the provider's real sample (``ProviderLifecycle``), the order's status checked after each.
@Suite(.serialized) struct ProviderLifecycleEdgeTests {
    static let tenant = "life"
    static let secrets: [Provider: String] = [
        .stripe: "whsec_life_stripe", .standardWebhooks: "whsec_c21va2Utc3RhbmRhcmQta2V5", .adyen: String(repeating: "4A", count: 32),
        .paddle: "pdl_ntfset_life", .xsolla: "xsolla-life-secret", .checkout: "cko-life-key",
    ]

    static let tenants = TenantCatalog(sources: ProviderLifecycle.providers.filter { $0 != .apple && $0 != .paypal }.map {
        WebhookSource(tenant: tenant, name: $0.rawValue, provider: $0, secrets: [Secret(secrets[$0]!)])
    } + [
        // Apple: certificate-signed; trusts the development chain the lifecycle is signed with.
        WebhookSource(tenant: tenant, name: Provider.apple.rawValue, provider: .apple, secrets: [], apple: AppleSourceSettings(
            verifier: try! AppleSignedDataVerifier(rootCertificates: [ProviderLifecycle.appleIdentity.rootDER],
                                                   bundleID: ProviderLifecycle.appleBundleID, environment: ProviderLifecycle.appleEnvironment))),

        // Google Play: trusts the test key (Google's role) for the test subscription and app.
        WebhookSource(tenant: tenant, name: Provider.googlePlay.rawValue, provider: .googlePlay, secrets: [], google: GooglePlaySourceSettings(
            verifier: ProviderLifecycle.googleVerifier(), packageNames: [ProviderLifecycle.googlePackage])),

        // PayPal: trusts the test identity's root (PayPal's role), which is also what its certificate URL serves.
        WebhookSource(tenant: tenant, name: Provider.paypal.rawValue, provider: .paypal, secrets: [],
                      paypal: PayPalSourceSettings(verifier: ProviderLifecycle.paypalVerifier(), sandbox: false)),

        // A second endpoint for the same Stripe account (an endpoint migration): shares dedup.
        WebhookSource(tenant: tenant, name: "stripe-new", provider: .stripe, account: "stripe", secrets: [Secret(secrets[.stripe]!)]),
    ])

    func sql(_ query: String) async throws -> String {
        try await ChildProcess.run("/usr/bin/psql", [TestEnvironment.postgresURL, "-tAc", query]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func deliver(_ client: HTTPClient, _ edge: EdgeHarness.Running, source: String, provider: Provider, _ callback: LifecycleCallback) async throws -> HTTPClientResponse {
        // Apple's lifecycle bodies are signed already, as the App Store sends them.
        let now = Int64(Date().timeIntervalSince1970)
        let signed = switch provider {
        case .apple: WebhookSigner.SignedCallback(headers: [], body: callback.body)
        case .paypal: ProviderLifecycle.paypalSigner.sign(body: callback.body, timestamp: now, id: callback.id)
        default: WebhookSigner(provider: provider, secret: Secret(Self.secrets[provider]!)).sign(body: callback.body, timestamp: now, id: callback.id)
        }
        let (response, text) = try await client.fetch(edge.edge + "/v1/webhooks/\(Self.tenant)/\(source)", method: .POST,
                                                      headers: signed.headers.map { ($0.name, $0.value) } + [("Content-Type", "application/json")],
                                                      body: .bytes(ByteBuffer(bytes: signed.body)))
        #expect((200..<300).contains(Int(response.status.code)), "\(provider) \(callback.label): \(response.status) \(text)")
        return response
    }

    @Test func everyProvidersLifecycleThroughTheEdge() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                for provider in ProviderLifecycle.providers {
                    let run = UUID().uuidString.prefix(8).lowercased()
                    // StoreKit's appAccountToken is a UUID: an order sold through the App Store has one as its id.
                    let order = provider == .apple ? UUID().uuidString.lowercased() : "ord_\(provider.rawValue)_\(run)"
                    _ = try await sql("INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES ('\(Self.tenant)', '\(order)', 'pending_payment', \(ProviderLifecycle.amountMinor), 'USD')")
                    let callbacks = try ProviderLifecycle.callbacks(provider, order: order, payment: "\(provider.rawValue.prefix(3))\(run)")
                    for callback in callbacks {
                        _ = try await deliver(client, edge, source: provider.rawValue, provider: provider, callback)
                        let status = try await sql("SELECT status FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'")
                        #expect(status == callback.expected.rawValue, "\(provider) after \(callback.label)")
                    }
                    // A redelivery of the partial refund changes nothing.
                    let again = try await deliver(client, edge, source: provider.rawValue, provider: provider, callbacks[1])
                    #expect(again.headers["tollgate-duplicate"].first == "true", "\(provider)")
                    #expect(try await sql("SELECT refunded_minor FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "\(ProviderLifecycle.amountMinor)")
                    // Every callback was applied: none waits, none was ignored.
                    let outcomes = try await sql("SELECT string_agg(DISTINCT outcome, ',') FROM payment_events WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'")
                    #expect(outcomes == "applied", "\(provider)")
                }
            }
        }
    }

    /// A refund that arrives before the payment it refunds (no order reference, only the payment's)
    /// waits, and the payment applies it; the same refund through a second endpoint of the same
    /// account is a duplicate.
    @Test func aRefundBeforeItsPaymentWaitsForTheLinkAndASecondEndpointOfTheAccountIsADuplicate() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let run = UUID().uuidString.prefix(8).lowercased()
                let order = "ord_early_\(run)"
                _ = try await sql("INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES ('\(Self.tenant)', '\(order)', 'pending_payment', \(ProviderLifecycle.amountMinor), 'USD')")
                let callbacks = try ProviderLifecycle.callbacks(.stripe, order: order, payment: "early\(run)")
                _ = try await deliver(client, edge, source: "stripe", provider: .stripe, callbacks[1])
                #expect(try await sql("SELECT outcome FROM payment_events WHERE tenant = '\(Self.tenant)' AND provider_event_id = '\(callbacks[1].id)'") == "pending")
                _ = try await deliver(client, edge, source: "stripe", provider: .stripe, callbacks[0])
                #expect(try await sql("SELECT status FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "partially_refunded")
                #expect(try await sql("SELECT order_id FROM payment_events WHERE tenant = '\(Self.tenant)' AND provider_event_id = '\(callbacks[1].id)'") == order)
                let migrated = try await deliver(client, edge, source: "stripe-new", provider: .stripe, callbacks[1])
                #expect(migrated.headers["tollgate-duplicate"].first == "true")
                #expect(try await sql("SELECT refunded_minor FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "\(ProviderLifecycle.partialMinor)")
            }
        }
    }

    /// Apple: a refund, then its reversal (the App Store took the refund back), through the edge;
    /// a notification for another app or under another root is refused and stores nothing.
    @Test func anAppleRefundReversedLeavesTheOrderPaidAndForeignNotificationsAreRefused() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let run = UUID().uuidString.prefix(8).lowercased()
                let order = UUID().uuidString.lowercased(), payment = "20000\(run)"
                _ = try await sql("INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES ('\(Self.tenant)', '\(order)', 'pending_payment', \(ProviderLifecycle.amountMinor), 'USD')")
                for (type, refunded, expected) in [("ONE_TIME_CHARGE", nil, "paid"), ("REFUND", ProviderLifecycle.amountMinor, "refunded"),
                                                   ("REFUND_REVERSED", ProviderLifecycle.amountMinor, "paid")] as [(String, Int64?, String)] {
                    let callback = try ProviderLifecycle.appleNotification(type, order: order, payment: payment, refunded: refunded, .paid)
                    _ = try await deliver(client, edge, source: "apple", provider: .apple, callback)
                    #expect(try await sql("SELECT status FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == expected, "after \(type)")
                }
                #expect(try await sql("SELECT refunded_minor FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "0")

                // Signed by a chain of another root, and signed for another app: 401, nothing stored.
                let stranger = try AppleSigningIdentity.development()
                let notification = try ProviderLifecycle.appleUnsignedNotification("REFUND", order: order, payment: payment, refunded: 100).body
                for (label, body) in [
                    ("another root", AppleSignatureScheme.sign(notification, identity: stranger, bundleID: ProviderLifecycle.appleBundleID,
                                                                environment: ProviderLifecycle.appleEnvironment.rawValue)),
                    ("another app", AppleSignatureScheme.sign(notification, identity: ProviderLifecycle.appleIdentity, bundleID: "com.example.other",
                                                               environment: ProviderLifecycle.appleEnvironment.rawValue)),
                ] {
                    let (response, text) = try await client.fetch(edge.edge + "/v1/webhooks/\(Self.tenant)/apple", method: .POST,
                                                                  headers: [("Content-Type", "application/json")], body: .bytes(ByteBuffer(bytes: body)))
                    #expect(response.status == .unauthorized, "\(label): \(text)")
                    #expect(response.headers["content-type"].first == "application/problem+json", "\(label)")
                }
                #expect(try await sql("SELECT count(*) FROM payment_events WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "3")
            }
        }
    }

    /// Google Play through the edge: Play names the purchase, never our order or its price, so a
    /// purchase and its voiding are acknowledged, stored and wait for a link to an order (alerted
    /// after an hour), neither applied nor "ignored"; a redelivered message is a duplicate; a push
    /// with a token Google did not sign, or for another app, is refused and stores nothing.
    @Test func googlePlayPushesAreStoredWaitingForTheirOrderAndForgeriesAreRefused() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let run = UUID().uuidString.prefix(8).lowercased()
                let signer = WebhookSigner(google: ProviderLifecycle.googleKey, audience: ProviderLifecycle.googleAudience,
                                           email: ProviderLifecycle.googleEmail, packageName: ProviderLifecycle.googlePackage)
                func push(_ kind: PaymentEventKind, id: String, by signer: WebhookSigner) throws -> WebhookSigner.SignedCallback {
                    let callback = ProviderCallback(kind: kind, orderID: "unused", eventID: id, paymentID: "gp\(run)", amountMinor: 0, currency: "USD", occurredAt: Date())
                    return try #require(callback.signed(by: signer))
                }
                func post(_ signed: WebhookSigner.SignedCallback) async throws -> (HTTPClientResponse, String) {
                    try await client.fetch(edge.edge + "/v1/webhooks/\(Self.tenant)/google-play", method: .POST, headers: signed.headers.map { ($0.name, $0.value) },
                                           body: .bytes(ByteBuffer(bytes: signed.body)))
                }
                let purchase = try push(.paymentSucceeded, id: "\(run)-1", by: signer)
                let voided = try push(.refundSucceeded, id: "\(run)-2", by: signer)
                for signed in [purchase, voided] {
                    let (response, text) = try await post(signed)
                    #expect(response.status == .ok, "\(text)")
                }
                let (again, _) = try await post(purchase)
                #expect(again.status == .ok && again.headers["tollgate-duplicate"].first == "true")
                let rows = try await sql("""
                    SELECT string_agg(kind || ' ' || outcome || ' ' || coalesce(order_id, '-'), ',' ORDER BY kind) FROM payment_events
                    WHERE tenant = '\(Self.tenant)' AND provider = 'google-play' AND provider_payment_id = 'gp.gp\(run)'
                    """)
                #expect(rows == "payment.succeeded pending -,refund.succeeded pending -")

                let forged = try push(.paymentSucceeded, id: "\(run)-forged", by: WebhookSigner(
                    google: nil, audience: ProviderLifecycle.googleAudience, email: ProviderLifecycle.googleEmail, packageName: ProviderLifecycle.googlePackage))
                let foreign = try push(.paymentSucceeded, id: "\(run)-foreign", by: WebhookSigner(
                    google: ProviderLifecycle.googleKey, audience: ProviderLifecycle.googleAudience, email: ProviderLifecycle.googleEmail, packageName: "com.someone.else"))
                for (label, signed) in [("forged", forged), ("another app", foreign)] {
                    let (response, text) = try await post(signed)
                    #expect(response.status == .unauthorized, "\(label): \(text)")
                    #expect(response.headers["content-type"].first == "application/problem+json", "\(label)")
                }
                #expect(try await sql("SELECT count(*) FROM payment_events WHERE tenant = '\(Self.tenant)' AND provider_event_id IN ('\(run)-forged', '\(run)-foreign')") == "0")
            }
        }
    }

    /// PayPal through the edge beyond the common lifecycle: PayPal reversing a capture charges the
    /// order back, and the dispute about it resolved for the merchant returns it to paid; a transmission naming a certificate anywhere but PayPal's host, one signed for
    /// another webhook, and one whose body changed after signing are refused and store nothing.
    @Test func aPayPalReversalChargesTheOrderBackAndForeignTransmissionsAreRefused() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, tenants: Self.tenants) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let run = UUID().uuidString.prefix(8).lowercased()
                let order = "ord_pp_\(run)"
                _ = try await sql("INSERT INTO orders (tenant, order_id, status, amount_minor, currency) VALUES ('\(Self.tenant)', '\(order)', 'pending_payment', \(ProviderLifecycle.amountMinor), 'USD')")
                let life = try ProviderLifecycle.callbacks(.paypal, order: order, payment: "rv\(run)")
                _ = try await deliver(client, edge, source: "paypal", provider: .paypal, life[0])
                let payment = try #require(try JSONSerialization.jsonObject(with: Data(life[0].body)) as? [String: Any])
                let capture = try #require((payment["resource"] as? [String: Any])?["id"] as? String)
                let reversal: [String: Any] = [
                    "id": "WH-rv-\(run)", "event_version": "1.0", "create_time": "2026-11-25T10:00:00Z", "resource_type": "refund",
                    "event_type": "PAYMENT.CAPTURE.REVERSED", "summary": "A payment capture was reversed",
                    "resource": ["id": "RV\(capture)", "status": "COMPLETED", "amount": ["currency_code": "USD", "value": "-20.00"],
                                 "links": [["href": "https://api.paypal.com/v2/payments/captures/\(capture)", "rel": "up", "method": "GET"]]],
                ]
                let body = Array(try JSONSerialization.data(withJSONObject: reversal))
                _ = try await deliver(client, edge, source: "paypal", provider: .paypal, LifecycleCallback(label: "reversed", body: body, headers: [:], id: "WH-rv-\(run)", expected: .chargedBack))
                #expect(try await sql("SELECT status FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "charged_back")
                // The dispute about that capture resolved for the merchant: the reversal is undone.
                let resolved: [String: Any] = [
                    "id": "WH-won-\(run)", "event_version": "1.0", "create_time": "2026-11-25T11:00:00Z", "resource_type": "dispute",
                    "event_type": "CUSTOMER.DISPUTE.RESOLVED", "summary": "A dispute was resolved",
                    "resource": ["dispute_id": "PP-D-\(run)", "status": "RESOLVED", "dispute_amount": ["currency_code": "USD", "value": "20.00"],
                                 "disputed_transactions": [["seller_transaction_id": capture]], "dispute_outcome": ["outcome_code": "RESOLVED_SELLER_FAVOUR"]],
                ]
                _ = try await deliver(client, edge, source: "paypal", provider: .paypal, LifecycleCallback(
                    label: "resolved", body: Array(try JSONSerialization.data(withJSONObject: resolved)), headers: [:], id: "WH-won-\(run)", expected: .paid))
                #expect(try await sql("SELECT status FROM orders WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "paid")

                let now = Int64(Date().timeIntervalSince1970)
                let genuine = ProviderLifecycle.paypalSigner.sign(body: life[1].body, timestamp: now, id: "x-\(run)")
                var foreignURL = genuine, otherWebhook = WebhookSigner(paypal: ProviderLifecycle.paypalIdentity, webhookID: "OTHERWEBHOOK", sandbox: false)
                    .sign(body: life[1].body, timestamp: now, id: "y-\(run)"), tampered = genuine
                foreignURL.headers = genuine.headers.map { $0.name == "PAYPAL-CERT-URL" ? ($0.name, "https://paypal.example.com/v1/notifications/certs/CERT-1") : $0 }
                tampered.body = Array(String(decoding: genuine.body, as: UTF8.self).replacingOccurrences(of: "\"5.00\"", with: "\"50.00\"").utf8)
                #expect(tampered.body != genuine.body)
                for (label, signed) in [("a certificate URL off PayPal's host", foreignURL), ("another webhook's id", otherWebhook), ("a changed body", tampered)] {
                    let (response, text) = try await client.fetch(edge.edge + "/v1/webhooks/\(Self.tenant)/paypal", method: .POST,
                                                                  headers: signed.headers.map { ($0.name, $0.value) }, body: .bytes(ByteBuffer(bytes: signed.body)))
                    #expect(response.status == .unauthorized, "\(label): \(text)")
                    #expect(response.headers["content-type"].first == "application/problem+json", "\(label)")
                }
                #expect(try await sql("SELECT count(*) FROM payment_events WHERE tenant = '\(Self.tenant)' AND order_id = '\(order)'") == "3")
            }
        }
    }
}

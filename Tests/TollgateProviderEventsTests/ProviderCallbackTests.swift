import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures
import TollgateTestSupport

/// Every callback we can build, signed, must verify with its provider's scheme and normalize
/// into the event it was built from: otherwise the simulator and the load generator would test
/// the edge with callbacks no provider sends.
@Suite struct ProviderCallbackTests {
    static let secrets: [Provider: String] = [
        .stripe: "whsec_test_roundtrip", .standardWebhooks: "whsec_cm91bmR0cmlwLWtleS1mb3ItdGVzdHM=",
        .adyen: "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", .paddle: "pdl_ntfset_roundtrip",
        .xsolla: "xsolla-roundtrip", .checkout: "cko-roundtrip",
    ]

    static let appleIdentity: AppleSigningIdentity = {
        do { return try AppleSigningIdentity.development() } catch { preconditionFailure("a development chain: \(error)") }
    }()

    struct Case: Sendable, CustomTestStringConvertible {
        let provider: Provider
        let kind: PaymentEventKind
        var testDescription: String { "\(provider.rawValue) \(kind.rawValue)" }
    }

    static let cases = Provider.allCases.flatMap { provider in ProviderCallback.kinds(for: provider).map { Case(provider: provider, kind: $0) } }

    @Test func everyProviderAnnouncesPaymentsAndRefunds() {
        for provider in Provider.allCases {
            #expect(ProviderCallback.kinds(for: provider).contains(.paymentSucceeded))
            #expect(ProviderCallback.kinds(for: provider).contains(.refundSucceeded))
        }
        #expect(ProviderCallback.kinds(for: .stripe).contains(.refundFailed) && ProviderCallback.kinds(for: .adyen).contains(.refundFailed))
        for provider in [Provider.stripe, .adyen] {
            #expect(ProviderCallback.kinds(for: provider).contains(.disputeFundsWithdrawn))
        }
    }

    /// Kinds that move money back: they point at the payment rather than name the order.
    static let moneyBack: Set<PaymentEventKind> = [.refundSucceeded, .refundFailed, .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost]

    /// Signs `callback` as `provider`, checks the signature verifies, and normalizes it.
    static func roundTrip(_ callback: ProviderCallback, _ provider: Provider) async throws -> [PaymentEvent] {
        let signed: WebhookSigner.SignedCallback
        if provider == .apple {
            // Certificate-signed: a development chain signs, a source trusting its root verifies.
            signed = try #require(callback.signed(by: WebhookSigner(apple: appleIdentity, bundleID: "com.example.game", environment: .sandbox)))
            let verifier = try AppleSignedDataVerifier(rootCertificates: [appleIdentity.rootDER], bundleID: "com.example.game", environment: .sandbox)
            try await provider.signatureScheme(secrets: [], apple: verifier).verify(SignedRequest(headers: signed.headers, body: signed.body), now: Date())
        } else if provider == .googlePlay {
            // Token-signed: a test key signs, a source trusting it (Google's role) verifies.
            let signer = WebhookSigner(google: ProviderLifecycle.googleKey, audience: ProviderLifecycle.googleAudience,
                                       email: ProviderLifecycle.googleEmail, packageName: ProviderLifecycle.googlePackage)
            signed = try #require(callback.signed(by: signer))
            try await provider.signatureScheme(secrets: [], google: (ProviderLifecycle.googleVerifier(), [ProviderLifecycle.googlePackage]))
                .verify(SignedRequest(headers: signed.headers, body: signed.body), now: Date())
        } else if provider == .paypal {
            // Certificate-signed: a development chain signs, a source trusting its root verifies.
            signed = try #require(callback.signed(by: ProviderLifecycle.paypalSigner))
            try await provider.signatureScheme(secrets: [], paypal: ProviderLifecycle.paypalVerifier())
                .verify(SignedRequest(headers: signed.headers, body: signed.body), now: Date())
        } else {
            let secret = Secret(secrets[provider]!)
            signed = try #require(callback.signed(by: WebhookSigner(provider: provider, secret: secret)))
            try await provider.signatureScheme(secrets: [secret]).verify(SignedRequest(headers: signed.headers, body: signed.body), now: Date())
        }
        let headers = Dictionary(signed.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        return try PaymentEventNormalizer(tenant: "t", source: "s", provider: provider).normalize(headers: headers, body: signed.body)
    }

    static func callback(_ provider: Provider, _ kind: PaymentEventKind, eventID: String = "evt_rt_1") -> ProviderCallback {
        let currency = provider == .xsolla ? "JPY" : "EUR"
        // Xsolla's transaction ids are digits, and a refund carries its payment's.
        return ProviderCallback(kind: kind, orderID: "ord_rt_1", eventID: provider == .xsolla ? "90000001" : eventID,
                                paymentID: provider == .xsolla ? "70000001" : "pay_rt_1", amountMinor: currency == "JPY" ? 1200 : 1999, currency: currency)
    }

    @Test(arguments: cases)
    func verifiesAndNormalizesBackToItself(_ item: Case) async throws {
        let callback = Self.callback(item.provider, item.kind)
        let events = try await Self.roundTrip(callback, item.provider)
        let event = try #require(events.first)
        #expect(events.count == 1)
        #expect(event.understood)
        #expect(event.kind == item.kind)
        #expect(event.providerEventID == callback.storedEventID(for: item.provider), "the load verifier looks events up by this id")
        if item.provider == .googlePlay {
            // Play names the purchase by its token, never our order or a price.
            #expect(event.orderID == nil && event.amountMinor == nil && event.currency == nil)
            #expect(event.linkReferences.first == "gp.\(callback.paymentID)")
            if item.kind == .refundSucceeded { #expect(event.facts.refundID == callback.refundReference(for: .googlePlay)) }
            return
        }
        // A refund or dispute finds its order through the payment it points at (Stripe's
        // funds_withdrawn names the charge only); an Adyen cancellation too (it has no merchantReference).
        if (item.provider, item.kind) == (.adyen, .disputeWon) {
            // CHARGEBACK_REVERSED has no originalReference (adyen/CHARGEBACK_REVERSED.json): the
            // dispute's pspReference, linked by its earlier stages, and the merchantReference find it.
            #expect(event.linkReferences == [callback.disputeReference(for: .adyen)])
            #expect(event.orderID == "ord_rt_1")
        } else if Self.moneyBack.contains(item.kind) || (item.provider, item.kind) == (.adyen, .paymentCanceled) {
            #expect(!Set(event.linkReferences).isDisjoint(with: [callback.paymentID, "ch_\(callback.paymentID)"]), "\(event.linkReferences)")
        } else {
            #expect(event.orderID == "ord_rt_1")
            #expect(event.linkReferences.contains(callback.paymentID) || item.kind == .checkoutExpired, "a payment links its references to the order")
        }
        // Where the real provider carries no order reference, neither do we.
        let carriesNoOrder: Set<PaymentEventKind> = switch item.provider {
        case .stripe, .paddle: Self.moneyBack
        case .adyen: [.refundSucceeded, .refundFailed, .paymentCanceled]
        default: []
        }
        if carriesNoOrder.contains(item.kind) { #expect(event.orderID == nil) }
        switch item.kind {
        case .refundSucceeded, .refundFailed:
            #expect(event.facts.refundID != nil, "a refund has its own id")
            if item.provider != .xsolla { #expect(event.facts.refundID == callback.refundReference(for: item.provider)) }
        case .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost:
            #expect(event.facts.disputeID == callback.disputeReference(for: item.provider))
        default: break
        }
        // A Stripe Checkout Session carries amount_total, which expiry does not need.
        if item.kind != .checkoutExpired || item.provider != .stripe {
            #expect(event.amountMinor == callback.amountMinor)
            #expect(event.currency == callback.currency)
        }
    }

    @Test func refundAndDisputeBodiesNameNoOrderWhereTheProviderDoesNot() throws {
        for provider in [Provider.stripe, .paddle, .adyen] {
            for kind in ProviderCallback.kinds(for: provider) where Self.moneyBack.contains(kind) {
                let body = String(decoding: try #require(Self.callback(provider, kind).body(for: provider)), as: UTF8.self)
                if provider == .adyen, [.refundSucceeded, .refundFailed].contains(kind) {
                    #expect(body.contains("\"merchantReference\":\"ord_rt_1-refund\""), "the refund's own reference, like the sample")
                } else if provider != .adyen {
                    #expect(!body.contains("ord_rt_1"), "\(provider) \(kind): \(body)")
                }
            }
        }
        let refunded = String(decoding: try #require(ProviderCallback(kind: .refundSucceeded, orderID: "o", eventID: "evt_1", paymentID: "pi_1",
            amountMinor: 500, currency: "USD", refundIsCumulative: true, paymentAmountMinor: 1999).body(for: .stripe)), as: UTF8.self)
        #expect(refunded.contains("\"type\":\"charge.refunded\"") && !refunded.contains("\"refunds\""), "no refunds list since API 2022-11-15")
        #expect(refunded.contains("\"amount\":1999") && refunded.contains("\"amount_refunded\":500"))
    }

    /// Every stage of one order's dispute names the same dispute, so the ledger merges them; a
    /// refund and its failure name the same refund; two refunds are two.
    @Test(arguments: Provider.allCases)
    func disputeStagesShareOneDisputeAndRefundsHaveTheirOwnID(_ provider: Provider) async throws {
        let stages = ProviderCallback.kinds(for: provider).filter { [.disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost].contains($0) }
        var disputes: Set<String?> = []
        for (index, kind) in stages.enumerated() {
            disputes.insert(try await Self.roundTrip(Self.callback(provider, kind, eventID: "evt_stage_\(index)"), provider).first?.facts.disputeID)
        }
        #expect(disputes.count <= 1, "\(disputes)")

        let refunds = ProviderCallback.kinds(for: provider).filter { [.refundSucceeded, .refundFailed].contains($0) }
        var first: Set<String?> = []
        for kind in refunds { first.insert(try await Self.roundTrip(Self.callback(provider, kind, eventID: "evt_r1"), provider).first?.facts.refundID) }
        #expect(first.count == 1, "a refund's failure names the refund")
        // Xsolla, Apple, Google Play: one refund per payment (Apple restates the transaction's
        // refunded share; Play voids the purchase).
        if ![.xsolla, .apple, .googlePlay].contains(provider) {
            let second = try await Self.roundTrip(Self.callback(provider, .refundSucceeded, eventID: "evt_r2"), provider).first
            #expect(second?.facts.refundID != nil && !first.contains(second?.facts.refundID))
        }
    }

    @Test(arguments: Provider.allCases)
    func refundTotalsOnlyWhereTheProviderReportsThem(_ provider: Provider) async throws {
        var callback = Self.callback(provider, .refundSucceeded)
        callback.refundIsCumulative = true
        guard ProviderCallback.reportsRefundTotals(provider) else {
            #expect(callback.body(for: provider) == nil)
            return
        }
        let event = try #require(try await Self.roundTrip(callback, provider).first)
        #expect(event.kind == .refundSucceeded && event.facts.refundIsCumulative)
        #expect(event.amountMinor == callback.amountMinor)
        #expect(!Set(event.linkReferences).isDisjoint(with: [callback.paymentID, "ch_\(callback.paymentID)"]))
    }

    @Test func xsollaAmountsAreExactInMajorUnits() throws {
        for (minor, currency, text) in [(999 as Int64, "USD", "9.99"), (5, "USD", "0.05"), (1200, "JPY", "1200"), (1, "KWD", "0.001")] {
            let callback = ProviderCallback(kind: .paymentSucceeded, orderID: "o", eventID: "1", paymentID: "p", amountMinor: minor, currency: currency)
            let body = String(decoding: try #require(callback.body(for: .xsolla)), as: UTF8.self)
            #expect(body.contains("\"amount\":\(text)}"), "\(body)")
        }
    }

    @Test func unsupportedEventsHaveNoBody() {
        let callback = ProviderCallback(kind: .disputeOpened, orderID: "o", eventID: "1", paymentID: "p", amountMinor: 1, currency: "USD")
        #expect(callback.body(for: .xsolla) == nil)
        #expect(Provider(rawValue: "worldpay") == nil, "an unknown provider cannot be named, so it has no body")
    }
}

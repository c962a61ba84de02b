import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateSignatures

/// Every callback we can build, signed, must verify with its provider's scheme and normalize
/// into the event it was built from: otherwise the simulator and the load generator would test
/// the edge with callbacks no provider sends.
@Suite struct ProviderCallbackTests {
    static let secrets: [Provider: String] = [
        .stripe: "whsec_test_roundtrip", .standardWebhooks: "whsec_cm91bmR0cmlwLWtleS1mb3ItdGVzdHM=",
        .adyen: "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", .paddle: "pdl_ntfset_roundtrip",
        .xsolla: "xsolla-roundtrip", .checkout: "cko-roundtrip",
    ]

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
    }

    @Test(arguments: cases)
    func verifiesAndNormalizesBackToItself(_ item: Case) async throws {
        let currency = item.provider == .xsolla ? "JPY" : "EUR"
        let callback = ProviderCallback(kind: item.kind, orderID: "ord_rt_1", eventID: item.provider == .xsolla ? "90000001" : "evt_rt_1",
                                        paymentID: "pay_rt_1", amountMinor: currency == "JPY" ? 1200 : 1999, currency: currency)
        let secret = Secret(Self.secrets[item.provider]!)
        let signer = WebhookSigner(provider: item.provider, secret: secret)
        let signed = try #require(callback.signed(by: signer))
        try await item.provider.signatureScheme(secrets: [secret]).verify(
            SignedRequest(headers: signed.headers, body: signed.body), now: Date())

        let headers = Dictionary(signed.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        let events = try PaymentEventNormalizer(tenant: "t", source: "s", provider: item.provider).normalize(headers: headers, body: signed.body)
        let event = try #require(events.first)
        #expect(events.count == 1)
        #expect(event.understood)
        #expect(event.kind == item.kind)
        #expect(event.orderID == "ord_rt_1")
        #expect(event.providerEventID == callback.storedEventID(for: item.provider), "the load verifier looks events up by this id")
        // A Stripe Checkout Session carries amount_total, which expiry does not need.
        if item.kind != .checkoutExpired || item.provider != .stripe {
            #expect(event.amountMinor == callback.amountMinor)
            #expect(event.currency == currency)
        }
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
        #expect(Provider(rawValue: "paypal") == nil, "an unknown provider cannot be named, so it has no body")
    }
}

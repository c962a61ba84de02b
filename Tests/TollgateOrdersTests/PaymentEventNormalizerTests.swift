import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateTestSupport

/// Normalization of the valid bodies in the SDK-made fixtures, plus the edge cases.
@Suite struct PaymentEventNormalizerTests {
    /// The first valid case of `provider`'s fixture file: headers (lower-cased) and body.
    func fixture(_ provider: String, named name: String? = nil) throws -> (headers: [String: String], body: [UInt8]) {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/webhooks/\(provider).json")
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try #require(file["cases"] as? [[String: Any]])
        let match = try #require(cases.first { ($0["expect"] as? String) == "ok" && (name == nil || ($0["name"] as? String) == name) })
        let headers = (match["headers"] as? [String: String] ?? [:]).reduce(into: [String: String]()) { $0[$1.key.lowercased()] = $1.value }
        return (headers, Array((match["body"] as? String ?? "").utf8))
    }

    func normalize(_ provider: String, _ headers: [String: String], _ body: [UInt8]) throws -> [PaymentEvent] {
        try PaymentEventNormalizer(tenant: "demo", source: provider, provider: try #require(Provider(rawValue: provider))).normalize(headers: headers, body: body)
    }

    @Test func stripePaymentIntentSucceeded() throws {
        let (headers, body) = try fixture("stripe")
        let event = try #require(try normalize("stripe", headers, body).first)
        #expect(event.providerEventID == "evt_1QxTollgate")
        #expect(event.kind == .paymentSucceeded)
        #expect(event.orderID == "ord_0001")
        #expect(event.providerPaymentID == "pi_3QxTollgate")
        #expect(event.amountMinor == 1999)
        #expect(event.currency == "USD")
        #expect(event.understood)
        #expect(event.rawBody == body)
    }

    @Test func standardWebhooksUsesTheHeaderID() throws {
        let (headers, body) = try fixture("standard-webhooks")
        let event = try #require(try normalize("standard-webhooks", headers, body).first)
        #expect(event.providerEventID == "msg_2Lz7kTollgate")
        #expect(event.kind == .paymentSucceeded)
        #expect(event.orderID == "ord_0002")
        #expect(event.amountMinor == 499)
        #expect(event.currency == "EUR")
    }

    @Test func adyenYieldsOneEventPerItem() throws {
        let (headers, body) = try fixture("adyen", named: "valid batch of two")
        let events = try normalize("adyen", headers, body)
        #expect(events.map(\.providerEventID) == ["7914073381342284:AUTHORISATION:true", "8814073381342285:AUTHORISATION:true"])
        #expect(events.map(\.orderID) == ["TestPayment-1407325143704", "ord_0003"])
        #expect(events.map(\.amountMinor) == [1130, 2500])
        #expect(events.allSatisfy { $0.kind == .paymentSucceeded && $0.currency == "EUR" })
    }

    @Test func adyenSuccessAsTextOrBoolean() throws {
        for success in [#""true""#, "true"] {
            let body = Array(#"{"notificationItems":[{"NotificationRequestItem":{"pspReference":"P1","eventCode":"AUTHORISATION","success":\#(success),"merchantReference":"o","amount":{"value":1,"currency":"EUR"}}}]}"#.utf8)
            let event = try #require(try normalize("adyen", [:], body).first)
            #expect(event.providerEventID == "P1:AUTHORISATION:true")
            #expect(event.kind == .paymentSucceeded)
        }
        let failed = Array(#"{"notificationItems":[{"NotificationRequestItem":{"pspReference":"P2","eventCode":"AUTHORISATION","success":"false"}}]}"#.utf8)
        #expect(try normalize("adyen", [:], failed).first?.kind == .paymentFailed)
    }

    @Test func paddleTransactionCompletedWithStringAmount() throws {
        let (headers, body) = try fixture("paddle")
        let event = try #require(try normalize("paddle", headers, body).first)
        #expect(event.providerEventID == "evt_01hvtollgate")
        #expect(event.kind == .paymentSucceeded)
        #expect(event.orderID == "ord_0005")
        #expect(event.amountMinor == 1500)
        #expect(event.currency == "USD")
    }

    @Test func xsollaMajorUnitsBecomeMinorUnits() throws {
        let (headers, body) = try fixture("xsolla")
        let event = try #require(try normalize("xsolla", headers, body).first)
        #expect(event.providerEventID == "payment:87654321")
        #expect(event.orderID == "ord_0006")
        #expect(event.amountMinor == 999)
        #expect(event.currency == "USD")
    }

    /// A real sandbox capture (Tests/Fixtures/provider-payloads/README.md): identity is
    /// `payment:<transaction.id>`, amounts are major units, and this capture names no order.
    @Test func xsollaRealPaymentCapture() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/provider-payloads/xsolla/payment.json")
        let event = try #require(try normalize("xsolla", [:], Array(Data(contentsOf: url))).first)
        #expect(event.providerEventID == "payment:2103276197")
        #expect(event.kind == .paymentSucceeded)
        #expect(event.amountMinor == 199)
        #expect(event.currency == "USD")
        #expect(event.orderID == nil)
    }

    /// Issue 11: an Xsolla refund carries the transaction id of the payment it cancels. Keyed by
    /// that id alone it was a "duplicate" of the payment: acknowledged and never applied.
    @Test func anXsollaRefundIsNotADuplicateOfThePaymentItCancels() throws {
        func body(_ type: String) -> [UInt8] {
            Array(#"{"notification_type":"\#(type)","transaction":{"id":555001,"external_id":"ord_x"},"purchase":{"total":{"currency":"USD","amount":9.99}}}"#.utf8)
        }
        let payment = try #require(try normalize("xsolla", [:], body("payment")).first)
        let refund = try #require(try normalize("xsolla", [:], body("refund")).first)
        #expect(payment.key != refund.key)
        #expect(refund.kind == .refundSucceeded)
        var tables = EventTables()
        tables.create(OrderKey(tenant: "demo", orderID: "ord_x"), OrderState(status: .pendingPayment, amountMinor: 999, currency: "USD"))
        let plan = tables.plan([payment, refund])
        #expect(plan.results == [.recorded(.applied), .recorded(.applied)])
        #expect(plan.orders[OrderKey(tenant: "demo", orderID: "ord_x")]?.status == .refunded)
    }

    @Test func checkoutPaymentCaptured() throws {
        let (headers, body) = try fixture("checkout")
        let event = try #require(try normalize("checkout", headers, body).first)
        #expect(event.providerEventID == "evt_az5sblvku4ge3dwpztvyizgcau")
        #expect(event.kind == .paymentSucceeded)
        #expect(event.orderID == "ord_0007")
        #expect(event.amountMinor == 6540)
        #expect(event.currency == "GBP")
    }

    @Test func verifiedButUnintelligibleBodyIsKeptAsOther() throws {
        let body = Array(#"{"id":"evt_odd","type":"payment_intent.succeeded","data":"surprise"}"#.utf8)
        let event = try #require(try normalize("stripe", [:], body).first)
        #expect(event.kind == .other)
        #expect(!event.understood)
        #expect(event.providerEventID == "evt_odd")
    }

    @Test func unknownTypeIsOtherButUnderstood() throws {
        let body = Array(#"{"id":"evt_x","type":"customer.created","data":{"object":{"id":"cus_1"}}}"#.utf8)
        let event = try #require(try normalize("stripe", [:], body).first)
        #expect(event.kind == .other)
        #expect(event.understood)
    }

    @Test func noEventIDIsRefused() {
        #expect(throws: NormalizationError.noEventID) { try normalize("stripe", [:], Array("not json".utf8)) }
        #expect(throws: NormalizationError.noEventID) { try normalize("standard-webhooks", [:], Array("{}".utf8)) }
    }

    /// Adyen's platform webhooks (no notificationItems) take their id from `data.id` or `id`. An
    /// empty one (the normalize-adyen fuzzer's find, Fuzz/regressions/normalize-adyen) would make
    /// every such webhook a duplicate of the first; NUL would fail in Postgres.
    @Test func anAdyenPlatformWebhookWithAnEmptyOrControlCharacterIdIsRefused() throws {
        for body in [#"{"id":"","data":{"d":"am_04"}}"#, #"{"data":{"id":""}}"#, #"{"id":"a\u0000b"}"#, #"{"data":{"id":"\u001f"},"id":""}"#] {
            #expect(throws: NormalizationError.noEventID, "\(body)") { try normalize("adyen", [:], Array(body.utf8)) }
        }
        let event = try #require(try normalize("adyen", [:], Array(#"{"id":"","data":{"id":"BLPEVT42"}}"#.utf8)).first)
        #expect(event.providerEventID == "BLPEVT42")
        #expect(event.kind == .other)
    }

    /// `amount_refunded` is the payment's refunded total (API 2022-11-15 dropped the refunds list):
    /// counted as a cumulative fact, so it and the refund.* events for the same refunds count once.
    @Test func stripeChargeRefundedIsTheCumulativeTotalLinkedThroughThePayment() throws {
        let body = Array(#"{"id":"evt_r","type":"charge.refunded","data":{"object":{"id":"ch_1","payment_intent":"pi_1","currency":"usd","amount_refunded":1500,"metadata":{"order_id":"ord_1"},"refunds":{"data":[{"amount":500},{"amount":1000}]}}}}"#.utf8)
        let event = try #require(try normalize("stripe", [:], body).first)
        #expect(event.kind == .refundSucceeded)
        #expect(event.amountMinor == 1500)
        #expect(event.facts.refundIsCumulative)
        #expect(event.linkReferences == ["pi_1", "ch_1"])
    }

    @Test func currencyExponents() {
        #expect(CurrencyExponent.minorUnits(fromMajor: "9.99", currency: "USD") == 999)
        #expect(CurrencyExponent.minorUnits(fromMajor: "10", currency: "usd") == 1000)
        #expect(CurrencyExponent.minorUnits(fromMajor: "1500", currency: "JPY") == 1500)
        #expect(CurrencyExponent.minorUnits(fromMajor: "1.234", currency: "KWD") == 1234)
        #expect(CurrencyExponent.minorUnits(fromMajor: "1.50", currency: "JPY") == nil)
        #expect(CurrencyExponent.minorUnits(fromMajor: "9.999", currency: "USD") == nil)
        #expect(CurrencyExponent.minorUnits(fromMajor: "-1", currency: "USD") == nil)
    }
}

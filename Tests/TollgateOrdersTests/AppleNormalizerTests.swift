import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateTestSupport

/// App Store Server Notifications V2 through the normalizer and the planner: Apple's TEST sample,
/// and the lifecycle samples (``ProviderLifecycle/appleNotification``: Apple's decoded models with
/// ids, prices and revocation replaced, signed by a development chain).
@Suite struct AppleNormalizerTests {
    static let normalizer = PaymentEventNormalizer(tenant: "t", source: "appstore", provider: .apple)

    static func normalize(_ callback: LifecycleCallback) throws -> PaymentEvent {
        let events = try normalizer.normalize(headers: [:], body: callback.body)
        #expect(events.count == 1)
        return try #require(events.first)
    }

    @Test func applesTestNotificationIsStoredAndActsOnNothing() throws {
        let url = ProviderLifecycle.fixtures.appendingPathComponent("apple/TEST.signedPayload.jws.txt")
        let jws = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let event = try #require(try Self.normalizer.normalize(headers: [:], body: Array(#"{"signedPayload":"\#(jws)"}"#.utf8)).first)
        #expect(event.providerEventID == "9ad56bd2-0bc6-42e0-af24-fd996d87a1e6")
        #expect(event.kind == .other && event.understood)
        #expect(event.orderID == nil && event.amountMinor == nil)
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_681_314_324))
    }

    /// StoreKit takes a UUID as appAccountToken and Apple sends it in lower case: an order sold
    /// through the App Store has such an id.
    static let order = "7e3fb20b-4cdb-47cc-936d-99d65f608138"

    @Test func aPaymentNamesItsOrderTransactionAndPriceInMinorUnits() throws {
        let pay = try Self.normalize(try ProviderLifecycle.appleNotification("ONE_TIME_CHARGE", order: Self.order, payment: "2000000011", refunded: nil, .paid))
        #expect(pay.kind == .paymentSucceeded && pay.understood)
        #expect(pay.orderID == Self.order)
        #expect(pay.providerPaymentID == "2000000011" && pay.linkReferences == ["2000000011"])
        #expect(pay.amountMinor == ProviderLifecycle.amountMinor && pay.currency == "USD")
        // Milliunits in a zero- and a three-decimal currency.
        let yen = try Self.normalize(try ProviderLifecycle.appleNotification("ONE_TIME_CHARGE", order: "o", payment: "p", refunded: nil, .paid,
                                                                            currency: "JPY", priceMilliunits: 120_000))
        #expect(yen.amountMinor == 120 && yen.currency == "JPY")
        let dinar = try Self.normalize(try ProviderLifecycle.appleNotification("ONE_TIME_CHARGE", order: "o", payment: "p", refunded: nil, .paid,
                                                                              currency: "KWD", priceMilliunits: 1_250))
        #expect(dinar.amountMinor == 1_250)
        // Apple's sample price: 10990 milliunits of USD is 10.99.
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: 10_990, percentage: 100_000, currency: "USD") == 1_099)
        // A price that is no whole number of cents is not rounded into one: the payment stands
        // with no amount, and the order goes to a human.
        let fractional = try Self.normalize(try ProviderLifecycle.appleNotification("ONE_TIME_CHARGE", order: Self.order, payment: "p", refunded: nil, .paid,
                                                                                    priceMilliunits: 19_985))
        #expect(fractional.kind == .paymentSucceeded && fractional.amountMinor == nil)
        var tables = ProviderLifecycleTests.freshTables()
        tables.write(tables.plan([fractional].map { var event = $0; event.orderID = "ord_1"; return event }))
        #expect(tables.orders[ProviderLifecycleTests.order]?.status == .needsReview)
        #expect(tables.orders[ProviderLifecycleTests.order]?.reviewReasons == [.amountMismatch])
        // An upgrade charges at once.
        let upgrade = try Self.normalize(try ProviderLifecycle.appleNotification("DID_CHANGE_RENEWAL_PREF", order: Self.order, payment: "2000000012",
                                                                                 refunded: nil, .paid, subtype: "UPGRADE"))
        #expect(upgrade.kind == .paymentSucceeded && upgrade.amountMinor == ProviderLifecycle.amountMinor)
        let downgrade = try Self.normalize(try ProviderLifecycle.appleNotification("DID_CHANGE_RENEWAL_PREF", order: Self.order, payment: "2000000012",
                                                                                   refunded: nil, .paid, subtype: "DOWNGRADE"))
        #expect(downgrade.kind == .other && downgrade.understood, "a downgrade takes effect at renewal: no money now")
    }

    @Test func refundsAreTheTransactionsShareRoundedHalfUpAndOverflowIsRefused() {
        let whole: Int64 = 100_000
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: 19_990, percentage: 25_000, currency: "USD") == 500)  // 4.9975 -> 5.00
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: 19_990, percentage: 33_333, currency: "USD") == 666)  // 6.6632... -> 6.66
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: 1_000, percentage: 50_000, currency: "JPY") == 1)     // 0.5 yen -> 1
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: 0, percentage: whole, currency: "USD") == 0)
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: -10, percentage: whole, currency: "USD") == nil)
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: 10, percentage: whole + 1, currency: "USD") == nil)
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: .max, percentage: whole, currency: "USD") == nil, "no trap")
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: .max / whole, percentage: whole, currency: "USD") == nil, "no trap")
        #expect(PaymentEventNormalizer.appleMinorUnits(milliunits: .max / whole, percentage: whole, currency: "JPY") == .max / whole / 1000 + 1)
    }

    @Test func aRefundAndItsReversalNameOneRefundOfTheTransaction() throws {
        let refund = try Self.normalize(try ProviderLifecycle.appleNotification("REFUND", order: Self.order, payment: "2000000011", refunded: 500, .partiallyRefunded))
        #expect(refund.kind == .refundSucceeded && refund.amountMinor == 500)
        #expect(refund.facts.refundID == "refund:2000000011" && !refund.facts.refundIsCumulative)
        #expect(refund.linkReferences == ["2000000011"])
        let reversal = try Self.normalize(try ProviderLifecycle.appleNotification("REFUND_REVERSED", order: Self.order, payment: "2000000011", refunded: 500, .paid))
        #expect(reversal.kind == .refundFailed && reversal.facts.refundID == refund.facts.refundID)
    }

    /// Pay, refund all of it, the refund reversed: the order is paid again with nothing refunded,
    /// in whatever order the three arrive.
    @Test func aReversedRefundLeavesTheOrderPaidInAnyOrder() throws {
        let callbacks = try [
            ProviderLifecycle.appleNotification("ONE_TIME_CHARGE", order: "ord_1", payment: "r1", refunded: nil, .paid),
            ProviderLifecycle.appleNotification("REFUND", order: "ord_1", payment: "r1", refunded: ProviderLifecycle.amountMinor, .refunded),
            ProviderLifecycle.appleNotification("REFUND_REVERSED", order: "ord_1", payment: "r1", refunded: ProviderLifecycle.amountMinor, .paid),
        ]
        let events = try ProviderLifecycleTests.events(.apple, callbacks, source: "appstore")
        var inOrder = ProviderLifecycleTests.freshTables()
        #expect(ProviderLifecycleTests.deliver(events, to: &inOrder) == [.paid, .refunded, .paid])
        #expect(inOrder.orders[ProviderLifecycleTests.order]?.refundedMinor == 0)
        for permutation in events.permutations() {
            var tables = ProviderLifecycleTests.freshTables()
            #expect(ProviderLifecycleTests.deliver(permutation, to: &tables).last == .paid)
            #expect(tables.orders[ProviderLifecycleTests.order]?.refundedMinor == 0)
        }
    }

    @Test func informationalNotificationsAreUnderstoodAndMoveNoMoney() throws {
        for type in ["CONSUMPTION_REQUEST", "REFUND_DECLINED"] {
            let event = try Self.normalize(try ProviderLifecycle.appleNotification(type, order: Self.order, payment: "2000000011", refunded: nil, .paid))
            #expect(event.kind == .other && event.understood, "\(type)")
            #expect(event.orderID == Self.order && event.linkReferences == ["2000000011"], "\(type): kept with its order for a human to see")
            #expect(event.amountMinor == nil)
        }
        // A type Apple may add later: stored, not understood (so counted and visible), never acted on.
        let unknown = try Self.normalize(try ProviderLifecycle.appleNotification("SOMETHING_NEW", order: Self.order, payment: "2000000011", refunded: nil, .paid))
        #expect(unknown.kind == .other && !unknown.understood)
    }

    @Test func moneyThatCannotBeReadGoesToAHumanOrIsNotUnderstood() throws {
        // A payment without a currency: the payment stands, without an amount (a human decides).
        let noCurrency = try Self.normalize(try ProviderLifecycle.appleNotification("ONE_TIME_CHARGE", order: Self.order, payment: "p", refunded: nil, .paid, currency: ""))
        #expect(noCurrency.kind == .paymentSucceeded && noCurrency.amountMinor == nil && noCurrency.currency == nil && noCurrency.orderID == Self.order)
        // A refund share outside 0-100%: stored, not understood (counted), never applied.
        let overShare = try Self.normalize(try ProviderLifecycle.appleNotification("REFUND", order: Self.order, payment: "p", refunded: ProviderLifecycle.amountMinor * 2, .refunded))
        #expect(overShare.kind == .other && !overShare.understood)
    }

    @Test func withoutANotificationUUIDThereIsNothingToDeduplicateOn() {
        for body in [#"{"signedPayload":"a.b.c"}"#, #"{}"#, #"{"signedPayload":"e30.e30.e30"}"#] {
            #expect(throws: NormalizationError.noEventID) { _ = try Self.normalizer.normalize(headers: [:], body: Array(body.utf8)) }
        }
    }
}

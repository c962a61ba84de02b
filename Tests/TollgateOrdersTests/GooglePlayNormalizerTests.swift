import Foundation
import Testing
import TollgateCore
import TollgateOrders
import TollgateTestSupport

/// Google Play real-time developer notifications through the normalizer and the planner. The
/// envelope is Google's documented one (Tests/Fixtures/provider-payloads/google-play); its `data`
/// is replaced by DeveloperNotifications built from the same page's field tables.
@Suite struct GooglePlayNormalizerTests {
    static let normalizer = PaymentEventNormalizer(tenant: "t", source: "play", provider: .googlePlay)

    static func envelope() throws -> [String: Any] { try ProviderLifecycle.sample("google-play/push.envelope.json") }

    /// The documented envelope with `notification` as its data and `messageID` as its id.
    static func push(_ notification: [String: Any], messageID: String = "136969346945") throws -> [UInt8] {
        var envelope = try envelope()
        var message = envelope["message"] as? [String: Any] ?? [:]
        message["data"] = try JSONSerialization.data(withJSONObject: notification).base64EncodedString()
        message["messageId"] = messageID
        envelope["message"] = message
        return Array(try JSONSerialization.data(withJSONObject: envelope))
    }

    static func normalize(_ body: [UInt8]) throws -> PaymentEvent {
        let events = try normalizer.normalize(headers: [:], body: body)
        #expect(events.count == 1)
        return try #require(events.first)
    }

    static let token = "opaque-token-up-to-150-characters.AO-J1OxKyg5x2Kl1"
    static let millis = "1503349566168"

    @Test func googlesDocumentedEnvelopeIsIdentifiedByItsMessageIDAndStoredAsNotUnderstood() throws {
        let body = Array(try JSONSerialization.data(withJSONObject: try Self.envelope()))
        let event = try Self.normalize(body)
        #expect(event.providerEventID == "136969346945")
        // Its data is the documented field list, not a notification.
        #expect(event.kind == .other && !event.understood)
        #expect(event.rawBody == body)
    }

    @Test func aOneTimePurchaseIsAPaymentWithNoOrderAndNoPriceLinkedByItsToken() throws {
        let event = try Self.normalize(try Self.push([
            "version": "1.0", "packageName": "com.some.thing", "eventTimeMillis": Self.millis,
            "oneTimeProductNotification": ["version": "1.0", "notificationType": 1, "purchaseToken": Self.token, "sku": "gems_100"],
        ]))
        #expect(event.kind == .paymentSucceeded && event.understood)
        #expect(event.orderID == nil && event.amountMinor == nil && event.currency == nil)
        #expect(event.providerPaymentID == Self.token && event.linkReferences == [Self.token])
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_503_349_566.168))
    }

    @Test func aCanceledPendingPurchaseIsACancellation() throws {
        let event = try Self.normalize(try Self.push([
            "version": "1.0", "packageName": "com.some.thing", "eventTimeMillis": Self.millis,
            "oneTimeProductNotification": ["version": "1.0", "notificationType": 2, "purchaseToken": Self.token, "sku": "gems_100"],
        ]))
        #expect(event.kind == .paymentCanceled && event.linkReferences == [Self.token])
    }

    @Test func aVoidedPurchaseIsOneRefundNamedByGooglesOrderAndLinkedByTokenAndOrder() throws {
        let event = try Self.normalize(try Self.push([
            "version": "1.0", "packageName": "com.some.thing", "eventTimeMillis": Self.millis,
            "voidedPurchaseNotification": ["purchaseToken": Self.token, "orderId": "GPA.3333-4444-5555-66666", "productType": 2, "refundType": 1],
        ]))
        #expect(event.kind == .refundSucceeded && event.understood)
        #expect(event.facts.refundID == "void:GPA.3333-4444-5555-66666")
        #expect(event.linkReferences == [Self.token, "GPA.3333-4444-5555-66666"])
        #expect(event.amountMinor == nil)
    }

    @Test func subscriptionAndTestNotificationsAreUnderstoodAndMoveNoMoney() throws {
        let subscription = try Self.normalize(try Self.push([
            "version": "1.0", "packageName": "com.some.thing", "eventTimeMillis": Self.millis,
            "subscriptionNotification": ["version": "1.0", "notificationType": 4, "purchaseToken": Self.token, "subscriptionId": "monthly"],
        ]))
        #expect(subscription.kind == .other && subscription.understood && subscription.linkReferences.isEmpty)
        let test = try Self.normalize(try Self.push(["version": "1.0", "packageName": "com.some.thing", "eventTimeMillis": Self.millis, "testNotification": ["version": "1.0"]]))
        #expect(test.kind == .other && test.understood)
    }

    @Test func whatPlayDoesNotDocumentIsStoredAsNotUnderstood() throws {
        let shapes: [[String: Any]] = [
            ["oneTimeProductNotification": ["notificationType": 9, "purchaseToken": Self.token]],   // an unknown type
            ["oneTimeProductNotification": ["notificationType": 1]],                                 // no token
            ["voidedPurchaseNotification": ["purchaseToken": Self.token]],                           // no Google order
            ["subscriptionNotification": ["notificationType": 99, "purchaseToken": Self.token]],
            ["somethingNew": [:]],
        ]
        for shape in shapes {
            let event = try Self.normalize(try Self.push(shape.merging(["packageName": "com.some.thing"]) { $1 }))
            #expect(event.kind == .other && !event.understood, "\(shape)")
        }
        // An event time outside 2000-2100 is no time.
        let late = try Self.normalize(try Self.push(["eventTimeMillis": "99999999999999999", "testNotification": [:]]))
        #expect(late.occurredAt == nil)
    }

    @Test func aPushWithoutAMessageIDCannotBeDeduplicatedAndIsRefused() throws {
        #expect(throws: NormalizationError.noEventID) { try Self.normalizer.normalize(headers: [:], body: Array(#"{"message":{"data":"e30="}}"#.utf8)) }
        #expect(throws: NormalizationError.noEventID) { try Self.normalizer.normalize(headers: [:], body: Array("not json".utf8)) }
        // Pub/Sub also spells it message_id.
        let event = try Self.normalize(Array(#"{"message":{"data":"e30=","message_id":"42"}}"#.utf8))
        #expect(event.providerEventID == "42")
    }

    /// Play names no order: the purchase and its voiding wait for a link to one (alerted after an
    /// hour), neither is "ignored", and a redelivery is the same event.
    @Test func aPurchaseAndItsVoidingWaitForALinkToAnOrder() throws {
        let purchase = try Self.normalize(try Self.push([
            "packageName": "com.some.thing", "oneTimeProductNotification": ["notificationType": 1, "purchaseToken": Self.token, "sku": "gems_100"],
        ], messageID: "m1"))
        let voided = try Self.normalize(try Self.push([
            "packageName": "com.some.thing", "voidedPurchaseNotification": ["purchaseToken": Self.token, "orderId": "GPA.1", "productType": 2, "refundType": 1],
        ], messageID: "m2"))
        var tables = EventTables()
        tables.write(tables.plan([purchase]))
        tables.write(tables.plan([voided]))
        #expect(tables.events.map(\.outcome) == [.pending, .pending])
        #expect(tables.events.allSatisfy { $0.reason?.contains(Self.token) == true }, "\(tables.events.map(\.reason))")
    }
}

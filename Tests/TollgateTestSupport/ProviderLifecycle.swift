import Foundation
import TollgateCore
import TollgateOrders
import TollgateSignatures

/// One order's life as each provider sends it: pay, partial refund, refund of the rest, dispute,
/// dispute lost. Lost after a full refund, the buyer was paid back twice: the order ends in
/// `needs_review` (refund_and_chargeback), with every fact kept. Bodies are the real samples under `Tests/Fixtures/provider-payloads/` with only
/// their ids, references and amounts replaced, so every other field (and the absence of an order
/// reference on refunds and disputes) is the provider's own. Checkout.com and Standard Webhooks
/// have no public samples: their bodies follow the documented shapes (ORDER-LIFECYCLE.md).
public struct LifecycleCallback: Sendable {
    public var label: String
    public var body: [UInt8]
    /// Headers the normalizer reads (the Standard Webhooks message id).
    public var headers: [String: String]
    /// The event id to sign with (Standard Webhooks) and to recognise the step by.
    public var id: String
    /// The order's status once this step (and every earlier one) applied.
    public var expected: OrderStatus

    public init(label: String, body: [UInt8], headers: [String: String], id: String, expected: OrderStatus) {
        (self.label, self.body, self.headers, self.id, self.expected) = (label, body, headers, id, expected)
    }
}

public enum ProviderLifecycle {
    public static let amountMinor: Int64 = 2000
    public static let partialMinor: Int64 = 500

    /// The repository's `Tests/Fixtures/provider-payloads` directory.
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/provider-payloads")

    public static func sample(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw TestSupportError("\(path) is not a JSON object") }
        return object
    }

    /// The providers whose callbacks name an order (or a payment linked to one), so that an
    /// order's whole life can be played: all but Google Play, whose notifications name only the
    /// purchase (its tests are GooglePlay*Tests).
    public static let providers = Provider.allCases.filter { $0 != .googlePlay }

    /// The callbacks of one order's life with `provider`; `payment` makes every id unique.
    public static func callbacks(_ provider: Provider, order: String, payment: String) throws -> [LifecycleCallback] {
        switch provider {
        case .stripe: try stripe(order: order, payment: payment)
        case .adyen: try adyen(order: order, payment: payment)
        case .paddle: try paddle(order: order, payment: payment)
        case .xsolla: try xsolla(order: order, payment: payment)
        case .checkout: checkout(order: order, payment: payment)
        case .paypal: paypal(order: order, payment: payment)
        case .standardWebhooks: standardWebhooks(order: order, payment: payment)
        case .apple: try apple(order: order, payment: payment)
        case .googlePlay: throw TestSupportError("Google Play notifications name no order: there is no order lifecycle to play")
        }
    }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    // MARK: Stripe (lago/rubymock captures)

    static func stripe(order: String, payment: String) throws -> [LifecycleCallback] {
        let (intent, charge, dispute) = ("pi_\(payment)", "ch_\(payment)", "dp_\(payment)")
        func event(_ file: String, _ id: String, _ object: [String: Any], _ expected: OrderStatus) throws -> LifecycleCallback {
            var envelope = try sample("stripe/\(file)")
            envelope["id"] = id
            var data = envelope["data"] as? [String: Any] ?? [:]
            data["object"] = (data["object"] as? [String: Any] ?? [:]).merging(object) { $1 }
            envelope["data"] = data
            return LifecycleCallback(label: file, body: encode(envelope), headers: [:], id: id, expected: expected)
        }
        return [
            try event("payment_intent.succeeded.json", "evt_\(payment)_pay", [
                "id": intent, "amount": amountMinor, "amount_received": amountMinor, "currency": "usd", "latest_charge": charge, "metadata": ["order_id": order],
            ], .paid),
            try event("refund.created.json", "evt_\(payment)_re1", [
                "id": "re_\(payment)_1", "amount": partialMinor, "charge": charge, "payment_intent": intent, "currency": "usd", "status": "succeeded",
            ], .partiallyRefunded),
            try event("charge.refunded.json", "evt_\(payment)_re2", [
                "id": charge, "payment_intent": intent, "amount": amountMinor, "amount_captured": amountMinor, "amount_refunded": amountMinor, "currency": "usd",
            ], .refunded),
            try event("charge.dispute.created.json", "evt_\(payment)_dp", [
                "id": dispute, "charge": charge, "payment_intent": intent, "amount": amountMinor, "currency": "usd",
            ], .disputed),
            try event("charge.dispute.closed.lost.json", "evt_\(payment)_lost", [
                "id": dispute, "charge": charge, "payment_intent": intent, "amount": amountMinor, "currency": "usd", "status": "lost",
            ], .needsReview),
        ]
    }

    // MARK: Apple (app-store-server-library-python models, signed by a development chain)

    /// The chain the Apple lifecycle is signed with; an Apple source trusting its root accepts it.
    public static let appleIdentity: AppleSigningIdentity = {
        do { return try AppleSigningIdentity.development() } catch { preconditionFailure("a development chain: \(error)") }
    }()
    /// The app and environment of Apple's samples.
    /// Google Play: the key tests sign push tokens with (Google's role), the subscription's
    /// audience and service account, and the app; a verifier trusting exactly that key.
    public static let googleKey: GooglePushSigningKey = {
        guard let key = try? GooglePushSigningKey.generate().key else { fatalError("cannot make an RSA key") }
        return key
    }()
    public static let googleAudience = "https://tollgate.test/v1/webhooks/life/google-play"
    public static let googleEmail = "play-push@tollgate-test.iam.gserviceaccount.com"
    public static let googlePackage = "com.tollgate.test"
    public static func googleVerifier(trusting key: GooglePushSigningKey = googleKey) -> GooglePushTokenVerifier {
        let jwks = Array(key.jwks.utf8)
        return GooglePushTokenVerifier(audience: googleAudience, serviceAccountEmail: googleEmail, keys: GoogleSigningKeys(fetch: { jwks }))
    }

    public static let appleBundleID = "com.example"
    public static let appleEnvironment = AppleSignedDataVerifier.Environment.localTesting

    /// Pay, refund a quarter, refund the whole (Apple restates the transaction's refunded share):
    /// the bodies are signed already, as Apple sends them.
    static func apple(order: String, payment: String) throws -> [LifecycleCallback] {
        try [
            appleNotification("ONE_TIME_CHARGE", order: order, payment: payment, refunded: nil, .paid),
            appleNotification("REFUND", order: order, payment: payment, refunded: partialMinor, .partiallyRefunded),
            appleNotification("REFUND", order: order, payment: payment, refunded: amountMinor, .refunded),
        ]
    }

    /// One notification of `type` about transaction `payment` of `order` (2000 minor units of USD),
    /// signed: `refunded` sets the revocation share of the transaction. The id is a UUID made from
    /// `payment` and the step, so the same step is the same notification.
    public static func appleNotification(_ type: String, order: String, payment: String, refunded: Int64?, _ expected: OrderStatus,
                                         currency: String = "USD", priceMilliunits: Int64? = nil, subtype: String? = nil) throws -> LifecycleCallback {
        let (notification, uuid) = try appleUnsignedNotification(type, order: order, payment: payment, refunded: refunded,
                                                                 currency: currency, priceMilliunits: priceMilliunits, subtype: subtype)
        let body = AppleSignatureScheme.sign(notification, identity: appleIdentity, bundleID: appleBundleID, environment: appleEnvironment.rawValue)
        return LifecycleCallback(label: "\(type) \(refunded ?? 0)", body: body, headers: [:], id: uuid, expected: expected)
    }

    /// The same notification before signing (its transaction a JSON object, no bundle or
    /// environment: `AppleSignatureScheme.sign` fills them), and its notificationUUID.
    public static func appleUnsignedNotification(_ type: String, order: String, payment: String, refunded: Int64?,
                                                 currency: String = "USD", priceMilliunits: Int64? = nil, subtype: String? = nil) throws -> (body: [UInt8], uuid: String) {
        var transaction = try sample("apple/signedTransaction.revoked.decoded.json")
        for key in ["revocationDate", "revocationReason", "advancedCommerceInfo", "commitmentInfo", "billingPlanType", "bundleId", "environment"] {
            transaction.removeValue(forKey: key)
        }
        transaction.merge([
            "transactionId": payment, "originalTransactionId": payment, "appAccountToken": order, "type": "Consumable",
            "productId": "com.example.gems", "price": priceMilliunits ?? amountMinor * 10, "currency": currency,
        ]) { $1 }
        if let refunded {
            transaction.merge(["revocationDate": 1_698_148_950_000, "revocationReason": 0,
                               "revocationPercentage": refunded * 100_000 / amountMinor,
                               "revocationType": refunded == amountMinor ? "REFUND_FULL" : "REFUND_PRORATED"]) { $1 }
        }
        var notification = try sample("apple/SUBSCRIBED.INITIAL_BUY.decoded.json")
        notification["subtype"] = subtype
        let uuid = stableUUID("\(payment)|\(type)|\(refunded ?? 0)")
        notification["notificationType"] = type
        notification["notificationUUID"] = uuid
        var data = notification["data"] as? [String: Any] ?? [:]
        for key in ["signedRenewalInfo", "bundleId", "environment"] { data.removeValue(forKey: key) }
        data["signedTransactionInfo"] = transaction
        notification["data"] = data
        return (encode(notification), uuid)
    }

    /// A UUID that is the same for the same text (two FNV-1a hashes), lower case as Apple writes them.
    static func stableUUID(_ text: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            text.utf8.reduce(seed) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        }
        let hex = String(format: "%016llx%016llx", fnv(0xcbf2_9ce4_8422_2325), fnv(0x84_2222_325c_bf29))
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    // MARK: Adyen (adyen-java mocks, OpenAPI examples, lago capture)

    static func adyen(order: String, payment: String) throws -> [LifecycleCallback] {
        func item(_ file: String, _ fields: [String: Any], _ expected: OrderStatus) throws -> LifecycleCallback {
            var envelope = try sample("adyen/\(file)")
            var wrappers = envelope["notificationItems"] as? [[String: Any]] ?? []
            var item = (wrappers.first?["NotificationRequestItem"] as? [String: Any] ?? [:]).merging(fields) { $1 }
            item["amount"] = ["value": fields["value"] ?? amountMinor, "currency": "USD"]
            item.removeValue(forKey: "value")
            if fields["originalReference"] == nil { item.removeValue(forKey: "originalReference") }
            wrappers = [["NotificationRequestItem": item]]
            envelope["notificationItems"] = wrappers
            let id = "\(item["pspReference"]!):\(item["eventCode"]!):true"
            return LifecycleCallback(label: file, body: encode(envelope), headers: [:], id: id, expected: expected)
        }
        return [
            try item("AUTHORISATION.success-true.json", ["pspReference": payment, "merchantReference": order], .paid),
            try item("REFUND.success-true.json", ["pspReference": "\(payment)R1", "originalReference": payment, "merchantReference": "\(order)-refund", "value": partialMinor], .partiallyRefunded),
            try item("REFUND.success-true.json", ["pspReference": "\(payment)R2", "originalReference": payment, "merchantReference": "\(order)-refund-2", "value": amountMinor - partialMinor], .refunded),
            try item("NOTIFICATION_OF_CHARGEBACK.json", ["pspReference": "\(payment)D", "originalReference": payment, "merchantReference": order], .disputed),
            try item("CHARGEBACK.dispute-lost.json", ["pspReference": "\(payment)D", "originalReference": payment, "merchantReference": order], .needsReview),
        ]
    }

    // MARK: Paddle (paddle-python-sdk fragments in an envelope)

    static func paddle(order: String, payment: String) throws -> [LifecycleCallback] {
        let transaction = "txn_\(payment)"
        func event(_ file: String, _ type: String, _ id: String, _ fields: [String: Any], totals: [String: Any], _ expected: OrderStatus) throws -> LifecycleCallback {
            var data = try sample("paddle/\(file)").merging(fields) { $1 }
            if var details = data["details"] as? [String: Any] {
                details["totals"] = (details["totals"] as? [String: Any] ?? [:]).merging(totals) { $1 }
                data["details"] = details
            } else {
                data["totals"] = (data["totals"] as? [String: Any] ?? [:]).merging(totals) { $1 }
            }
            let envelope: [String: Any] = ["event_id": id, "event_type": type, "occurred_at": "2026-11-25T10:00:00.000000Z", "notification_id": "ntf_\(id)", "data": data]
            return LifecycleCallback(label: type, body: encode(envelope), headers: [:], id: id, expected: expected)
        }
        func adjustment(_ n: Int, action: String, total: Int64, _ expected: OrderStatus) throws -> LifecycleCallback {
            try event("adjustment.created.data.json", "adjustment.updated", "evt_\(payment)_adj\(n)",
                      ["id": "adj_\(payment)_\(n)", "action": action, "status": "approved", "transaction_id": transaction, "currency_code": "USD"],
                      totals: ["total": "\(total)", "currency_code": "USD"], expected)
        }
        return [
            try event("transaction.completed.data.json", "transaction.completed", "evt_\(payment)_pay",
                      ["id": transaction, "custom_data": ["order_id": order], "currency_code": "USD"],
                      totals: ["grand_total": "\(amountMinor)", "total": "\(amountMinor)", "currency_code": "USD"], .paid),
            try adjustment(1, action: "refund", total: partialMinor, .partiallyRefunded),
            try adjustment(2, action: "refund", total: amountMinor - partialMinor, .refunded),
            try adjustment(3, action: "chargeback_warning", total: amountMinor, .disputed),
            // Refunded in full and then charged back: the buyer got the money twice.
            try adjustment(4, action: "chargeback", total: amountMinor, .needsReview),
        ]
    }

    // MARK: Xsolla (raw sandbox capture; refunds follow the same shape)

    static func xsolla(order: String, payment: String) throws -> [LifecycleCallback] {
        // Xsolla transaction ids are integers.
        let transaction = Int(payment.unicodeScalars.reduce(UInt64(7)) { ($0 &* 31 &+ UInt64($1.value)) % 900_000_000 }) + 100_000_000
        func event(_ type: String, major: String, _ expected: OrderStatus) throws -> LifecycleCallback {
            var body = try sample("xsolla/payment.json")
            body["notification_type"] = type
            var transactionObject = body["transaction"] as? [String: Any] ?? [:]
            transactionObject["id"] = transaction
            transactionObject["external_id"] = order
            body["transaction"] = transactionObject
            var purchase = body["purchase"] as? [String: Any] ?? [:]
            purchase["total"] = ["currency": "USD", "amount": Decimal(string: major)!]
            body["purchase"] = purchase
            return LifecycleCallback(label: type, body: encode(body), headers: [:], id: "\(type):\(transaction)", expected: expected)
        }
        return [
            try event("payment", major: "20.00", .paid),
            try event("partial_refund", major: "5.00", .partiallyRefunded),
            // A full refund states the whole amount: it counts once beside the partial one.
            try event("refund", major: "20.00", .refunded),
        ]
    }

    // MARK: Checkout.com and Standard Webhooks (documented shapes; no public samples)

    static func checkout(order: String, payment: String) -> [LifecycleCallback] {
        let (paymentID, dispute) = ("pay_\(payment)", "dsp_\(payment)")
        func event(_ type: String, _ n: String, _ data: [String: Any], _ expected: OrderStatus) -> LifecycleCallback {
            let id = "evt_\(payment)_\(n)"
            let body: [String: Any] = ["id": id, "type": type, "version": "1.0.0", "created_on": "2026-11-25T10:00:00Z",
                                       "data": data.merging(["amount": amountMinor, "currency": "USD"]) { old, _ in old }]
            return LifecycleCallback(label: type, body: encode(body), headers: [:], id: id, expected: expected)
        }
        return [
            event("payment_captured", "pay", ["id": paymentID, "action_id": "act_\(payment)_c", "reference": order], .paid),
            event("payment_refunded", "re1", ["id": paymentID, "action_id": "act_\(payment)_r1", "reference": order, "amount": partialMinor], .partiallyRefunded),
            event("payment_refunded", "re2", ["id": paymentID, "action_id": "act_\(payment)_r2", "reference": order, "amount": amountMinor - partialMinor], .refunded),
            event("dispute_received", "dp", ["id": dispute, "payment_id": paymentID, "payment_reference": order], .disputed),
            event("dispute_lost", "lost", ["id": dispute, "payment_id": paymentID, "payment_reference": order], .needsReview),
        ]
    }

    /// PayPal: no public sample (the shared README lists none); the documented REST webhook shapes:
    /// a capture with our order in `custom_id`, refunds pointing at it by their `rel: up` link,
    /// a dispute naming it as `seller_transaction_id`.
    static func paypal(order: String, payment: String) -> [LifecycleCallback] {
        let capture = "CAP\(payment)".uppercased().filter { $0.isLetter || $0.isNumber }, dispute = "PP-D-\(payment)"
        func money(_ minor: Int64) -> [String: Any] { ["currency_code": "USD", "value": String(format: "%lld.%02lld", minor / 100, minor % 100)] }
        let up: [[String: Any]] = [["href": "https://api.paypal.com/v2/payments/captures/\(capture)", "rel": "up", "method": "GET"]]
        func event(_ type: String, _ n: String, _ resourceType: String, _ resource: [String: Any], _ expected: OrderStatus) -> LifecycleCallback {
            let id = "WH-\(payment)-\(n)"
            let body: [String: Any] = ["id": id, "event_version": "1.0", "create_time": "2026-11-25T10:00:00Z", "resource_type": resourceType,
                                       "event_type": type, "summary": type, "resource": resource]
            return LifecycleCallback(label: type, body: encode(body), headers: [:], id: id, expected: expected)
        }
        return [
            event("PAYMENT.CAPTURE.COMPLETED", "pay", "capture", ["id": capture, "status": "COMPLETED", "amount": money(amountMinor), "custom_id": order, "final_capture": true], .paid),
            event("PAYMENT.CAPTURE.REFUNDED", "re1", "refund", ["id": "REF1\(capture)", "status": "COMPLETED", "amount": money(partialMinor), "links": up], .partiallyRefunded),
            event("PAYMENT.CAPTURE.REFUNDED", "re2", "refund", ["id": "REF2\(capture)", "status": "COMPLETED", "amount": money(amountMinor - partialMinor), "links": up], .refunded),
            event("CUSTOMER.DISPUTE.CREATED", "dp", "dispute", ["dispute_id": dispute, "status": "OPEN", "dispute_amount": money(amountMinor),
                                                                "disputed_transactions": [["seller_transaction_id": capture]]], .disputed),
            event("CUSTOMER.DISPUTE.RESOLVED", "lost", "dispute", ["dispute_id": dispute, "status": "RESOLVED", "dispute_amount": money(amountMinor),
                                                                   "disputed_transactions": [["seller_transaction_id": capture]],
                                                                   "dispute_outcome": ["outcome_code": "RESOLVED_BUYER_FAVOUR"]], .needsReview),
        ]
    }

    /// PayPal: the development identity tests sign with (PayPal's role) and the webhook id.
    public static let paypalIdentity: PayPalSigningIdentity = {
        guard let identity = try? PayPalSigningIdentity.development(sandbox: false) else { fatalError("cannot make a PayPal chain") }
        return identity
    }()
    public static let paypalWebhookID = "8PT597110X687430LKGECATA"
    /// A verifier trusting `identity`'s root, served `identity`'s chain for PayPal's certificate URL.
    public static func paypalVerifier(trusting identity: PayPalSigningIdentity = paypalIdentity, serving served: PayPalSigningIdentity? = nil) -> PayPalSignatureVerifier {
        let pem = Array((served ?? identity).certificatesPEM.utf8)
        guard let certificates = try? PayPalCertificates(roots: [identity.rootDER], fetch: { _ in pem }) else { fatalError("unusable root") }
        return PayPalSignatureVerifier(webhookID: paypalWebhookID, certificates: certificates)
    }
    public static var paypalSigner: WebhookSigner { WebhookSigner(paypal: paypalIdentity, webhookID: paypalWebhookID, sandbox: false) }

    static func standardWebhooks(order: String, payment: String) -> [LifecycleCallback] {
        func event(_ kind: PaymentEventKind, _ n: String, _ data: [String: Any], _ expected: OrderStatus) -> LifecycleCallback {
            let id = "msg_\(payment)_\(n)"
            let body: [String: Any] = ["type": kind.rawValue, "timestamp": "2026-11-25T10:00:00Z",
                                       "data": data.merging(["payment_id": payment, "amount": amountMinor, "currency": "USD"]) { old, _ in old }]
            return LifecycleCallback(label: kind.rawValue, body: encode(body), headers: ["webhook-id": id], id: id, expected: expected)
        }
        return [
            event(.paymentSucceeded, "pay", ["order_id": order], .paid),
            event(.refundSucceeded, "re1", ["refund_id": "re_\(payment)_1", "amount": partialMinor], .partiallyRefunded),
            event(.refundSucceeded, "re2", ["refund_id": "re_\(payment)_2", "amount": amountMinor - partialMinor], .refunded),
            event(.disputeOpened, "dp", ["dispute_id": "dp_\(payment)"], .disputed),
            event(.disputeLost, "lost", ["dispute_id": "dp_\(payment)"], .needsReview),
        ]
    }
}

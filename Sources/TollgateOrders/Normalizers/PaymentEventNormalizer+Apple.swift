import Foundation
import TollgateCore

extension PaymentEventNormalizer {
    // Apple (App Store Server Notifications V2): the body is {"signedPayload": JWS}. The scheme has
    // verified the JWS and every JWS inside it before this runs, so the payloads are read here
    // without checking signatures again. Identity: notificationUUID. Our order: the transaction's
    // appAccountToken (the app sets it to the order id at purchase). The payment: transactionId.
    // Prices are in milliunits of the currency (10990 USD = 10.99).
    static let appleKinds: [String: PaymentEventKind] = [
        // A consumable or non-consumable bought; a subscription bought or renewed.
        "ONE_TIME_CHARGE": .paymentSucceeded, "SUBSCRIBED": .paymentSucceeded, "DID_RENEW": .paymentSucceeded,
        // An upgrade charges the customer at once, under a new transaction (subtype UPGRADE).
        "DID_CHANGE_RENEWAL_PREF/UPGRADE": .paymentSucceeded, "OFFER_REDEEMED/UPGRADE": .paymentSucceeded,
        // The App Store refunded the transaction (all of it, or revocationPercentage of it).
        "REFUND": .refundSucceeded,
        // A refund granted earlier was taken back (the customer's dispute of it failed): the money
        // is ours again, as when a refund fails.
        "REFUND_REVERSED": .refundFailed,
    ]

    /// Notifications Apple documents that move no money here: stored, acknowledged, linked to
    /// their order when they name one, never acted on. A refund request (CONSUMPTION_REQUEST) and
    /// its refusal (REFUND_DECLINED) leave the order paid; the refund, if it comes, is a REFUND.
    static let appleInformational: Set<String> = [
        "TEST", "CONSUMPTION_REQUEST", "REFUND_DECLINED", "DID_CHANGE_RENEWAL_PREF", "DID_CHANGE_RENEWAL_STATUS",
        "DID_FAIL_TO_RENEW", "EXPIRED", "GRACE_PERIOD_EXPIRED", "OFFER_REDEEMED", "PRICE_INCREASE", "RENEWAL_EXTENDED",
        "RENEWAL_EXTENSION", "REVOKE", "EXTERNAL_PURCHASE_TOKEN", "METADATA_UPDATE", "MIGRATION", "PRICE_CHANGE", "RESCIND_CONSENT",
    ]

    /// 100% in Apple's `revocationPercentage`, which is in milliunits of a percent.
    static let appleWholeRevocation: Int64 = 100_000

    func apple(_ json: [String: Any]?, _ body: [UInt8]) throws(NormalizationError) -> PaymentEvent {
        guard let notification = Self.jwsPayload(json?["signedPayload"]) else { throw .noEventID }
        guard let uuid = Self.text(notification["notificationUUID"]) else { throw .noEventID }
        let type = Self.text(notification["notificationType"])
        let data = notification["data"] as? [String: Any]
        let transaction = Self.jwsPayload(data?["signedTransactionInfo"])
        let subtype = Self.text(notification["subtype"])
        let kind = type.flatMap { type in Self.appleKinds[type] ?? subtype.flatMap { Self.appleKinds["\(type)/\($0)"] } }
        // Understood: a type that moves money, with the transaction it moves it on; or a documented
        // type that moves none.
        let understood = kind != nil ? transaction != nil : type.map(Self.appleInformational.contains) ?? false
        var result = event(uuid, kind, body, understood: understood)
        // Milliseconds; a date outside 2000-2100 is none (it would not fit a timestamp column).
        if let signed = Self.int(notification["signedDate"]), (946_684_800_000...4_102_444_800_000).contains(signed) {
            result.occurredAt = Date(timeIntervalSince1970: Double(signed) / 1000)
        }
        guard let transaction else { return result }
        result.orderID = Self.text(transaction["appAccountToken"])
        let transactionID = Self.text(transaction["transactionId"])
        result.linkReferences = [transactionID].compactMap { $0 }
        result.providerPaymentID = transactionID
        guard kind != nil, understood else { return result }
        // One refund per transaction: a later REFUND of the same transaction restates it (a larger
        // percentage replaces a smaller), and REFUND_REVERSED names the same refund.
        if result.kind == .refundSucceeded || result.kind == .refundFailed { result.facts.refundID = transactionID.map { "refund:\($0)" } }
        let currency = Self.text(transaction["currency"])
        let price = Self.int(transaction["price"])
        var percentage = Self.appleWholeRevocation
        if result.kind == .refundSucceeded || result.kind == .refundFailed, let stated = transaction["revocationPercentage"] {
            percentage = Self.int(stated).flatMap { (1...Self.appleWholeRevocation).contains($0) ? $0 : nil } ?? -1
        }
        // A payment's price is exact in minor units; a refund's share of it is rounded.
        let exact = result.kind == .paymentSucceeded
        let amount = currency.flatMap { currency in price.flatMap { Self.appleMinorUnits(milliunits: $0, percentage: percentage, currency: currency, exact: exact) } }
        result.currency = currency?.uppercased()
        if result.kind == .paymentSucceeded, amount == nil {
            // Apple took the money; what it says it took cannot be read. The payment stands with
            // no amount, which the ledger hands to a human (amount_mismatch), never to "ignored".
            result.amountMinor = nil
            return result
        }
        result.setAmount(amount, present: true)
        return result
    }

    /// `percentage` (milliunits of a percent) of a price in milliunits, in minor units of
    /// `currency`, rounded half up (a prorated refund rarely lands on a whole cent), or with
    /// `exact` nil unless it is a whole number of minor units. Nil for a negative price or
    /// percentage, or one whose arithmetic would overflow.
    public static func appleMinorUnits(milliunits: Int64, percentage: Int64, currency: String, exact: Bool = false) -> Int64? {
        guard milliunits >= 0, (0...appleWholeRevocation).contains(percentage) else { return nil }
        var scale: Int64 = 1
        for _ in 0..<CurrencyExponent.of(currency) { scale *= 10 }
        // minor = milliunits * percentage * 10^exponent / (1000 * 100000), in checked steps.
        let (share, shareOverflow) = milliunits.multipliedReportingOverflow(by: percentage)
        let (scaled, scaledOverflow) = share.multipliedReportingOverflow(by: scale)
        guard !shareOverflow, !scaledOverflow else { return nil }
        let divisor: Int64 = 1000 * appleWholeRevocation
        if exact { return scaled % divisor == 0 ? scaled / divisor : nil }
        return scaled / divisor + (scaled % divisor * 2 >= divisor ? 1 : 0)
    }

    /// The payload of a JWS the scheme verified, as JSON; nil if `value` is not one.
    static func jwsPayload(_ value: Any?) -> [String: Any]? {
        guard let jws = value as? String else { return nil }
        let parts = jws.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64.decodeURL(utf8: parts[1]) else { return nil }
        return FoundationJSONTree.parse(bytes) as? [String: Any]
    }
}

import Foundation

/// A validated Game Hub order: what `POST /v1/checkout/{tenant}/orders` accepts.
public struct CheckoutOrder: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var sku: String
        public var quantity: Int64
        public var unitAmountMinor: Int64

        public init(sku: String, quantity: Int64, unitAmountMinor: Int64) {
            self.sku = sku
            self.quantity = quantity
            self.unitAmountMinor = unitAmountMinor
        }
    }

    public var playerID: String
    public var items: [Item]
    public var currency: String
    public var country: String?
    public var returnURL: String

    public init(playerID: String, items: [Item], currency: String, country: String?, returnURL: String) {
        self.playerID = playerID
        self.items = items
        self.currency = currency
        self.country = country
        self.returnURL = returnURL
    }

    /// Sum of quantity x unit amount, in minor units.
    public var totalMinor: Int64 { items.reduce(0) { $0 + $1.quantity * $1.unitAmountMinor } }
}

/// One rejected field, named by its JSON path (`items[2].quantity`), for the problem body.
public struct FieldError: Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// Why a checkout body was refused: unparseable (400) or semantically invalid (422).
public enum CheckoutValidationError: Error, Sendable, Equatable {
    case malformed(String)
    case invalid([FieldError])
}

/// Validates checkout bodies. Bounds are generous for real stores and tight for abuse.
public struct CheckoutOrderValidator: Sendable {
    /// The tenant's ceiling on one order's total, in minor units of any currency.
    public var maximumTotalMinor: Int64
    public var maximumItems = 100
    public var maximumQuantity: Int64 = 1000
    public var maximumUnitAmountMinor: Int64 = 100_000_000

    public init(maximumTotalMinor: Int64) {
        self.maximumTotalMinor = maximumTotalMinor
    }

    public func validate(_ body: [UInt8]) throws(CheckoutValidationError) -> CheckoutOrder {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw .malformed("the body must be a JSON object")
        }
        var errors: [FieldError] = []
        func fail(_ field: String, _ message: String) { errors.append(FieldError(field: field, message: message)) }
        let known: Set<String> = ["player_id", "items", "currency", "country", "return_url"]
        for key in object.keys.sorted() where !known.contains(key) { fail(key, "unknown field") }

        let playerID = object["player_id"] as? String ?? ""
        if object["player_id"] == nil { fail("player_id", "required") }
        else if playerID.isEmpty || playerID.count > 128 { fail("player_id", "must be a string of 1 to 128 characters") }

        let currency = object["currency"] as? String ?? ""
        if object["currency"] == nil { fail("currency", "required") }
        else if !ISO4217.codes.contains(currency) { fail("currency", "must be an ISO 4217 code in upper case, like USD") }

        var country: String?
        if let value = object["country"] {
            country = value as? String
            if country == nil || country!.count != 2 || !country!.allSatisfy({ $0.isASCII && $0.isUppercase }) {
                fail("country", "must be an ISO 3166-1 alpha-2 code, like DE")
            }
        }

        let returnURL = object["return_url"] as? String ?? ""
        if object["return_url"] == nil { fail("return_url", "required") }
        else if let url = URL(string: returnURL), url.scheme == "https", url.host != nil, returnURL.count <= 2048 {} else {
            fail("return_url", "must be an https URL of at most 2048 characters")
        }

        var items: [CheckoutOrder.Item] = []
        if object["items"] == nil { fail("items", "required") }
        else if let list = object["items"] as? [Any], !list.isEmpty, list.count <= maximumItems {
            for (index, entry) in list.enumerated() {
                let path = "items[\(index)]"
                guard let item = entry as? [String: Any] else { fail(path, "must be an object"); continue }
                let sku = item["sku"] as? String ?? ""
                if sku.isEmpty || sku.count > 128 { fail("\(path).sku", "must be a string of 1 to 128 characters") }
                let quantity = Self.integer(item["quantity"])
                if quantity == nil || !(1...maximumQuantity).contains(quantity!) { fail("\(path).quantity", "must be an integer from 1 to \(maximumQuantity)") }
                let amount = Self.integer(item["unit_amount_minor"])
                if amount == nil || !(1...maximumUnitAmountMinor).contains(amount!) {
                    fail("\(path).unit_amount_minor", "must be an integer from 1 to \(maximumUnitAmountMinor) (minor units)")
                }
                if let quantity, let amount { items.append(.init(sku: sku, quantity: quantity, unitAmountMinor: amount)) }
            }
        } else {
            fail("items", "must be a list of 1 to \(maximumItems) items")
        }

        if errors.isEmpty {
            let order = CheckoutOrder(playerID: playerID, items: items, currency: currency, country: country, returnURL: returnURL)
            // Each line is bounded, so the sum cannot overflow; it can still exceed the tenant's ceiling.
            if order.totalMinor > maximumTotalMinor { fail("items", "the order total \(order.totalMinor) exceeds this store's maximum \(maximumTotalMinor)") }
            else { return order }
        }
        throw .invalid(errors)
    }

    /// A JSON integer (not a fraction, not a string, not a boolean).
    static func integer(_ value: Any?) -> Int64? {
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 9e15 else { return nil }
        return Int64(double)
    }
}

/// Active ISO 4217 currency codes.
public enum ISO4217 {
    public static let codes: Set<String> = [
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND",
        "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF",
        "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
        "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
        "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
        "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN",
        "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
        "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VES",
        "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
    ]
}

import Foundation
import TollgateCore

/// A validated Game Hub order: what `POST /v1/checkout/{tenant}/orders` accepts. It names what the
/// player wants, never what it costs: the edge prices it from the tenant's catalog.
public struct CheckoutOrder: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var sku: String
        public var quantity: Int64
        /// The unit price the page showed the player, if it sent one: compared with the catalog's
        /// price (409 `price-changed` when they differ), never charged.
        public var shownUnitAmountMinor: Int64?

        public init(sku: String, quantity: Int64, shownUnitAmountMinor: Int64? = nil) {
            self.sku = sku
            self.quantity = quantity
            self.shownUnitAmountMinor = shownUnitAmountMinor
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

/// Validates checkout bodies' shape. Bounds are generous for real stores and tight for abuse; what
/// may be sold, in what quantity and at what price is the catalog's to say (`CheckoutPricing`).
public struct CheckoutOrderValidator: Sendable {
    public var maximumItems = 100
    public var maximumQuantity: Int64 = 1000
    public var maximumUnitAmountMinor: Int64 = 100_000_000

    public init() {}

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
                for key in item.keys.sorted() where !["sku", "quantity", "unit_amount_minor"].contains(key) { fail("\(path).\(key)", "unknown field") }
                // Optional: the price the page showed, only to detect a change.
                var shown: Int64?
                if let value = item["unit_amount_minor"] {
                    shown = Self.integer(value)
                    if shown == nil || !(1...maximumUnitAmountMinor).contains(shown!) {
                        fail("\(path).unit_amount_minor", "must be an integer from 1 to \(maximumUnitAmountMinor) (minor units)")
                    }
                }
                if let quantity { items.append(.init(sku: sku, quantity: quantity, shownUnitAmountMinor: shown)) }
            }
        } else {
            fail("items", "must be a list of 1 to \(maximumItems) items")
        }

        if errors.isEmpty {
            return CheckoutOrder(playerID: playerID, items: items, currency: currency, country: country, returnURL: returnURL)
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

/// What the page asked for on one line: a SKU, a quantity, and optionally the unit price it showed
/// the player (only ever compared, never charged).
public struct RequestedLine: Sendable, Equatable {
    public var sku: String
    public var quantity: Int64
    public var shownUnitAmountMinor: Int64?

    public init(sku: String, quantity: Int64, shownUnitAmountMinor: Int64? = nil) {
        self.sku = sku
        self.quantity = quantity
        self.shownUnitAmountMinor = shownUnitAmountMinor
    }
}

/// One line as the edge priced it.
public struct PricedLine: Sendable, Equatable {
    public var sku: String
    public var title: String
    public var quantity: Int64
    public var unitAmountMinor: Int64
    public var amountMinor: Int64
    /// The item's per-player limit when it has one (checked against the player's orders when stored).
    public var purchaseLimit: Int64?

    public init(sku: String, title: String, quantity: Int64, unitAmountMinor: Int64, amountMinor: Int64, purchaseLimit: Int64? = nil) {
        self.sku = sku
        self.title = title
        self.quantity = quantity
        self.unitAmountMinor = unitAmountMinor
        self.amountMinor = amountMinor
        self.purchaseLimit = purchaseLimit
    }
}

/// An order priced from the catalog in force: the only amount a payment is ever opened for.
public struct PricedOrder: Sendable, Equatable {
    public var lines: [PricedLine]
    public var currency: String
    public var totalMinor: Int64
    /// The hash of the tenant's catalog file the prices came from.
    public var catalogHash: String

    public init(lines: [PricedLine], currency: String, totalMinor: Int64, catalogHash: String) {
        self.lines = lines
        self.currency = currency
        self.totalMinor = totalMinor
        self.catalogHash = catalogHash
    }
}

/// Why an order could not be priced.
public enum PricingRefusal: Error, Sendable, Equatable {
    /// Lines that cannot be sold as asked (422): unknown, inactive, unpriced, too many.
    case unavailable([LineProblem])
    /// Every line can be sold, but a price the page showed is not the price in force (409): the
    /// page refreshes rather than charging the player a surprise amount.
    case priceChanged([CurrentPrice])
    /// The priced total is above the store's ceiling (422).
    case totalTooLarge(totalMinor: Int64?, maximumMinor: Int64)

    public struct LineProblem: Sendable, Equatable {
        public enum Reason: Sendable, Equatable {
            case unknown
            case inactive
            case unpriced
            case quantityAboveMaximum(Int64)
            case duplicate(firstIndex: Int)
        }

        public var index: Int
        public var sku: String
        public var reason: Reason

        public init(index: Int, sku: String, reason: Reason) {
            self.index = index
            self.sku = sku
            self.reason = reason
        }
    }

    public struct CurrentPrice: Sendable, Equatable {
        public var index: Int
        public var sku: String
        public var shownUnitAmountMinor: Int64?
        public var unitAmountMinor: Int64

        public init(index: Int, sku: String, shownUnitAmountMinor: Int64?, unitAmountMinor: Int64) {
            self.index = index
            self.sku = sku
            self.shownUnitAmountMinor = shownUnitAmountMinor
            self.unitAmountMinor = unitAmountMinor
        }
    }
}

/// Prices a checkout from the tenant's catalog. The one place an order's amount is decided.
public enum CheckoutPricing {
    public static func price(_ lines: [RequestedLine], currency: String, country: String?, catalog: ProductCatalog?,
                             maximumTotalMinor: Int64) -> Result<PricedOrder, PricingRefusal> {
        var problems: [PricingRefusal.LineProblem] = []
        var priced: [PricedLine] = []
        var firstIndex: [String: Int] = [:]
        for (index, line) in lines.enumerated() {
            func refuse(_ reason: PricingRefusal.LineProblem.Reason) { problems.append(.init(index: index, sku: line.sku, reason: reason)) }
            // One line per SKU, so a per-order maximum cannot be walked around by splitting lines.
            if let first = firstIndex[line.sku] { refuse(.duplicate(firstIndex: first)); continue }
            firstIndex[line.sku] = index
            guard let item = catalog?.items[line.sku] else { refuse(.unknown); continue }
            guard item.active else { refuse(.inactive); continue }
            guard let unit = item.unitPrice(currency: currency, country: country) else { refuse(.unpriced); continue }
            guard line.quantity <= item.maximumQuantity else { refuse(.quantityAboveMaximum(item.maximumQuantity)); continue }
            let (amount, overflow) = unit.multipliedReportingOverflow(by: line.quantity)
            guard !overflow, line.quantity > 0 else { return .failure(.totalTooLarge(totalMinor: nil, maximumMinor: maximumTotalMinor)) }
            priced.append(PricedLine(sku: item.sku, title: item.title, quantity: line.quantity, unitAmountMinor: unit,
                                     amountMinor: amount, purchaseLimit: item.purchaseLimit))
        }
        if !problems.isEmpty { return .failure(.unavailable(problems)) }

        let shownDiffers = zip(lines, priced).contains { requested, line in
            requested.shownUnitAmountMinor.map { $0 != line.unitAmountMinor } ?? false
        }
        if shownDiffers {
            // The page refreshes every line it shows, not only the ones that moved.
            return .failure(.priceChanged(zip(lines, priced).enumerated().map { index, pair in
                .init(index: index, sku: pair.1.sku, shownUnitAmountMinor: pair.0.shownUnitAmountMinor, unitAmountMinor: pair.1.unitAmountMinor)
            }))
        }

        var total: Int64 = 0
        for line in priced {
            let (sum, overflow) = total.addingReportingOverflow(line.amountMinor)
            guard !overflow else { return .failure(.totalTooLarge(totalMinor: nil, maximumMinor: maximumTotalMinor)) }
            total = sum
        }
        guard total <= maximumTotalMinor else { return .failure(.totalTooLarge(totalMinor: total, maximumMinor: maximumTotalMinor)) }
        return .success(PricedOrder(lines: priced, currency: currency, totalMinor: total, catalogHash: catalog?.contentHash ?? ""))
    }
}

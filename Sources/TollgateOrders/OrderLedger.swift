/// Why an order waits for a human. Raw values are what `orders.review_reasons` stores; each one
/// names money that arrived or left and could not be applied automatically.
public enum ReviewReason: String, Sendable, CaseIterable, Codable, Comparable {
    /// A second successful payment with another payment reference (the player was charged twice).
    case doublePayment = "double_payment"
    /// A payment succeeded on an order that was already canceled or expired.
    case paymentAfterClose = "payment_after_close"
    /// Refunds add up to more than the order was paid.
    case overRefund = "over_refund"
    /// Refunds and a chargeback together returned more than the order was paid.
    case refundAndChargeback = "refund_and_chargeback"
    /// A payment or refund in another currency than the order's.
    case currencyMismatch = "currency_mismatch"
    /// A payment of another amount than the order's (or of no stated amount).
    case amountMismatch = "amount_mismatch"
    /// Two different outcomes reported for the same stage of one dispute (won, then lost).
    case disputeContradicted = "dispute_contradicted"
    /// Amounts that cannot be added without overflowing: never trap, hand it to a human.
    case amountOverflow = "amount_overflow"
    /// Waiting for a human before the ledger existed (migration 0004); its reason was not recorded.
    case legacyReview = "legacy_review"
    /// A refund the provider reported without an amount (a voided Google Play purchase): money
    /// went back, how much only a human can say.
    case unpricedRefund = "unpriced_refund"
    /// The game backend declined to grant what was paid for (a banned player, an item it no
    /// longer sells): the player paid and got nothing, so a human refunds or grants by hand.
    case fulfilmentDeclined = "fulfilment_declined"

    public static func < (lhs: ReviewReason, rhs: ReviewReason) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Everything reported about one dispute. Providers report a dispute in stages (1 inquiry or
/// notification, 2 funds withdrawn, 3 won or lost, 4 a second chargeback or pre-arbitration);
/// the reports are kept as a set, so the same reports in any order give the same record: the
/// latest stage decides, and two outcomes at one stage contradict each other.
public struct DisputeRecord: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable, Comparable {
        /// Inquiry or notification: no money has moved yet.
        case open
        /// The funds were taken back (a chargeback), outcome not known yet.
        case fundsWithdrawn = "funds_withdrawn"
        case won
        case lost

        public static func < (lhs: Outcome, rhs: Outcome) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public struct Report: Sendable, Hashable, Codable {
        public var stage: Int
        public var outcome: Outcome

        public init(stage: Int, outcome: Outcome) {
            self.stage = stage
            self.outcome = outcome
        }
    }

    public var reports: Set<Report>
    /// The disputed amount, the largest any report stated (minor units; 0 when none did).
    public var amountMinor: Int64

    public init(reports: Set<Report>, amountMinor: Int64 = 0) {
        self.reports = reports
        self.amountMinor = amountMinor
    }

    /// Where the dispute stands: the outcome of its latest stage (a loss where that stage
    /// contradicts itself: the money is gone until a human says otherwise).
    public var outcome: Outcome {
        guard let latest = reports.map(\.stage).max() else { return .open }
        let outcomes = Set(reports.filter { $0.stage == latest }.map(\.outcome))
        return outcomes.contains(.lost) ? .lost : outcomes.contains(.fundsWithdrawn) ? .fundsWithdrawn : outcomes.contains(.won) ? .won : .open
    }

    /// True when some stage was reported with two different outcomes.
    public var contradicted: Bool {
        Dictionary(grouping: reports, by: \.stage).values.contains { Set($0.map(\.outcome)).count > 1 }
    }

    /// True while the funds are taken back (withdrawn, or lost).
    public var fundsTaken: Bool { [.fundsWithdrawn, .lost].contains(outcome) }
}

/// The money facts of one order, from which its status after payment and its review reasons are
/// derived.
///
/// Each fact is recorded under its provider identity (payment reference, refund id, dispute id)
/// and merged with commutative rules (sets, maxima), so the same facts delivered in any order give
/// the same ledger, the same status and the same review reasons. This is what makes refunds count
/// once and unordered deliveries converge. The one fact that depends on order by nature is
/// `paidAfterClose` (a payment after its order was canceled or expired; before, the close is
/// stale). Stored as `orders.ledger` (jsonb).
public struct OrderLedger: Sendable, Equatable {
    /// The payment reference that paid the order (Stripe PaymentIntent, Adyen pspReference, ...).
    public var paidBy: String?
    /// What that payment reported: amount and currency (checked against the order's).
    public var paidAmountMinor: Int64?
    public var paidCurrency: String?
    /// The payment arrived after the order was canceled or expired.
    public var paidAfterClose = false
    /// Other successful payments for the same order: money a human must return.
    public var extraPayments: [String: Int64] = [:]
    /// Refunds reported one by one: refund id -> amount in minor units.
    public var refunds: [String: Int64] = [:]
    /// Refunds in another currency than the order's (kept, never added): refund id -> amount.
    public var foreignCurrencyRefunds: [String: Int64] = [:]
    /// Refund ids the provider reported as failed or reversed, with their amount (0 when not
    /// stated): they never count, and they come off a cumulative total that included them.
    public var failedRefunds: [String: Int64] = [:]
    /// Refund ids reported without an amount: counted by no sum, each a reason for review until
    /// the same refund is reported with its amount, or as failed.
    public var unpricedRefunds: Set<String> = []
    /// The highest cumulative refunded total a provider reported (Stripe `amount_refunded`, an
    /// Xsolla full refund). Never goes backwards on an older redelivery.
    public var reportedRefundedTotal: Int64 = 0
    /// Disputes by provider dispute id.
    public var disputes: [String: DisputeRecord] = [:]
    /// The order was in `needs_review` before the ledger existed (migration 0004).
    public var legacyReview = false
    /// Why the game backend declined the grant, as it said (nil: never declined).
    public var fulfilmentDeclined: String?

    /// The id migration 0004 gave a dispute in progress (its real id was never stored); the
    /// first dispute reported afterwards is taken to be it.
    public static let legacyDisputeID = "before-0004"

    public init() {}

    /// The most any report says was refunded: individual refunds (failed ones never count) or
    /// the highest cumulative total as reported, before failures come off it. What the review
    /// checks weigh, so a total already lowered by the provider never hides an over-refund.
    var grossRefundedMinor: Int64? {
        guard let individual = Self.sum(refunds.filter { failedRefunds[$0.key] == nil }.values) else { return nil }
        return max(individual, reportedRefundedTotal)
    }

    /// Refunded minor units: refunds counted once whether reported individually, cumulatively or
    /// both; failed ones never. Nil when a sum overflows.
    public var refundedMinor: Int64? {
        // A failed refund's amount: as its failure stated it, or as the refund itself did.
        guard let individual = Self.sum(refunds.filter { failedRefunds[$0.key] == nil }.values),
              let failed = Self.sum(failedRefunds.map { max($0.value, refunds[$0.key] ?? 0) }) else { return nil }
        return max(individual, max(0, reportedRefundedTotal - failed))
    }

    /// Why a human must look at the order, derived from the facts alone.
    public func reviewReasons(amountMinor: Int64, currency: String) -> Set<ReviewReason> {
        var reasons: Set<ReviewReason> = []
        if paidBy != nil {
            if paidCurrency?.uppercased() != currency.uppercased() {
                reasons.insert(.currencyMismatch)
            } else if paidAmountMinor != amountMinor {
                reasons.insert(.amountMismatch)
            }
        }
        if paidAfterClose { reasons.insert(.paymentAfterClose) }
        if legacyReview { reasons.insert(.legacyReview) }
        if fulfilmentDeclined != nil { reasons.insert(.fulfilmentDeclined) }
        if !extraPayments.isEmpty { reasons.insert(.doublePayment) }
        if foreignCurrencyRefunds.keys.contains(where: { failedRefunds[$0] == nil }) { reasons.insert(.currencyMismatch) }
        if unpricedRefunds.contains(where: { refunds[$0] == nil && failedRefunds[$0] == nil }) { reasons.insert(.unpricedRefund) }
        if disputes.values.contains(where: \.contradicted) { reasons.insert(.disputeContradicted) }
        guard refundedMinor != nil, let refunded = grossRefundedMinor,
              let chargedBack = Self.sum(disputes.values.filter(\.fundsTaken).map(\.amountMinor)) else {
            reasons.insert(.amountOverflow)
            return reasons
        }
        if refunded > amountMinor { reasons.insert(.overRefund) }
        let (returned, overflow) = refunded.addingReportingOverflow(chargedBack)
        if overflow { reasons.insert(.amountOverflow) } else if refunded > 0, chargedBack > 0, returned > amountMinor { reasons.insert(.refundAndChargeback) }
        return reasons
    }

    /// The status a paid order has given these facts (`base` is `paid` or `fulfilled`).
    func status(amountMinor: Int64, currency: String, base: OrderStatus) -> OrderStatus {
        if !reviewReasons(amountMinor: amountMinor, currency: currency).isEmpty { return .needsReview }
        let outcomes = disputes.values.map(\.outcome)
        if outcomes.contains(.lost) || outcomes.contains(.fundsWithdrawn) { return .chargedBack }
        if outcomes.contains(.open) { return .disputed }
        let refunded = refundedMinor ?? 0
        if refunded == 0 { return base }
        return refunded >= amountMinor ? .refunded : .partiallyRefunded
    }

    /// The sum of `amounts`, or nil when it overflows.
    static func sum(_ amounts: some Sequence<Int64>) -> Int64? {
        var total: Int64 = 0
        for amount in amounts {
            let (next, overflow) = total.addingReportingOverflow(amount)
            if overflow { return nil }
            total = next
        }
        return total
    }
}

extension OrderLedger: Codable {
    private enum CodingKeys: String, CodingKey {
        case paidBy, paidAmountMinor, paidCurrency, paidAfterClose, extraPayments, refunds, foreignCurrencyRefunds, failedRefunds,
             unpricedRefunds, reportedRefundedTotal, disputes, legacyReview, fulfilmentDeclined
    }

    /// Tolerant: an order created before the ledger existed stores `{}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        paidBy = try container.decodeIfPresent(String.self, forKey: .paidBy)
        paidAmountMinor = try container.decodeIfPresent(Int64.self, forKey: .paidAmountMinor)
        paidCurrency = try container.decodeIfPresent(String.self, forKey: .paidCurrency)
        paidAfterClose = try container.decodeIfPresent(Bool.self, forKey: .paidAfterClose) ?? false
        extraPayments = try container.decodeIfPresent([String: Int64].self, forKey: .extraPayments) ?? [:]
        refunds = try container.decodeIfPresent([String: Int64].self, forKey: .refunds) ?? [:]
        foreignCurrencyRefunds = try container.decodeIfPresent([String: Int64].self, forKey: .foreignCurrencyRefunds) ?? [:]
        failedRefunds = try container.decodeIfPresent([String: Int64].self, forKey: .failedRefunds) ?? [:]
        unpricedRefunds = try container.decodeIfPresent(Set<String>.self, forKey: .unpricedRefunds) ?? []
        reportedRefundedTotal = try container.decodeIfPresent(Int64.self, forKey: .reportedRefundedTotal) ?? 0
        disputes = try container.decodeIfPresent([String: DisputeRecord].self, forKey: .disputes) ?? [:]
        legacyReview = try container.decodeIfPresent(Bool.self, forKey: .legacyReview) ?? false
        fulfilmentDeclined = try container.decodeIfPresent(String.self, forKey: .fulfilmentDeclined)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(paidBy, forKey: .paidBy)
        try container.encodeIfPresent(paidAmountMinor, forKey: .paidAmountMinor)
        try container.encodeIfPresent(paidCurrency, forKey: .paidCurrency)
        if paidAfterClose { try container.encode(true, forKey: .paidAfterClose) }
        if !extraPayments.isEmpty { try container.encode(extraPayments, forKey: .extraPayments) }
        if !refunds.isEmpty { try container.encode(refunds, forKey: .refunds) }
        if !foreignCurrencyRefunds.isEmpty { try container.encode(foreignCurrencyRefunds, forKey: .foreignCurrencyRefunds) }
        if !failedRefunds.isEmpty { try container.encode(failedRefunds, forKey: .failedRefunds) }
        // Sorted: the same facts always encode to the same bytes.
        if !unpricedRefunds.isEmpty { try container.encode(unpricedRefunds.sorted(), forKey: .unpricedRefunds) }
        if reportedRefundedTotal != 0 { try container.encode(reportedRefundedTotal, forKey: .reportedRefundedTotal) }
        if !disputes.isEmpty { try container.encode(disputes, forKey: .disputes) }
        if legacyReview { try container.encode(true, forKey: .legacyReview) }
        try container.encodeIfPresent(fulfilmentDeclined, forKey: .fulfilmentDeclined)
    }
}

extension DisputeRecord {
    private enum CodingKeys: String, CodingKey { case reports, amountMinor }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reports = try container.decode(Set<Report>.self, forKey: .reports)
        amountMinor = try container.decodeIfPresent(Int64.self, forKey: .amountMinor) ?? 0
    }

    /// Reports sorted, so equal records encode to equal text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reports.sorted { ($0.stage, $0.outcome) < ($1.stage, $1.outcome) }, forKey: .reports)
        if amountMinor != 0 { try container.encode(amountMinor, forKey: .amountMinor) }
    }
}

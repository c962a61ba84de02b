/// Why an order waits for a human. Raw values are what `orders.review_reasons` stores; each one
/// names money that arrived or left and could not be applied automatically.
public enum ReviewReason: String, Sendable, CaseIterable, Codable, Comparable {
    /// A second successful payment with another payment reference (the player was charged twice).
    case doublePayment = "double_payment"
    /// A payment succeeded on an order that was already canceled or expired.
    case paymentAfterClose = "payment_after_close"
    /// Refunds add up to more than the order was paid.
    case overRefund = "over_refund"
    /// A payment or refund in another currency than the order's.
    case currencyMismatch = "currency_mismatch"
    /// A payment of another amount than the order's (or of no stated amount).
    case amountMismatch = "amount_mismatch"
    /// A settled dispute that a later event contradicts (won, then lost at the same stage).
    case disputeContradicted = "dispute_contradicted"
    /// Amounts that cannot be added without overflowing: never trap, hand it to a human.
    case amountOverflow = "amount_overflow"

    public static func < (lhs: ReviewReason, rhs: ReviewReason) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where one dispute stands. Providers report a dispute in stages; a later stage supersedes an
/// earlier one whatever order the deliveries arrive in, and two different outcomes reported for
/// the same stage contradict each other.
public struct DisputeRecord: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// Inquiry or notification: no money has moved yet.
        case open
        /// The funds were taken back (a chargeback), outcome not known yet.
        case fundsWithdrawn = "funds_withdrawn"
        case won
        case lost
    }

    public var stage: Int
    public var outcome: Outcome
    public var contradicted: Bool

    public init(stage: Int, outcome: Outcome, contradicted: Bool = false) {
        self.stage = stage
        self.outcome = outcome
        self.contradicted = contradicted
    }

    /// The record after another report of the same dispute. Commutative: any order of the same
    /// reports gives the same record.
    func merging(_ other: DisputeRecord) -> DisputeRecord {
        if other.stage != stage {
            var later = other.stage > stage ? other : self
            later.contradicted = contradicted || other.contradicted
            return later
        }
        if other.outcome == outcome { return DisputeRecord(stage: stage, outcome: outcome, contradicted: contradicted || other.contradicted) }
        // Same stage, different outcomes. Keep the loss (money is gone until a human says otherwise).
        let kept: Outcome = [outcome, other.outcome].contains(.lost) ? .lost : [outcome, other.outcome].contains(.fundsWithdrawn) ? .fundsWithdrawn : .won
        return DisputeRecord(stage: stage, outcome: kept, contradicted: true)
    }
}

/// The money facts of one order, from which its status after payment is derived.
///
/// Each fact is recorded under its provider identity (payment reference, refund id, dispute id)
/// and merged with commutative rules (sets, maxima, dispute stages), so the same facts delivered
/// in any order give the same ledger: this is what makes refunds count once and unordered
/// deliveries converge. Stored as `orders.ledger` (jsonb).
public struct OrderLedger: Sendable, Equatable, Codable {
    /// The payment reference that paid the order (Stripe PaymentIntent, Adyen pspReference, ...).
    public var paidBy: String?
    /// Other successful payments for the same order: money a human must return.
    public var extraPayments: [String: Int64] = [:]
    /// Refunds reported one by one: refund id -> amount in minor units.
    public var refunds: [String: Int64] = [:]
    /// Refund ids the provider reported as failed or reversed: they never count.
    public var failedRefunds: Set<String> = []
    /// The highest cumulative refunded total a provider reported (Stripe `amount_refunded`, an
    /// Xsolla full refund). Never goes backwards on an older redelivery.
    public var reportedRefundedTotal: Int64 = 0
    /// Disputes by provider dispute id.
    public var disputes: [String: DisputeRecord] = [:]
    public var review: Set<ReviewReason> = []

    public init() {}

    public var isEmpty: Bool { self == OrderLedger() }

    /// Refunded minor units: refunds counted once whether reported individually, cumulatively or
    /// both. Nil when the sum overflows.
    public var refundedMinor: Int64? {
        var sum: Int64 = 0
        for (id, amount) in refunds where !failedRefunds.contains(id) {
            let (next, overflow) = sum.addingReportingOverflow(amount)
            if overflow { return nil }
            sum = next
        }
        return max(sum, reportedRefundedTotal)
    }

    /// The status a paid order has given these facts (`base` is `paid` or `fulfilled`).
    func status(amountMinor: Int64, base: OrderStatus) -> OrderStatus {
        if !review.isEmpty { return .needsReview }
        let outcomes = disputes.values.map(\.outcome)
        if outcomes.contains(.lost) || outcomes.contains(.fundsWithdrawn) { return .chargedBack }
        if outcomes.contains(.open) { return .disputed }
        let refunded = refundedMinor ?? 0
        if refunded == 0 { return base }
        return refunded >= amountMinor ? .refunded : .partiallyRefunded
    }

    /// Adds the review reasons these facts imply (over-refund, contradictions, overflow).
    mutating func flagInconsistencies(amountMinor: Int64) {
        guard let refunded = refundedMinor else {
            review.insert(.amountOverflow)
            return
        }
        if refunded > amountMinor { review.insert(.overRefund) }
        if disputes.values.contains(where: \.contradicted) { review.insert(.disputeContradicted) }
    }
}

extension OrderLedger {
    private enum CodingKeys: String, CodingKey {
        case paidBy, extraPayments, refunds, failedRefunds, reportedRefundedTotal, disputes, review
    }

    /// Tolerant: an order created before the ledger existed stores `{}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        paidBy = try container.decodeIfPresent(String.self, forKey: .paidBy)
        extraPayments = try container.decodeIfPresent([String: Int64].self, forKey: .extraPayments) ?? [:]
        refunds = try container.decodeIfPresent([String: Int64].self, forKey: .refunds) ?? [:]
        failedRefunds = try container.decodeIfPresent(Set<String>.self, forKey: .failedRefunds) ?? []
        reportedRefundedTotal = try container.decodeIfPresent(Int64.self, forKey: .reportedRefundedTotal) ?? 0
        disputes = try container.decodeIfPresent([String: DisputeRecord].self, forKey: .disputes) ?? [:]
        review = try container.decodeIfPresent(Set<ReviewReason>.self, forKey: .review) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(paidBy, forKey: .paidBy)
        if !extraPayments.isEmpty { try container.encode(extraPayments, forKey: .extraPayments) }
        if !refunds.isEmpty { try container.encode(refunds, forKey: .refunds) }
        if !failedRefunds.isEmpty { try container.encode(failedRefunds.sorted(), forKey: .failedRefunds) }
        if reportedRefundedTotal != 0 { try container.encode(reportedRefundedTotal, forKey: .reportedRefundedTotal) }
        if !disputes.isEmpty { try container.encode(disputes, forKey: .disputes) }
        if !review.isEmpty { try container.encode(review.sorted(), forKey: .review) }
    }
}

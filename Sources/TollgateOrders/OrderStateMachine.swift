import TollgateCore

/// Where an order is in its life. Raw values are what the `orders.status` column stores.
public enum OrderStatus: String, Sendable, CaseIterable {
    case created
    case pendingPayment = "pending_payment"
    case authorized
    case paid
    case fulfilled
    case failed
    case canceled
    case expired
    case partiallyRefunded = "partially_refunded"
    case refunded
    case disputed
    case chargedBack = "charged_back"
    case needsReview = "needs_review"

    /// Statuses before any money arrived: money-back events wait (deferred) while an order is here.
    public static let beforePayment: Set<OrderStatus> = [.created, .pendingPayment, .authorized, .failed, .canceled, .expired]
}

/// What a verified provider event means for an order. Raw values are the normalized event kinds.
public enum PaymentEventKind: String, Sendable, CaseIterable {
    case paymentAuthorized = "payment.authorized"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case paymentCanceled = "payment.canceled"
    case checkoutExpired = "checkout.expired"
    /// A refund that moved money: one refund (by refund id) or the payment's cumulative refunded total.
    case refundSucceeded = "refund.succeeded"
    /// A refund reported earlier did not happen after all (Adyen REFUND_FAILED, Stripe refund failed).
    case refundFailed = "refund.failed"
    /// Inquiry or notification of chargeback: no money moved yet.
    case disputeOpened = "dispute.opened"
    /// The funds were taken back; the outcome may still come.
    case disputeFundsWithdrawn = "dispute.funds_withdrawn"
    case disputeWon = "dispute.won"
    case disputeLost = "dispute.lost"
    /// Stored, never acted on.
    case other

    var isMoneyBack: Bool {
        switch self {
        case .refundSucceeded, .refundFailed, .disputeOpened, .disputeFundsWithdrawn, .disputeWon, .disputeLost: true
        default: false
        }
    }

    /// The stage a dispute report stands at unless the provider says more (a second chargeback or
    /// a pre-arbitration outcome is stage 4).
    var defaultDisputeStage: Int {
        switch self {
        case .disputeOpened: 1
        case .disputeFundsWithdrawn: 2
        default: 3
        }
    }
}

/// The money-relevant state of one order, as the state machine needs it.
public struct OrderState: Sendable, Equatable {
    public var status: OrderStatus
    public var amountMinor: Int64
    public var currency: String
    /// Refunded minor units, as derived from the ledger (stored for queries).
    public var refundedMinor: Int64
    public var ledger: OrderLedger

    public init(status: OrderStatus, amountMinor: Int64, currency: String, refundedMinor: Int64 = 0, ledger: OrderLedger = OrderLedger()) {
        self.status = status
        self.amountMinor = amountMinor
        self.currency = currency
        self.refundedMinor = refundedMinor
        self.ledger = ledger
    }
}

/// What an event says beyond its kind and amount: which payment, refund or dispute it is about.
/// Stored with the event (`payment_events.facts`) so a waiting event is evaluated later with
/// everything it arrived with.
public struct EventFacts: Sendable, Equatable, Codable {
    /// The payment this event is (a payment) or points at (a refund, a dispute).
    public var paymentReference: String?
    /// The refund's own identity; refunds with the same id count once.
    public var refundID: String?
    /// True when the amount is the payment's refunded total so far (Stripe `amount_refunded`).
    public var refundIsCumulative: Bool
    public var disputeID: String?
    /// Overrides the kind's default dispute stage (second chargeback, pre-arbitration: 4).
    public var disputeStage: Int?

    public init(paymentReference: String? = nil, refundID: String? = nil, refundIsCumulative: Bool = false, disputeID: String? = nil, disputeStage: Int? = nil) {
        self.paymentReference = paymentReference
        self.refundID = refundID
        self.refundIsCumulative = refundIsCumulative
        self.disputeID = disputeID
        self.disputeStage = disputeStage
    }
}

/// The facts of an event the state machine reads.
public struct OrderEvent: Sendable, Equatable {
    public var kind: PaymentEventKind
    /// Amount in minor units: the payment for a success, the refunded amount (or total) for a refund.
    public var amountMinor: Int64?
    public var currency: String?
    public var facts: EventFacts

    public init(kind: PaymentEventKind, amountMinor: Int64? = nil, currency: String? = nil, facts: EventFacts = EventFacts()) {
        self.kind = kind
        self.amountMinor = amountMinor
        self.currency = currency
        self.facts = facts
    }
}

/// What applying an event to an order decided.
public enum OrderDecision: Sendable, Equatable {
    /// The order moves (or stays, for a partial refund adding up) to `state`.
    case applied(OrderState)
    /// The event does not apply and never will; recorded with the reason, state unchanged.
    case ignored(reason: String)
    /// The event may apply once the order has moved on (a refund that arrived before the
    /// payment it refunds); kept and evaluated again after each applied transition.
    case deferred(reason: String)
}

/// The order life cycle: a transition table for the steps before payment, and a ledger of money
/// facts after it. Pure: values in, decision out. Every money decision about an order is here.
///
/// Before payment an order moves through the table. A successful payment records which payment
/// paid it; from then on refunds and disputes are facts merged into the ``OrderLedger`` and the
/// status is derived from those facts, so the same events in any order end in the same status.
/// Money that cannot apply (a second payment, a payment on a closed order, an over-refund, another
/// currency) moves the order to `needs_review` with a ``ReviewReason``; it is never ignored.
public enum OrderStateMachine {
    /// Legal moves before payment: for each event kind, the statuses it applies from and its target.
    public static let transitions: [PaymentEventKind: (from: Set<OrderStatus>, to: OrderStatus)] = [
        .paymentAuthorized: ([.created, .pendingPayment], .authorized),
        // A customer may retry after a failure, so failed -> paid is legal.
        .paymentSucceeded: ([.created, .pendingPayment, .authorized, .failed], .paid),
        .paymentFailed: ([.created, .pendingPayment, .authorized], .failed),
        .paymentCanceled: ([.created, .pendingPayment, .authorized, .failed], .canceled),
        .checkoutExpired: ([.created, .pendingPayment, .failed], .expired),
    ]

    public static func apply(_ event: OrderEvent, to order: OrderState) -> OrderDecision {
        switch event.kind {
        case .other:
            return .ignored(reason: "event kind other is stored but not acted on")
        case .paymentSucceeded:
            return paymentSucceeded(event, order)
        case let kind where kind.isMoneyBack:
            guard !OrderStatus.beforePayment.contains(order.status) else {
                return .deferred(reason: "\(kind.rawValue) before the order was paid")
            }
            return moneyBack(event, order)
        default:
            guard let rule = transitions[event.kind], rule.from.contains(order.status) else {
                return .ignored(reason: "\(event.kind.rawValue) does not apply to a \(order.status.rawValue) order")
            }
            var next = order
            next.status = rule.to
            return .applied(next)
        }
    }

    private static func paymentSucceeded(_ event: OrderEvent, _ order: OrderState) -> OrderDecision {
        let reference = event.facts.paymentReference
        var ledger = order.ledger
        if !OrderStatus.beforePayment.contains(order.status) {
            // Already paid: the same payment again (under another event id) changes nothing;
            // another payment is money the player paid twice.
            // An order paid before its payment's reference was recorded (migration 0004) has
            // none: any referenced payment is then another one (a human checks).
            guard let reference, reference != ledger.paidBy ?? "", ledger.extraPayments[reference] == nil else {
                return .ignored(reason: "payment \(reference ?? "without reference") already recorded")
            }
            ledger.extraPayments[reference] = event.amountMinor ?? 0
            return .applied(settled(order, ledger))
        }
        ledger.paidBy = reference ?? ""
        ledger.paidAmountMinor = event.amountMinor
        ledger.paidCurrency = event.currency?.uppercased()
        ledger.paidAfterClose = [.canceled, .expired].contains(order.status)
        return .applied(settled(order, ledger))
    }

    private static func moneyBack(_ event: OrderEvent, _ order: OrderState) -> OrderDecision {
        var ledger = order.ledger
        let facts = event.facts
        switch event.kind {
        case .refundSucceeded:
            let id = facts.refundID ?? ""
            guard let amount = event.amountMinor else {
                // Money went back and the provider does not say how much (a voided Play
                // purchase): never "ignored", a human settles it.
                ledger.unpricedRefunds.insert(id)
                break
            }
            guard amount > 0 else { return .ignored(reason: "refund without a positive amount") }
            if let currency = event.currency, currency.uppercased() != order.currency.uppercased() {
                ledger.foreignCurrencyRefunds[id] = max(ledger.foreignCurrencyRefunds[id] ?? 0, amount)
            } else if facts.refundIsCumulative {
                ledger.reportedRefundedTotal = max(ledger.reportedRefundedTotal, amount)
            } else {
                ledger.refunds[id] = max(ledger.refunds[id] ?? 0, amount)
            }
        case .refundFailed:
            let id = facts.refundID ?? ""
            ledger.failedRefunds[id] = max(ledger.failedRefunds[id] ?? 0, event.amountMinor ?? 0)
        default:
            let outcome: DisputeRecord.Outcome = switch event.kind {
            case .disputeOpened: .open
            case .disputeFundsWithdrawn: .fundsWithdrawn
            case .disputeWon: .won
            default: .lost
            }
            var id = facts.disputeID ?? facts.paymentReference ?? ""
            if ledger.disputes[id] == nil, Set(ledger.disputes.keys) == [OrderLedger.legacyDisputeID] { id = OrderLedger.legacyDisputeID }
            var record = ledger.disputes[id] ?? DisputeRecord(reports: [])
            record.reports.insert(.init(stage: facts.disputeStage ?? event.kind.defaultDisputeStage, outcome: outcome))
            record.amountMinor = max(record.amountMinor, event.amountMinor ?? 0)
            ledger.disputes[id] = record
        }
        guard ledger != order.ledger else {
            return .ignored(reason: "\(event.kind.rawValue) already counted")
        }
        return .applied(settled(order, ledger))
    }

    /// The game backend declined to grant what `order` paid for: a fact in its ledger, so the
    /// order waits in `needs_review` (reason `fulfilment_declined`) whatever arrives later, until
    /// a human settles it. Only a paid order can be declined; a second decline changes nothing.
    public static func fulfilmentDeclined(_ order: OrderState, reason: String) -> OrderDecision {
        guard !OrderStatus.beforePayment.contains(order.status) else {
            return .ignored(reason: "fulfilment declined for a \(order.status.rawValue) order")
        }
        guard order.ledger.fulfilmentDeclined == nil else { return .ignored(reason: "fulfilment already declined") }
        var ledger = order.ledger
        // Only storable text: the reason is the game's words, kept in a jsonb ledger.
        let printable = reason.storable(limit: 200)
        ledger.fulfilmentDeclined = printable.isEmpty ? "declined" : printable
        return .applied(settled(order, ledger))
    }

    /// The order with `ledger`, its refunded total and status derived from it.
    static func settled(_ order: OrderState, _ ledger: OrderLedger) -> OrderState {
        var next = order
        next.ledger = ledger
        next.refundedMinor = ledger.refundedMinor ?? order.refundedMinor
        next.status = ledger.status(amountMinor: order.amountMinor, currency: order.currency, base: order.status == .fulfilled ? .fulfilled : .paid)
        return next
    }
}

extension OrderState {
    /// Why a human must look at this order (empty unless it is in `needs_review`).
    public var reviewReasons: Set<ReviewReason> { ledger.reviewReasons(amountMinor: amountMinor, currency: currency) }
}

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
}

/// What a verified provider event means for an order. Raw values are the normalized event kinds.
public enum PaymentEventKind: String, Sendable, CaseIterable {
    case paymentAuthorized = "payment.authorized"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case paymentCanceled = "payment.canceled"
    case refundSucceeded = "refund.succeeded"
    case disputeOpened = "dispute.opened"
    case disputeWon = "dispute.won"
    case disputeLost = "dispute.lost"
    case checkoutExpired = "checkout.expired"
    /// Stored, never acted on.
    case other
}

/// The money-relevant state of one order, as the state machine needs it.
public struct OrderState: Sendable, Equatable {
    public var status: OrderStatus
    public var amountMinor: Int64
    public var currency: String
    /// Sum of applied refunds, in minor units.
    public var refundedMinor: Int64
    /// The status a dispute interrupted; a won dispute returns to it.
    public var statusBeforeDispute: OrderStatus?

    public init(status: OrderStatus, amountMinor: Int64, currency: String, refundedMinor: Int64 = 0, statusBeforeDispute: OrderStatus? = nil) {
        self.status = status
        self.amountMinor = amountMinor
        self.currency = currency
        self.refundedMinor = refundedMinor
        self.statusBeforeDispute = statusBeforeDispute
    }
}

/// The facts of an event the state machine reads.
public struct OrderEvent: Sendable, Equatable {
    public var kind: PaymentEventKind
    /// Amount in minor units: the payment for a success, the refunded amount for a refund.
    public var amountMinor: Int64?
    public var currency: String?

    public init(kind: PaymentEventKind, amountMinor: Int64? = nil, currency: String? = nil) {
        self.kind = kind
        self.amountMinor = amountMinor
        self.currency = currency
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

/// The order life cycle as a transition table, plus the few rules a table cannot hold
/// (amount checks, cumulative refunds, returning from a dispute). Pure: values in, decision out.
public enum OrderStateMachine {
    /// Legal moves: for each event kind, the statuses it applies from and the status it leads to.
    /// Refunds and dispute outcomes have computed targets and are listed with `nil`.
    public static let transitions: [PaymentEventKind: (from: Set<OrderStatus>, to: OrderStatus?)] = [
        .paymentAuthorized: ([.created, .pendingPayment], .authorized),
        // A customer may retry after a failure, so failed -> paid is legal.
        .paymentSucceeded: ([.created, .pendingPayment, .authorized, .failed], .paid),
        .paymentFailed: ([.created, .pendingPayment, .authorized], .failed),
        .paymentCanceled: ([.created, .pendingPayment, .failed], .canceled),
        .checkoutExpired: ([.created, .pendingPayment, .failed], .expired),
        .refundSucceeded: ([.paid, .fulfilled, .partiallyRefunded], nil),
        .disputeOpened: ([.paid, .fulfilled, .partiallyRefunded], .disputed),
        .disputeWon: ([.disputed], nil),
        .disputeLost: ([.disputed], .chargedBack),
    ]

    /// Statuses before any money has moved: money-out events that arrive then are deferred.
    static let prePayment: Set<OrderStatus> = [.created, .pendingPayment, .authorized, .failed]

    public static func apply(_ event: OrderEvent, to order: OrderState) -> OrderDecision {
        guard let rule = transitions[event.kind] else {
            return .ignored(reason: "event kind \(event.kind.rawValue) is stored but not acted on")
        }
        guard rule.from.contains(order.status) else {
            if [.refundSucceeded, .disputeOpened].contains(event.kind), prePayment.contains(order.status) {
                return .deferred(reason: "\(event.kind.rawValue) before the order was paid")
            }
            return .ignored(reason: "\(event.kind.rawValue) does not apply to a \(order.status.rawValue) order")
        }
        var next = order
        switch event.kind {
        case .paymentSucceeded:
            // Paid only on the exact amount and currency; a different or unknown one goes to a human.
            let matches = event.amountMinor == order.amountMinor && event.currency?.uppercased() == order.currency.uppercased()
            next.status = matches ? .paid : .needsReview
        case .refundSucceeded:
            guard let amount = event.amountMinor, amount > 0 else {
                return .ignored(reason: "refund without a positive amount")
            }
            if let currency = event.currency, currency.uppercased() != order.currency.uppercased() {
                next.status = .needsReview
                return .applied(next)
            }
            // Checked: a signed event with an absurd amount must reach a human, never trap the edge.
            let (total, overflow) = order.refundedMinor.addingReportingOverflow(amount)
            guard !overflow else {
                next.status = .needsReview
                return .applied(next)
            }
            next.refundedMinor = total
            next.status = next.refundedMinor >= order.amountMinor ? .refunded : .partiallyRefunded
        case .disputeOpened:
            next.statusBeforeDispute = order.status
            next.status = .disputed
        case .disputeWon:
            next.status = order.statusBeforeDispute ?? .paid
            next.statusBeforeDispute = nil
        default:
            next.status = rule.to!
        }
        return .applied(next)
    }
}

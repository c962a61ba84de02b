import Foundation

/// The order life cycle as a graph of statuses, found by running ``OrderStateMachine``.
///
/// Starting from fresh orders, every representative event (``Probe``) is applied breadth-first to
/// every state reached, states being told apart by status and ledger. Each applied event that
/// changes the status is an edge. Nothing here restates a rule of the state machine, so the
/// drawing (`tollgate orders lifecycle`, docs/ORDER-LIFECYCLE.md) cannot drift from the code.
public struct OrderLifecycleGraph: Sendable, Equatable {
    /// One representative event and the name it has in the drawing.
    public struct Probe: Sendable, Equatable {
        public var label: String
        public var event: OrderEvent
        /// Sent only to orders a payment was recorded for: a second payment is one only after a
        /// first (before it, it is just the payment, under another name).
        public var afterPayment: Bool

        public init(_ label: String, _ event: OrderEvent, afterPayment: Bool = false) {
            self.label = label
            self.event = event
            self.afterPayment = afterPayment
        }
    }

    /// An applied event, from the status it met to the status it left.
    public struct Edge: Hashable, Sendable, CustomStringConvertible {
        public var from: OrderStatus
        public var event: String
        public var to: OrderStatus
        /// The review reasons the event added: why it leads to `needs_review`.
        public var reasons: [ReviewReason]

        public init(_ from: OrderStatus, _ event: String, _ to: OrderStatus, reasons: [ReviewReason] = []) {
            self.from = from
            self.event = event
            self.to = to
            self.reasons = reasons
        }

        /// The event, and the reasons it added in parentheses.
        public var label: String { reasons.isEmpty ? event : "\(event) (\(reasons.map(\.rawValue).joined(separator: ", ")))" }

        public var description: String { "\(from.rawValue) -[\(label)]-> \(to.rawValue)" }
    }

    /// An event met at a status where it did not apply (at least once, in some ledger state).
    public struct Refusal: Hashable, Sendable {
        public var status: OrderStatus
        public var event: String

        public init(status: OrderStatus, event: String) {
            self.status = status
            self.event = event
        }
    }

    /// The statuses exploration starts from.
    public var roots: [OrderStatus]
    /// How many events deep exploration went.
    public var depth: Int
    /// Distinct (status, ledger) states reached.
    public var stateCount: Int
    /// Applied events that changed the status: what is drawn.
    public var edges: [Edge]
    /// Applied events that kept the status (a new fact in the ledger, such as a refund recorded as
    /// failed on a paid order, or anything on an order in review): counted, not drawn.
    public var unchanged: [Edge]
    /// Events the state machine ignored at a status (a duplicate, a late failure): counted, not drawn.
    public var ignored: [Refusal]
    /// Events it kept waiting at a status (money back before the payment): counted, not drawn.
    public var deferred: [Refusal]

    /// Every status the exploration reached, in declaration order.
    public var statuses: [OrderStatus] {
        let reached = Set(roots + edges.flatMap { [$0.from, $0.to] })
        return OrderStatus.allCases.filter(reached.contains)
    }

    /// The order every probe runs against: 19.99 USD, paid by payment `pay_1`.
    public static let amountMinor: Int64 = 1999
    public static let currency = "USD"

    /// One event of each kind of fact the state machine weighs, for one order of 19.99 USD.
    public static let representativeProbes: [Probe] = {
        func payment(_ kind: PaymentEventKind, _ amount: Int64? = amountMinor, _ currency: String = currency, reference: String = "pay_1") -> OrderEvent {
            OrderEvent(kind: kind, amountMinor: amount, currency: currency, facts: EventFacts(paymentReference: reference))
        }
        func refund(_ id: String?, _ amount: Int64?, cumulative: Bool = false, kind: PaymentEventKind = .refundSucceeded) -> OrderEvent {
            OrderEvent(kind: kind, amountMinor: amount, currency: currency, facts: EventFacts(paymentReference: "pay_1", refundID: id, refundIsCumulative: cumulative))
        }
        func dispute(_ kind: PaymentEventKind, stage: Int? = nil) -> OrderEvent {
            OrderEvent(kind: kind, amountMinor: amountMinor, currency: currency, facts: EventFacts(paymentReference: "pay_1", disputeID: "dp_1", disputeStage: stage))
        }
        return [
            Probe("payment authorized", payment(.paymentAuthorized)),
            Probe("payment", payment(.paymentSucceeded)),
            Probe("payment of another amount", payment(.paymentSucceeded, 999)),
            Probe("payment in another currency", payment(.paymentSucceeded, amountMinor, "EUR")),
            Probe("second payment", payment(.paymentSucceeded, reference: "pay_2"), afterPayment: true),
            Probe("payment failed", payment(.paymentFailed)),
            Probe("payment canceled", payment(.paymentCanceled)),
            Probe("checkout expired", payment(.checkoutExpired, nil)),
            // A refund by its own id, a cumulative total (Stripe charge.refunded) and one more
            // than was paid; the failure is of the partial refund.
            Probe("partial refund", refund("re_1", 500)),
            Probe("full refund", refund(nil, amountMinor, cumulative: true)),
            Probe("over-refund", refund("re_2", 2500)),
            Probe("refund failed", refund("re_1", nil, kind: .refundFailed)),
            // One dispute (dp_1) through its stages: 1 opened, 2 funds withdrawn, 3 won or lost,
            // 4 final (second chargeback, pre-arbitration).
            Probe("dispute opened", dispute(.disputeOpened)),
            Probe("funds withdrawn", dispute(.disputeFundsWithdrawn)),
            Probe("dispute won", dispute(.disputeWon)),
            Probe("dispute lost", dispute(.disputeLost)),
            Probe("final won", dispute(.disputeWon, stage: 4)),
            Probe("final lost", dispute(.disputeLost, stage: 4)),
        ]
    }()

    /// Explores the state machine breadth-first from fresh orders in `roots`, `depth` events deep.
    public static func explore(
        from roots: [OrderStatus] = [.created, .pendingPayment], probes: [Probe] = representativeProbes, depth: Int = 6
    ) -> OrderLifecycleGraph {
        var seen: Set<String> = []
        var frontier: [OrderState] = []
        for root in roots {
            let state = OrderState(status: root, amountMinor: amountMinor, currency: currency)
            if seen.insert(identity(of: state)).inserted { frontier.append(state) }
        }
        var edges: Set<Edge> = [], unchanged: Set<Edge> = []
        var ignored: Set<Refusal> = [], deferred: Set<Refusal> = []
        for _ in 0..<depth {
            var next: [OrderState] = []
            for state in frontier {
                for probe in probes where !probe.afterPayment || state.ledger.paidBy != nil {
                    switch OrderStateMachine.apply(probe.event, to: state) {
                    case .applied(let after):
                        let edge = Edge(state.status, probe.label, after.status, reasons: after.reviewReasons.subtracting(state.reviewReasons).sorted())
                        if after.status == state.status { unchanged.insert(edge) } else { edges.insert(edge) }
                        if seen.insert(identity(of: after)).inserted { next.append(after) }
                    case .ignored:
                        ignored.insert(Refusal(status: state.status, event: probe.label))
                    case .deferred:
                        deferred.insert(Refusal(status: state.status, event: probe.label))
                    }
                }
            }
            frontier = next
        }
        let order = Dictionary(probes.enumerated().map { ($1.label, $0) }, uniquingKeysWith: { first, _ in first })
        func rank(_ status: OrderStatus) -> Int { OrderStatus.allCases.firstIndex(of: status)! }
        func sorted(_ edges: Set<Edge>) -> [Edge] {
            edges.sorted { (rank($0.from), rank($0.to), order[$0.event]!, $0.label) < (rank($1.from), rank($1.to), order[$1.event]!, $1.label) }
        }
        func sorted(_ refusals: Set<Refusal>) -> [Refusal] {
            refusals.sorted { (rank($0.status), order[$0.event]!) < (rank($1.status), order[$1.event]!) }
        }
        return OrderLifecycleGraph(roots: roots, depth: depth, stateCount: seen.count, edges: sorted(edges), unchanged: sorted(unchanged),
                                   ignored: sorted(ignored), deferred: sorted(deferred))
    }

    /// Status and ledger, canonically: the ledger encodes with sorted keys and sorted sets.
    private static func identity(of state: OrderState) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let ledger = (try? encoder.encode(state.ledger)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return "\(state.status.rawValue) \(ledger)"
    }

    /// The edges drawn as one arrow per pair of statuses, with the labels of the events that take
    /// it in probe order.
    public var arrows: [(from: OrderStatus, to: OrderStatus, labels: [String])] {
        var result: [(from: OrderStatus, to: OrderStatus, labels: [String])] = []
        for edge in edges {
            if let last = result.last, last.from == edge.from, last.to == edge.to {
                result[result.count - 1].labels.append(edge.label)
            } else {
                result.append((edge.from, edge.to, [edge.label]))
            }
        }
        return result
    }

    private var summary: [String] {
        [
            "Generated by `tollgate orders lifecycle` from OrderStateMachine: do not edit by hand.",
            "\(stateCount) states (status, ledger) explored \(depth) events deep from \(roots.map(\.rawValue).joined(separator: ", ")).",
            "Not drawn: \(unchanged.count) applied events that keep the status, \(ignored.count) ignored and \(deferred.count) deferred (status, event) pairs.",
        ]
    }

    /// Mermaid `stateDiagram-v2`, one line per status change.
    public var mermaid: String {
        var lines = ["stateDiagram-v2"] + summary.map { "    %% \($0)" }
        lines += roots.map { "    [*] --> \($0.rawValue)" }
        lines += arrows.map { "    \($0.from.rawValue) --> \($0.to.rawValue) : \($0.labels.joined(separator: ", "))" }
        if statuses.contains(.needsReview) {
            lines += ["    classDef review fill:#fde2e1,stroke:#c0392b", "    class needs_review review"]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Graphviz dot, one edge per status change.
    public var dot: String {
        func escaped(_ text: String) -> String { text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
        var lines = summary.map { "// \($0)" }
        lines += [
            "digraph order_lifecycle {",
            "    rankdir=LR;",
            "    node [shape=box, style=rounded, fontname=\"Helvetica\"];",
            "    edge [fontname=\"Helvetica\", fontsize=10];",
            "    start [shape=point, label=\"\"];",
        ]
        if statuses.contains(.needsReview) { lines.append("    needs_review [color=\"#c0392b\", fontcolor=\"#c0392b\"];") }
        lines += roots.map { "    start -> \($0.rawValue);" }
        lines += arrows.map { "    \($0.from.rawValue) -> \($0.to.rawValue) [label=\"\($0.labels.map(escaped).joined(separator: "\\n"))\"];" }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

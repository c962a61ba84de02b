import Foundation
import Testing
import TollgateOrders

@Suite struct OrderLifecycleGraphTests {
    static let graph = OrderLifecycleGraph.explore()

    func has(_ from: OrderStatus, _ event: String, _ to: OrderStatus) -> Bool {
        Self.graph.edges.contains { $0.from == from && $0.event == event && $0.to == to }
    }

    @Test func theKeyMovesOfAnOrderAreFoundByRunningTheStateMachine() {
        let expected: [(OrderStatus, String, OrderStatus)] = [
            (.pendingPayment, "payment", .paid),
            (.created, "payment", .paid),
            (.pendingPayment, "payment of another amount", .needsReview),
            (.pendingPayment, "payment in another currency", .needsReview),
            (.paid, "partial refund", .partiallyRefunded),
            (.paid, "full refund", .refunded),
            (.partiallyRefunded, "full refund", .refunded),
            (.partiallyRefunded, "refund failed", .paid),
            (.paid, "over-refund", .needsReview),
            (.paid, "dispute opened", .disputed),
            (.paid, "funds withdrawn", .chargedBack),
            (.disputed, "dispute lost", .chargedBack),
            (.disputed, "dispute won", .paid),
            (.disputed, "dispute won", .partiallyRefunded),
            (.chargedBack, "dispute won", .paid),
            (.paid, "dispute lost", .needsReview),
            (.paid, "second payment", .needsReview),
            (.canceled, "payment", .needsReview),
            (.expired, "payment", .needsReview),
            (.failed, "payment", .paid),
        ]
        for (from, event, to) in expected {
            #expect(has(from, event, to), "\(from.rawValue) -[\(event)]-> \(to.rawValue)")
        }
    }

    @Test func everyEdgeIntoReviewSaysWhy() {
        for edge in Self.graph.edges {
            #expect((edge.to == .needsReview) == !edge.reasons.isEmpty, "\(edge)")
        }
        #expect(Self.graph.edges.contains(OrderLifecycleGraph.Edge(.canceled, "payment", .needsReview, reasons: [.paymentAfterClose])))
        #expect(Self.graph.edges.contains(OrderLifecycleGraph.Edge(.chargedBack, "dispute won", .needsReview, reasons: [.disputeContradicted])))
    }

    @Test func whatNeverAppliesIsCountedNotDrawn() {
        let graph = Self.graph
        // Money back before the payment waits; a cancel or expiry after it changes nothing.
        #expect(graph.deferred.contains(.init(status: .pendingPayment, event: "partial refund")))
        #expect(graph.deferred.contains(.init(status: .canceled, event: "dispute opened")))
        #expect(graph.ignored.contains(.init(status: .paid, event: "payment canceled")))
        #expect(graph.ignored.contains(.init(status: .paid, event: "checkout expired")))
        #expect(graph.ignored.contains(.init(status: .paid, event: "payment")), "the same payment again")
        #expect(!has(.paid, "payment canceled", .canceled))
        // Review reasons are derived from the facts: an order leaves review only when the facts
        // that put it there are undone (a refund that failed, a chargeback reversed), never
        // because of an unrelated event; a second payment keeps it there for good.
        #expect(graph.edges.filter { $0.from == .needsReview }.allSatisfy { ["refund failed", "dispute won", "final won"].contains($0.event) },
                "\(graph.edges.filter { $0.from == .needsReview })")
        #expect(graph.unchanged.contains { $0.from == .needsReview && $0.event == "partial refund" })
    }

    @Test func everyStatusButFulfilledIsReached() {
        let missing = Set(OrderStatus.allCases).subtracting(Self.graph.statuses)
        #expect(missing.isSubset(of: [.fulfilled]), "not reached: \(missing)")
    }

    @Test func sixEventsDeepFindsEveryEdge() {
        #expect(OrderLifecycleGraph.explore(depth: 8).edges == Self.graph.edges)
    }

    @Test func bothDrawingsShowEveryEdge() {
        let graph = Self.graph
        let mermaid = graph.mermaid.split(separator: "\n").map(String.init)
        let dot = graph.dot.split(separator: "\n").map(String.init)
        #expect(mermaid.first == "stateDiagram-v2")
        #expect(dot.contains("digraph order_lifecycle {") && dot.last == "}")
        for root in graph.roots {
            #expect(mermaid.contains("    [*] --> \(root.rawValue)"))
            #expect(dot.contains("    start -> \(root.rawValue);"))
        }
        for edge in graph.edges {
            let mermaidArrow = mermaid.first { $0.hasPrefix("    \(edge.from.rawValue) --> \(edge.to.rawValue) : ") }
            #expect(mermaidArrow?.contains(edge.label) == true, "mermaid lacks \(edge)")
            let dotArrow = dot.first { $0.hasPrefix("    \(edge.from.rawValue) -> \(edge.to.rawValue) [label=") }
            #expect(dotArrow?.contains(edge.label) == true, "dot lacks \(edge)")
        }
        // One arrow per pair of statuses, nothing else drawn.
        let pairs = Set(graph.edges.map { "\($0.from.rawValue) \($0.to.rawValue)" })
        #expect(mermaid.filter { $0.contains(" --> ") && !$0.contains("[*]") }.count == pairs.count)
        #expect(dot.filter { $0.contains(" -> ") && !$0.contains("start ->") }.count == pairs.count)
    }

    /// Events applied one after the other as the write planner does: one deferred waits and is
    /// tried again after each applied one.
    static func settle(_ events: [OrderEvent], from start: OrderState) -> OrderState {
        var state = start
        var waiting: [OrderEvent] = []
        for event in events {
            switch OrderStateMachine.apply(event, to: state) {
            case .applied(let next):
                state = next
                while let index = waiting.firstIndex(where: { if case .deferred = OrderStateMachine.apply($0, to: state) { false } else { true } }) {
                    if case .applied(let next) = OrderStateMachine.apply(waiting.remove(at: index), to: state) { state = next }
                }
            case .deferred: waiting.append(event)
            case .ignored: break
            }
        }
        return state
    }

    /// ORDER-LIFECYCLE.md, "Arrival order": of every two events for a fresh order, these are the
    /// only ones whose order of arrival changes the status the order ends in.
    @Test func onlyThesePairsEndDifferentlyInTheOtherOrder() {
        let probes = OrderLifecycleGraph.representativeProbes.filter { !$0.afterPayment }
        let fresh = OrderState(status: .pendingPayment, amountMinor: OrderLifecycleGraph.amountMinor, currency: OrderLifecycleGraph.currency)
        var differing: Set<String> = []
        for (index, first) in probes.enumerated() {
            for second in probes[(index + 1)...] {
                let forward = Self.settle([first.event, second.event], from: fresh).status
                let backward = Self.settle([second.event, first.event], from: fresh).status
                if forward != backward { differing.insert("\(first.label) / \(second.label)") }
            }
        }
        #expect(differing == [
            "payment authorized / checkout expired",
            "payment / payment of another amount",
            "payment / payment in another currency",
            "payment / payment canceled",
            "payment / checkout expired",
            "payment canceled / checkout expired",
        ])
        let event = { (label: String) in probes.first { $0.label == label }!.event }
        #expect(Self.settle([event("payment"), event("payment canceled")], from: fresh).status == .paid)
        let canceledFirst = Self.settle([event("payment canceled"), event("payment")], from: fresh)
        #expect(canceledFirst.status == .needsReview && canceledFirst.reviewReasons == [.paymentAfterClose])
    }

    /// docs/ORDER-LIFECYCLE.md pastes the output of `tollgate orders lifecycle`; it must be the
    /// current one (paste it again after changing the state machine).
    @Test func theDiagramInTheDocsIsTheCurrentOne() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/ORDER-LIFECYCLE.md"), encoding: .utf8)
        let blocks = doc.components(separatedBy: "```mermaid\n").dropFirst()
        #expect(blocks.count == 1, "one Mermaid block")
        let pasted = blocks.first?.components(separatedBy: "```").first
        #expect(pasted == Self.graph.mermaid, "run `tollgate orders lifecycle` and paste its output into docs/ORDER-LIFECYCLE.md")
    }
}

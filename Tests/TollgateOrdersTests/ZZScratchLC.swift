import Foundation
import Testing
import TollgateOrders

@Suite struct ScratchLC {
    /// Applies events in order as the write planner does: a deferred event waits and is tried again after each applied one.
    static func settle(_ events: [OrderEvent], from start: OrderState) -> OrderState {
        var state = start
        var waiting: [OrderEvent] = []
        for event in events {
            switch OrderStateMachine.apply(event, to: state) {
            case .applied(let next):
                state = next
                var progressed = true
                while progressed {
                    progressed = false
                    for (i, w) in waiting.enumerated() {
                        switch OrderStateMachine.apply(w, to: state) {
                        case .applied(let n): state = n; waiting.remove(at: i); progressed = true
                        case .ignored: waiting.remove(at: i); progressed = true
                        case .deferred: continue
                        }
                        break
                    }
                }
            case .deferred: waiting.append(event)
            case .ignored: break
            }
        }
        return state
    }

    @Test func pairs() throws {
        let probes = OrderLifecycleGraph.representativeProbes
        var out = ""
        for startStatus in [OrderStatus.pendingPayment] {
            let start = OrderState(status: startStatus, amountMinor: 1999, currency: "USD")
            for (i, a) in probes.enumerated() {
                for b in probes[(i+1)...] {
                    let ab = Self.settle([a.event, b.event], from: start)
                    let ba = Self.settle([b.event, a.event], from: start)
                    if ab.status != ba.status || ab.ledger != ba.ledger {
                        out += "\(startStatus.rawValue): \(a.label) then \(b.label) -> \(ab.status.rawValue) \(ab.ledger.review.map(\.rawValue)); reverse -> \(ba.status.rawValue) \(ba.ledger.review.map(\.rawValue))\n"
                    }
                }
            }
        }
        try out.write(toFile: "/tmp/lc/pairs.txt", atomically: true, encoding: .utf8)
    }
}

import ArgumentParser
import TollgateOrders

extension Orders {
    /// Draws the order life cycle from the state machine itself (docs/ORDER-LIFECYCLE.md pastes it).
    struct Lifecycle: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the order life cycle, explored by running the state machine, as Mermaid or Graphviz dot.",
            discussion: "Representative events (payments, refunds, disputes) are applied breadth-first from created and "
                + "pending_payment orders; every status change they make is an edge. Needs no configuration."
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case mermaid, dot
        }

        @Option(help: "mermaid (stateDiagram-v2) or dot (Graphviz).")
        var format: Format = .mermaid

        @Option(help: "How many events deep to explore.")
        var depth: Int = 6

        func validate() throws {
            guard (1...10).contains(depth) else { throw ValidationError("--depth must be 1...10") }
        }

        func run() throws {
            let graph = OrderLifecycleGraph.explore(depth: depth)
            print(format == .mermaid ? graph.mermaid : graph.dot, terminator: "")
        }
    }
}

import Metrics
import NIOConcurrencyHelpers

/// Counters named one label, kept per set of label values: see ``MetricHandleTable``.
public final class CounterFamily: Sendable {
    private let table: MetricHandleTable

    /// Counters named `label`, by one label (`first`) or two.
    public init(_ label: String, labels first: String, _ second: String? = nil) {
        table = MetricHandleTable(label: label, firstName: first, secondName: second)
    }

    /// The counter of the series with these label values (`second` is ignored by a family of one label).
    public func callAsFunction(_ first: String, _ second: String = "") -> Counter {
        unsafeDowncast(table.handle(first, second) { Counter(label: $0, dimensions: $1) }, to: Counter.self)
    }
}

/// Timers (Prometheus duration histograms) named one label, kept per set of label values: see
/// ``MetricHandleTable``.
public final class TimerFamily: Sendable {
    private let table: MetricHandleTable

    /// Timers named `label`, by one label (`first`) or two.
    public init(_ label: String, labels first: String, _ second: String? = nil) {
        table = MetricHandleTable(label: label, firstName: first, secondName: second)
    }

    /// The timer of the series with these label values (`second` is ignored by a family of one label).
    public func callAsFunction(_ first: String, _ second: String = "") -> Timer {
        unsafeDowncast(table.handle(first, second) { Timer(label: $0, dimensions: $1) }, to: Timer.self)
    }
}

/// The handles of one metric, one per set of label values, each made once and then reused.
///
/// `Counter(label:dimensions:)` asks the metrics factory for a new handle every time, and
/// Prometheus's factory then checks and cleans the names and finds the series under its registry's
/// lock: on the webhook path, five handles per callback. A family finds the handle by its label
/// values instead, and asks the factory only the first time it sees a series. The table is not
/// generic on purpose: a generic one, called from other modules, was not specialized and spent
/// more on runtime type metadata per lookup than the lookup itself (callgrind, RESULTS.md).
///
/// Label values must come from a bounded set (route patterns, providers, outcomes, commands), as
/// every metric label must: a table keeps one handle per distinct set for the life of the process.
///
/// Before the metrics system is bootstrapped its factory makes no-op handles, and keeping one would
/// silence its series for good (a test that runs before any edge has started), so nothing made then
/// is kept. A task-local factory (`withMetricsFactory`) is honoured only until a handle is kept;
/// the edge binds none.
final class MetricHandleTable: Sendable {
    private struct LabelValues: Hashable {
        var first: String
        var second: String
    }

    private let label: String
    private let firstName: String
    private let secondName: String?
    private let kept = NIOLockedValueBox<[LabelValues: any AnyObject & Sendable]>([:])

    init(label: String, firstName: String, secondName: String?) {
        self.label = label
        self.firstName = firstName
        self.secondName = secondName
    }

    func handle(_ first: String, _ second: String, make: (_ label: String, _ dimensions: [(String, String)]) -> any AnyObject & Sendable) -> any AnyObject & Sendable {
        let values = LabelValues(first: first, second: secondName == nil ? "" : second)
        if let handle = kept.withLockedValue({ $0[values] }) { return handle }
        var dimensions = [(firstName, first)]
        if let secondName { dimensions.append((secondName, second)) }
        let handle = make(label, dimensions)
        guard !(MetricsSystem.factory is NOOPMetricsHandler) else { return handle }
        return kept.withLockedValue { kept in
            if let earlier = kept[values] { return earlier }
            kept[values] = handle
            return handle
        }
    }
}

import Metrics
import NIOConcurrencyHelpers

/// The handles of one metric, one per set of label values, each made once and then reused.
///
/// `Counter(label:dimensions:)` asks the metrics factory for a new handle every time, and
/// Prometheus's factory then cleans the names and looks the series up under its registry's lock.
/// On the webhook path that was five handles and about 15,700 instructions per callback (callgrind,
/// loadtests/RESULTS.md). A family looks the handle up by its label values instead, and asks the
/// factory only the first time a series is seen.
///
/// Label values must come from a bounded set (route patterns, providers, outcomes, commands), as
/// every metric label must: a family keeps one handle per distinct set for the life of the process.
///
/// Before the metrics system is bootstrapped its factory makes no-op handles, and keeping one would
/// silence its series for good (a test that runs before any edge has started), so nothing made then
/// is kept. A task-local factory (`withMetricsFactory`) is honoured only until a handle is kept;
/// the edge binds none.
public final class MetricFamily<Handle: AnyObject & Sendable>: Sendable {
    private struct LabelValues: Hashable {
        var first: String
        var second: String
    }

    private let label: String
    private let firstName: String
    private let secondName: String?
    private let make: @Sendable (_ label: String, _ dimensions: [(String, String)]) -> Handle
    private let kept = NIOLockedValueBox<[LabelValues: Handle]>([:])

    private init(label: String, labels firstName: String, _ secondName: String?, make: @escaping @Sendable (String, [(String, String)]) -> Handle) {
        self.label = label
        self.firstName = firstName
        self.secondName = secondName
        self.make = make
    }

    /// The handle of the series with these label values: `first` for the family's first label,
    /// `second` for its second (ignored by a family of one label).
    public func callAsFunction(_ first: String, _ second: String = "") -> Handle {
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

extension MetricFamily where Handle == Counter {
    /// Counters named `label`, by one label (`first`) or two.
    public convenience init(_ label: String, labels first: String, _ second: String? = nil) {
        self.init(label: label, labels: first, second) { Counter(label: $0, dimensions: $1) }
    }
}

extension MetricFamily where Handle == Timer {
    /// Timers (Prometheus duration histograms) named `label`, by one label (`first`) or two.
    public convenience init(_ label: String, labels first: String, _ second: String? = nil) {
        self.init(label: label, labels: first, second) { Timer(label: $0, dimensions: $1) }
    }
}

public typealias CounterFamily = MetricFamily<Counter>
public typealias TimerFamily = MetricFamily<Timer>

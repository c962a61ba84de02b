import Foundation
import Histogram

/// Everything measured in a run: latency histograms (HdrHistogram, microseconds) per request
/// kind and overall, status counts, and one sample per second for the charts. A value type; the
/// runner keeps it behind a lock.
public struct LoadRecorder: Sendable {
    /// Highest latency tracked: a minute, in microseconds.
    static let highest: UInt64 = 60_000_000

    struct PerKind: Sendable {
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: LoadRecorder.highest, numberOfSignificantValueDigits: .three)
        var statuses: [Int: Int] = [:]
        var errors = 0
    }

    var kinds: [RequestKind: PerKind] = [:]
    var overall = PerKind()
    public private(set) var seconds: [SecondSample] = []
    var currentSecond = 0
    var current = PerKind()
    /// Every request, kept only when asked (`--faults`): statistics over fault windows need exact
    /// percentiles over arbitrary spans, which per-second summaries cannot give.
    public private(set) var requests: [RequestSample]?

    public init(keepingRequests: Bool = false) {
        requests = keepingRequests ? [] : nil
    }

    /// One answered request (status 0: no HTTP answer at all: refused, reset, timed out).
    /// `latency` runs from the planned send time `sentAt` (from the run's start); `second` is when the answer came.
    public mutating func record(_ kind: RequestKind, status: Int, latency: Duration, second: Int, sentAt: Duration = .zero) {
        let micros = UInt64(clamping: max(1, latency.nanoseconds / 1000))
        let unexpected = !kind.expectedStatuses.contains(status)
        requests?.append(RequestSample(sentAt: Double(sentAt.nanoseconds) / 1e9, latencyMilliseconds: Double(micros) / 1000, failed: unexpected, status: status))
        kinds[kind, default: PerKind()].add(micros, status: status, error: unexpected)
        overall.add(micros, status: status, error: unexpected)
        if second > currentSecond { closeSeconds(through: second) }
        current.add(micros, status: status, error: unexpected)
    }

    /// Seals every second before `second` (the charts need empty seconds too).
    mutating func closeSeconds(through second: Int) {
        while currentSecond < second {
            seconds.append(SecondSample(second: currentSecond, summary: current))
            current = PerKind()
            currentSecond += 1
        }
    }

    /// Seals the last second at the end of a run (trailing empty seconds are dropped).
    public mutating func finish(at second: Int) {
        closeSeconds(through: second + 1)
        while let last = seconds.last, last.count == 0, seconds.count > 1 { seconds.removeLast() }
    }

    public var lastSecond: SecondSample? { seconds.last }
    public var totalCount: Int { Int(overall.histogram.totalCount) }

    public func summary(of kind: RequestKind?) -> LatencySummary {
        guard let kind else { return overall.summary }
        return kinds[kind]?.summary ?? LatencySummary()
    }

    public func statuses(of kind: RequestKind?) -> [Int: Int] {
        guard let kind else { return overall.statuses }
        return kinds[kind]?.statuses ?? [:]
    }

    public var recordedKinds: [RequestKind] { RequestKind.allCases.filter { kinds[$0] != nil } }

    /// The latency at each percentile of the classic HdrHistogram plot (0 to 99.999), in ms.
    public var percentileCurve: [PercentilePoint] {
        let levels = [0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.999, 100]
        return levels.map { PercentilePoint(percentile: $0, milliseconds: Double(overall.histogram.valueAtPercentile($0)) / 1000) }
    }
}

extension LoadRecorder.PerKind {
    mutating func add(_ micros: UInt64, status: Int, error: Bool) {
        _ = histogram.record(min(micros, LoadRecorder.highest))
        statuses[status, default: 0] += 1
        if error { errors += 1 }
    }

    var summary: LatencySummary {
        let count = Int(histogram.totalCount)
        guard count > 0 else { return LatencySummary(errors: errors) }
        func ms(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
        return LatencySummary(count: count, errors: errors, p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9),
                              max: Double(histogram.max) / 1000, mean: histogram.mean / 1000)
    }
}

/// One second of a run, for the progress line and the charts.
public struct SecondSample: Sendable, Equatable, Codable {
    public var second: Int
    public var count: Int
    public var errors: Int
    public var p50: Double
    public var p99: Double
    /// Answers by status code ("0" = no answer).
    public var statuses: [String: Int]

    init(second: Int, summary: LoadRecorder.PerKind) {
        self.second = second
        let latency = summary.summary
        self.count = latency.count
        self.errors = summary.errors
        self.p50 = latency.p50
        self.p99 = latency.p99
        self.statuses = Dictionary(uniqueKeysWithValues: summary.statuses.map { ("\($0.key)", $0.value) })
    }
}

public struct PercentilePoint: Sendable, Equatable, Codable {
    public var percentile: Double
    public var milliseconds: Double
}

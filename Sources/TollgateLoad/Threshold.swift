import Foundation

/// A pass/fail condition on a run's results, like k6's: `p99 < 50ms`, `errors < 0.1%`,
/// `webhook.p99.9 < 200ms`, `rate > 1000`. Latencies are compared in milliseconds, errors in
/// percent of requests, rate in requests per second.
public struct Threshold: Sendable, Equatable, CustomStringConvertible {
    public enum Metric: String, Sendable, CaseIterable {
        case p50, p90, p99, p999 = "p99.9", max, mean, errors, rate
    }

    public enum Comparison: String, Sendable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=" }

    /// Nil: over all requests.
    public var kind: RequestKind?
    public var metric: Metric
    public var comparison: Comparison
    /// In the metric's unit: milliseconds, percent, or requests per second.
    public var value: Double
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 3, let comparison = Comparison(rawValue: parts[1]) else { return nil }
        var subject = parts[0]
        var kind: RequestKind?
        if let match = RequestKind.allCases.first(where: { subject.hasPrefix($0.rawValue + ".") }) {
            kind = match
            subject.removeFirst(match.rawValue.count + 1)
        }
        guard let metric = Metric(rawValue: subject), let value = Self.value(parts[2], metric: metric) else { return nil }
        self.kind = kind
        self.metric = metric
        self.comparison = comparison
        self.value = value
        self.description = text
    }

    /// Parses `50ms`, `1s`, `250us`, `0.1%`, `1000`, `1000/s` into the metric's unit.
    static func value(_ text: String, metric: Metric) -> Double? {
        func number(_ suffix: String) -> Double? { text.hasSuffix(suffix) ? Double(text.dropLast(suffix.count)) : nil }
        switch metric {
        case .errors: return number("%") ?? Double(text)
        case .rate: return number("/s") ?? Double(text)
        default:
            if let us = number("us") { return us / 1000 }
            if let ms = number("ms") { return ms }
            if let s = number("s") { return s * 1000 }
            return nil
        }
    }

    /// The measured value this threshold reads from `summary`.
    public func measured(in summary: LatencySummary, rate: Double) -> Double {
        switch metric {
        case .p50: summary.p50
        case .p90: summary.p90
        case .p99: summary.p99
        case .p999: summary.p999
        case .max: summary.max
        case .mean: summary.mean
        case .errors: summary.count == 0 ? 0 : Double(summary.errors) * 100 / Double(summary.count)
        case .rate: rate
        }
    }

    public func holds(_ measured: Double) -> Bool {
        switch comparison {
        case .less: measured < value
        case .lessOrEqual: measured <= value
        case .greater: measured > value
        case .greaterOrEqual: measured >= value
        }
    }
}

/// A request kind's (or the whole run's) numbers, latencies in milliseconds.
public struct LatencySummary: Sendable, Equatable, Codable {
    public var count: Int
    public var errors: Int
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var mean: Double

    public init(count: Int = 0, errors: Int = 0, p50: Double = 0, p90: Double = 0, p99: Double = 0, p999: Double = 0, max: Double = 0, mean: Double = 0) {
        self.count = count
        self.errors = errors
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}

import Foundation

/// A fault injected while a scenario ran (`loadtests/chaos`): Redis killed, Postgres restarted or
/// cut off, an edge stopped, a row held. Read from the faults file after the run.
public struct FaultWindow: Sendable, Equatable, Codable {
    public var name: String
    public var start: Date
    public var end: Date

    public init(name: String, start: Date, end: Date) {
        self.name = name
        self.start = start
        self.end = end
    }
}

/// The faults file (`--faults FILE`): JSON lines, one fault each, written by whoever injected it.
///
///     {"name": "redis-kill", "start": 1795652400.25, "end": 1795652410.5}
///     {"name": "postgres-cut", "start": "2026-11-26T02:20:00.250Z", "end": "2026-11-26T02:20:10Z"}
///
/// `start` and `end` are unix seconds (a number) or ISO 8601 strings. Blank lines are skipped.
public enum FaultFileParser {
    public static func parse(_ text: String, file: String = "faults.jsonl") throws -> [FaultWindow] {
        var windows: [FaultWindow] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            func problem(_ reason: String) -> ScenarioError { ScenarioError("\(file):\(index + 1): \(reason)") }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw problem("not a JSON object")
            }
            guard let name = object["name"] as? String, !name.isEmpty else { throw problem("name must be a non-empty string") }
            guard let start = instant(object["start"]) else { throw problem("start must be unix seconds or an ISO 8601 time") }
            guard let end = instant(object["end"]) else { throw problem("end must be unix seconds or an ISO 8601 time") }
            guard end >= start else { throw problem("end is before start") }
            windows.append(FaultWindow(name: name, start: start, end: end))
        }
        return windows.sorted { $0.start < $1.start }
    }

    static func instant(_ value: Any?) -> Date? {
        switch value {
        case let text as String:
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return date }
            formatter.formatOptions = [.withInternetDateTime]
            return formatter.date(from: text)
        case let seconds as Double:
            return Date(timeIntervalSince1970: seconds)
        default:
            return nil
        }
    }
}

/// One request as the fault statistics need it. Kept by the recorder only when a run has a
/// faults file: percentiles over arbitrary spans cannot be merged from per-second summaries.
public struct RequestSample: Sendable, Equatable {
    /// The planned send time, in seconds from the run's start.
    public var sentAt: Double
    /// From the planned send time to the answer (or the failure), in milliseconds.
    public var latencyMilliseconds: Double
    /// An answer that is wrong for the request's kind: for webhooks in practice a 5xx or no
    /// answer at all (refused, reset, timed out), which a provider retries. 409 and 429 are
    /// expected answers (the provider retries those too, but the edge meant them).
    public var failed: Bool
    /// The status code, 0 for no answer.
    public var status: Int

    public init(sentAt: Double, latencyMilliseconds: Double, failed: Bool, status: Int) {
        self.sentAt = sentAt
        self.latencyMilliseconds = latencyMilliseconds
        self.failed = failed
        self.status = status
    }

    /// When the answer came, in seconds from the run's start.
    public var answeredAt: Double { sentAt + latencyMilliseconds / 1000 }
}

/// Requests, errors and latency of one set of requests (a fault window, its baseline, a second).
public struct FaultFigures: Sendable, Equatable, Codable {
    public var requests: Int
    public var errors: Int
    public var p50: Double
    public var p99: Double
    public var max: Double
    /// Answers by status code ("0": no answer).
    public var statuses: [String: Int]

    /// Errors as a fraction of requests (0 when there were none).
    public var errorRate: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }

    public init<Samples: Collection>(_ samples: Samples) where Samples.Element == RequestSample {
        let latencies = samples.map(\.latencyMilliseconds).sorted()
        requests = latencies.count
        errors = samples.count { $0.failed }
        p50 = Self.percentile(50, of: latencies)
        p99 = Self.percentile(99, of: latencies)
        max = latencies.last ?? 0
        statuses = [:]
        for sample in samples { statuses["\(sample.status)", default: 0] += 1 }
    }

    /// Nearest rank: the smallest value with at least `percentile`% of the values at or below it.
    static func percentile(_ percentile: Double, of sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((percentile / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
    }
}

/// When a second after a fault counts as recovered, and from which baseline.
///
/// The baseline of a fault is the requests sent in the `baselineSeconds` before its start that
/// were in flight during no fault window (the whole run's unaffected requests if there are none).
/// The seconds after a fault are cut at its end: second k holds the requests planned to be sent in
/// [end + k, end + k + 1). Second k is healthy when it has requests, its error rate is at most the
/// baseline's plus `errorRateMargin`, and its p99 is at most max(baseline p99 x `latencyFactor`,
/// baseline p99 + `latencySlackMilliseconds`). The time to recover is the first k from which
/// `stableSeconds` seconds in a row are healthy: 0 when the edge was back the moment the fault
/// ended. Nil when that never happened before the next fault began or the run ended.
public struct RecoveryCriterion: Sendable, Equatable, Codable {
    public var baselineSeconds: Double = 30
    public var errorRateMargin: Double = 0.005
    public var latencyFactor: Double = 1.5
    public var latencySlackMilliseconds: Double = 10
    public var stableSeconds: Int = 3

    public init() {}

    func isHealthy(_ second: FaultFigures, baseline: FaultFigures) -> Bool {
        second.requests > 0
            && second.errorRate <= baseline.errorRate + errorRateMargin
            && second.p99 <= Swift.max(baseline.p99 * latencyFactor, baseline.p99 + latencySlackMilliseconds)
    }
}

/// What each fault did to the traffic: the figures of the requests in flight during it, against
/// its baseline, and how long after its end the edge was back to that baseline.
public struct FaultReport: Sendable, Equatable, Codable {
    public struct Window: Sendable, Equatable, Codable {
        public var name: String
        public var start: Date
        public var end: Date
        /// The window in seconds from the run's start (the charts' x axis).
        public var startSecond: Double
        public var endSecond: Double
        /// Requests in flight at any moment of the window: sent before its end, answered after its start.
        public var during: FaultFigures
        public var baseline: FaultFigures
        /// Seconds from the window's end until the edge was back to the baseline (`RecoveryCriterion`);
        /// nil (absent from the JSON) when it was not before the next fault or the run's end.
        public var recoverySeconds: Int?
    }

    public var windows: [Window]
    /// Requests in flight during some fault window, and during none.
    public var inside: FaultFigures
    public var outside: FaultFigures
    public var criterion: RecoveryCriterion

    public init(faults: [FaultWindow], requests: [RequestSample], runStart: Date, runSeconds: Double, criterion: RecoveryCriterion = RecoveryCriterion()) {
        let spans = faults.map { (start: $0.start.timeIntervalSince(runStart), end: $0.end.timeIntervalSince(runStart)) }
        func overlaps(_ sample: RequestSample, _ span: (start: Double, end: Double)) -> Bool {
            sample.sentAt < span.end && sample.answeredAt > span.start
        }
        let unaffected = requests.filter { sample in !spans.contains { overlaps(sample, $0) } }
        let outside = FaultFigures(unaffected)
        self.outside = outside
        self.inside = FaultFigures(requests.filter { sample in spans.contains { overlaps(sample, $0) } })
        self.criterion = criterion
        let bySendTime = requests.sorted { $0.sentAt < $1.sentAt }
        func firstIndex(sentNotBefore time: Double) -> Int {
            var low = 0, high = bySendTime.count
            while low < high {
                let middle = (low + high) / 2
                if bySendTime[middle].sentAt < time { low = middle + 1 } else { high = middle }
            }
            return low
        }
        // The requests planned to be sent in [from, to), found by bisection: the recovery scan asks for every second.
        func sent(from: Double, to: Double) -> ArraySlice<RequestSample> {
            let lower = firstIndex(sentNotBefore: from)
            return bySendTime[lower..<Swift.max(lower, firstIndex(sentNotBefore: to))]
        }
        self.windows = zip(faults, spans).map { fault, span in
            var baseline = FaultFigures(unaffected.filter { $0.sentAt >= span.start - criterion.baselineSeconds && $0.sentAt < span.start })
            if baseline.requests == 0 { baseline = outside }
            // Recovery is looked for until the next fault starts (its own damage is not this one's) or the run ends.
            let limit = spans.map(\.start).filter { $0 > span.start }.min().map { Swift.min($0, runSeconds) } ?? runSeconds
            var recovery: Int?
            var healthyInARow = 0
            var second = 0
            while span.end + Double(second + 1) <= limit {
                let from = span.end + Double(second)
                let figures = FaultFigures(sent(from: from, to: from + 1))
                healthyInARow = criterion.isHealthy(figures, baseline: baseline) ? healthyInARow + 1 : 0
                if healthyInARow == criterion.stableSeconds { recovery = second + 1 - criterion.stableSeconds; break }
                second += 1
            }
            return Window(name: fault.name, start: fault.start, end: fault.end, startSecond: span.start, endSecond: span.end,
                          during: FaultFigures(requests.filter { overlaps($0, span) }), baseline: baseline, recoverySeconds: recovery)
        }
    }

    /// One line per fault for the end-of-run table.
    public var lines: [String] {
        func seconds(_ value: Double) -> String { String(format: "%.1f", value) }
        return windows.map { window in
            let recovery = window.recoverySeconds.map { "recovered after \($0) s" } ?? "not recovered before the next fault or the end"
            return "fault \(window.name) at \(seconds(window.startSecond)) s for \(seconds(window.endSecond - window.startSecond)) s: "
                + "\(window.during.requests) requests, \(window.during.errors) errors, p99 \(LoadResults.ms(window.during.p99)) ms "
                + "(baseline \(LoadResults.ms(window.baseline.p99)) ms); \(recovery)"
        } + ["faults: p99 \(LoadResults.ms(inside.p99)) ms during (\(inside.requests) requests, \(inside.errors) errors), "
             + "\(LoadResults.ms(outside.p99)) ms outside (\(outside.requests) requests, \(outside.errors) errors)"]
    }
}

extension LoadRunner {
    /// Every request of the finished run (empty unless the runner was made to keep them).
    var recordedRequests: [RequestSample] { shared.withLockedValue { $0.recorder.requests ?? [] } }
}

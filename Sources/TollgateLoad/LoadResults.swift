import Foundation

/// A finished run: what the table, the JSON file and the HTML report are made from.
public struct LoadResults: Sendable, Codable {
    public struct KindResult: Sendable, Codable {
        public var kind: String
        public var latency: LatencySummary
        public var throughput: Double
        /// Answers by status code ("0": no answer).
        public var statuses: [String: Int]
    }

    public struct ThresholdOutcome: Sendable, Codable {
        public var threshold: String
        public var measured: Double
        public var passed: Bool
    }

    public var scenario: String
    public var description: String
    public var target: String
    public var mode: String
    public var http: String
    public var startedAt: Date
    public var seconds: Double
    public var plannedRate: Double?
    public var overall: KindResult
    public var kinds: [KindResult]
    public var timeline: [SecondSample]
    public var percentiles: [PercentilePoint]
    public var thresholds: [ThresholdOutcome]
    public var verification: Verification?
    /// Checkout refusals by problem type (`price-changed`, `item-unavailable`, ...): the statuses
    /// alone do not tell a 409 price-changed from an idempotency conflict.
    public var checkoutProblems: [String: Int]?
    /// With `--faults`: each fault window's figures and time to recover.
    public var faults: FaultReport?

    public var passed: Bool { thresholds.allSatisfy(\.passed) && (verification?.passed ?? true) }

    public init(scenario: Scenario, recorder: LoadRecorder, startedAt: Date, seconds: Double) {
        func result(_ kind: RequestKind?) -> KindResult {
            let summary = recorder.summary(of: kind)
            return KindResult(kind: kind?.rawValue ?? "all", latency: summary, throughput: Double(summary.count) / max(seconds, 0.001),
                              statuses: Dictionary(uniqueKeysWithValues: recorder.statuses(of: kind).map { ("\($0.key)", $0.value) }))
        }
        self.scenario = scenario.name
        self.description = scenario.description
        self.target = scenario.target
        self.mode = scenario.mode == .open ? "open loop" : "closed loop, \(scenario.clients) clients"
        self.http = scenario.http.rawValue
        self.startedAt = startedAt
        self.seconds = seconds
        // The average planned rate over the run (ramps included), comparable with the achieved one.
        self.plannedRate = scenario.mode == .open ? scenario.plannedCount / max(0.001, Double(scenario.totalDuration.nanoseconds) / 1e9) : nil
        self.overall = result(nil)
        self.kinds = recorder.recordedKinds.map { result($0) }
        self.timeline = recorder.seconds
        self.percentiles = recorder.percentileCurve
        self.thresholds = scenario.thresholds.map { threshold in
            let target = threshold.kind.map { result($0) } ?? result(nil)
            let measured = threshold.measured(in: target.latency, rate: target.throughput)
            return ThresholdOutcome(threshold: threshold.description, measured: measured, passed: threshold.holds(measured))
        }
    }

    /// The end-of-run table: one row per request kind, then the total.
    public var table: String {
        var lines = ["scenario \(scenario): \(String(format: "%.1f", seconds)) s, \(mode), \(http), \(overall.latency.count) requests, "
            + "\(String(format: "%.0f", overall.throughput))/s" + (plannedRate.map { String(format: " (planned %.0f/s)", $0) } ?? "")]
        let header = ["kind", "count", "rate/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "statuses"]
        var rows = [header]
        for item in kinds + [overall] {
            let l = item.latency
            let statuses = Self.describe(item.statuses)
            rows.append([item.kind, "\(l.count)", String(format: "%.0f", item.throughput), Self.ms(l.p50), Self.ms(l.p90), Self.ms(l.p99),
                         Self.ms(l.p999), Self.ms(l.max), "\(l.errors)", statuses])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(row.enumerated().map { index, cell in
                index == 0 || index == row.count - 1 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  "))
        }
        for outcome in thresholds {
            lines.append("threshold \(outcome.threshold): measured \(String(format: "%.3f", outcome.measured)) -> \(outcome.passed ? "pass" : "FAIL")")
        }
        if let checkoutProblems, !checkoutProblems.isEmpty {
            lines.append("checkout refusals: " + checkoutProblems.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let faults { lines.append(contentsOf: faults.lines) }
        if let verification { lines.append(contentsOf: verification.lines) }
        lines.append(passed ? "result: PASS" : "result: FAIL")
        return lines.joined(separator: "\n")
    }

    /// Answers by status, in code order, `none` for no answer: `200:117 401:22 none:3`.
    static func describe(_ statuses: [String: Int], pair: String = ":", separator: String = " ") -> String {
        statuses.sorted { $0.key < $1.key }.map { "\($0.key == "0" ? "none" : $0.key)\(pair)\($0.value)" }.joined(separator: separator)
    }

    static func ms(_ value: Double) -> String { value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value) }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}

/// What `--verify` found: each check with its counts, and whether it held.
public struct Verification: Sendable, Codable {
    public struct Check: Sendable, Codable {
        public var name: String
        public var passed: Bool
        public var detail: String

        public init(name: String, passed: Bool, detail: String) {
            self.name = name
            self.passed = passed
            self.detail = detail
        }
    }

    public var checks: [Check]
    public var passed: Bool { checks.allSatisfy(\.passed) }
    public var lines: [String] { checks.map { "verify \($0.passed ? "ok  " : "FAIL") \($0.name): \($0.detail)" } }

    public init(checks: [Check]) { self.checks = checks }
}

import Foundation
import Testing
import TollgateLoad

@Suite struct FaultFileParserTests {
    @Test func readsUnixSecondsAndISO8601AndSortsByStart() throws {
        let text = """
            {"name": "postgres-cut", "start": "2026-11-26T02:20:00.250Z", "end": "2026-11-26T02:20:10Z"}

            {"name": "redis-kill", "start": 1795652400.25, "end": 1795652410}
            """
        let faults = try FaultFileParser.parse(text)
        #expect(faults.map(\.name) == ["redis-kill", "postgres-cut"])
        #expect(faults[0].start == Date(timeIntervalSince1970: 1_795_652_400.25))
        #expect(faults[0].end == Date(timeIntervalSince1970: 1_795_652_410))
        #expect(faults[1].start == Date(timeIntervalSince1970: 1_795_659_600.25))
        #expect(faults[1].end == Date(timeIntervalSince1970: 1_795_659_610))
    }

    @Test func problemsNameTheFileAndLine() {
        #expect(throws: ScenarioError("faults.jsonl:2: end is before start")) {
            try FaultFileParser.parse("{\"name\":\"a\",\"start\":10,\"end\":11}\n{\"name\":\"b\",\"start\":10,\"end\":9}\n")
        }
        #expect(throws: ScenarioError("f.jsonl:1: not a JSON object")) { try FaultFileParser.parse("name=a", file: "f.jsonl") }
        #expect(throws: ScenarioError("faults.jsonl:1: name must be a non-empty string")) { try FaultFileParser.parse("{\"start\":1,\"end\":2}") }
        #expect(throws: ScenarioError("faults.jsonl:1: end must be unix seconds or an ISO 8601 time")) {
            try FaultFileParser.parse("{\"name\":\"a\",\"start\":1,\"end\":\"soon\"}")
        }
    }
}

@Suite struct ChaosScenarioTests {
    @Test func theChaosScenarioParsesAndKeepsItsLengthUnderARateOverride() throws {
        let path = ScenarioTests.directory.appendingPathComponent("chaos.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("# chaos:"))
        var scenario = try ScenarioParser.parse(text, file: path)
        #expect(scenario.name == "chaos" && scenario.http == .h1 && scenario.mode == .open)
        #expect(scenario.totalDuration == .seconds(220), "long enough for the five faults of loadtests/chaos/run.sh and their recovery")
        scenario.rate = 300
        scenario.stages = []  // what --rate does
        #expect(scenario.totalDuration == .seconds(220))
    }
}

@Suite struct FaultReportTests {
    static let runStart = Date(timeIntervalSince1970: 1_000_000)

    /// `perSecond` requests a second from `from` to `to` (seconds into the run), evenly spaced.
    static func traffic(from: Int, to: Int, perSecond: Int = 100, latency: (Double) -> Double = { _ in 5 },
                        failed: (Double) -> Bool = { _ in false }) -> [RequestSample] {
        (from * perSecond..<to * perSecond).map { index in
            let sentAt = Double(index) / Double(perSecond)
            let fails = failed(sentAt)
            return RequestSample(sentAt: sentAt, latencyMilliseconds: latency(sentAt), failed: fails, status: fails ? 503 : 200)
        }
    }

    static func fault(_ name: String, _ start: Double, _ end: Double) -> FaultWindow {
        FaultWindow(name: name, start: runStart.addingTimeInterval(start), end: runStart.addingTimeInterval(end))
    }

    @Test func aFaultsRequestsAreThoseInFlightDuringItsWindow() {
        // 5 ms everywhere, except that requests sent in [40, 50) fail; one sent at 39.99 hangs 2 s into the window.
        var requests = Self.traffic(from: 0, to: 80, failed: { (40..<50).contains($0) })
        requests[3999].latencyMilliseconds = 2000
        let report = FaultReport(faults: [Self.fault("redis-kill", 40, 50)], requests: requests, runStart: Self.runStart, runSeconds: 80)
        let window = report.windows[0]
        #expect(window.startSecond == 40 && window.endSecond == 50)
        #expect(window.during.requests == 1001, "the 1000 sent inside, and the one sent before that was still waiting")
        #expect(window.during.errors == 1000)
        #expect(window.during.statuses == ["503": 1000, "200": 1])
        #expect(window.during.max == 2000)
        #expect(report.inside.requests == 1001)
        #expect(report.outside.requests == 8000 - 1001)
        #expect(report.outside.errors == 0 && report.outside.p99 == 5)
        #expect(window.baseline.requests == 2999, "the 30 s before the start, without the request caught by the fault")
        #expect(window.baseline.p99 == 5)
        #expect(window.recoverySeconds == 0, "healthy from the first second after the end")
    }

    @Test func recoveryIsTheFirstOfThreeHealthySecondsAfterTheEnd() {
        // After a fault over [40, 50): errors until 52, a p99 of 100 ms until 55, then the baseline again.
        let requests = Self.traffic(from: 0, to: 80, latency: { (40..<55).contains($0) ? 100 : 5 }, failed: { (40..<52).contains($0) })
        let report = FaultReport(faults: [Self.fault("postgres-cut", 40, 50)], requests: requests, runStart: Self.runStart, runSeconds: 80)
        #expect(report.windows[0].recoverySeconds == 5)
        #expect(report.windows[0].during.p99 == 100)
    }

    @Test func oneHealthySecondIsNotRecovery() {
        // Second 51 is healthy on its own, 52 is not: recovery counts from 53.
        let requests = Self.traffic(from: 0, to: 80, latency: { (40..<51).contains($0) || (52..<53).contains($0) ? 300 : 5 })
        let report = FaultReport(faults: [Self.fault("edge-sigterm", 40, 50)], requests: requests, runStart: Self.runStart, runSeconds: 80)
        #expect(report.windows[0].recoverySeconds == 3)
    }

    @Test func recoveryWithinTheToleranceOfTheBaseline() {
        // Baseline p99 20 ms: 29 ms afterwards is within +10 ms (and 1.5 x); 4 errors in 1000 (0.4%) within 0.5 points.
        let requests = Self.traffic(from: 0, to: 80, perSecond: 1000, latency: { $0 < 40 ? 20 : ($0 < 50 ? 500 : 29) },
                                    failed: { $0 >= 50 && Int(($0 * 1000).rounded()) % 250 == 0 })
        let report = FaultReport(faults: [Self.fault("row-lock", 40, 50)], requests: requests, runStart: Self.runStart, runSeconds: 80)
        #expect(report.windows[0].baseline.p99 == 20)
        #expect(report.windows[0].recoverySeconds == 0)
    }

    @Test func notRecoveredBeforeTheNextFaultIsNil() {
        // The second fault's baseline holds the first's slow aftermath (400 ms), so its own must be slower still.
        let requests = Self.traffic(from: 0, to: 80, latency: { $0 >= 50 ? 900 : ($0 >= 40 ? 400 : 5) })
        let report = FaultReport(faults: [Self.fault("postgres-restart", 40, 45), Self.fault("postgres-cut", 50, 60)], requests: requests,
                                 runStart: Self.runStart, runSeconds: 80)
        #expect(report.windows[0].recoverySeconds == nil)
        #expect(report.windows[1].recoverySeconds == nil, "slow until the end of the run")
        #expect(report.lines[0].contains("not recovered"))
    }

    @Test func aBaselineWithoutUnaffectedRequestsIsTheWholeRunsOutside() {
        let requests = Self.traffic(from: 0, to: 40, latency: { $0 < 10 ? 8 : 5 })
        let report = FaultReport(faults: [Self.fault("early", 0, 10)], requests: requests, runStart: Self.runStart, runSeconds: 40)
        #expect(report.windows[0].baseline == report.outside)
        #expect(report.windows[0].recoverySeconds == 0)
    }

    @Test func percentilesAreNearestRank() {
        let requests = (1...200).map { RequestSample(sentAt: 0, latencyMilliseconds: Double($0), failed: false, status: 200) }
        let figures = FaultFigures(requests)
        #expect(figures.p50 == 100 && figures.p99 == 198 && figures.max == 200)
        #expect(FaultFigures([RequestSample]()).p99 == 0)
    }

    @Test func theReportShadesEachWindowOnTheLatencyChart() throws {
        let scenario = Scenario(name: "chaos")
        var recorder = LoadRecorder(keepingRequests: true)
        for sample in Self.traffic(from: 0, to: 30, perSecond: 10, latency: { (10..<15).contains($0) ? 900 : 5 }) {
            let latency = Duration.microseconds(Int64(sample.latencyMilliseconds * 1000))
            recorder.record(.webhook, status: sample.status, latency: latency, second: Int(sample.answeredAt),
                            sentAt: .microseconds(Int64(sample.sentAt * 1_000_000)))
        }
        recorder.finish(at: 29)
        #expect(recorder.requests?.count == 300)
        var results = LoadResults(scenario: scenario, recorder: recorder, startedAt: Self.runStart, seconds: 30)
        results.faults = FaultReport(faults: [Self.fault("postgres-cut", 10, 15)], requests: recorder.requests ?? [], runStart: Self.runStart,
                                     runSeconds: 30)
        let html = HTMLReport.render(results)
        let chart = try #require(html.range(of: "<svg id=\"latency-over-time\"").map { html[$0.lowerBound...] })
        let latencyChart = String(chart[..<(chart.range(of: "</svg>")?.upperBound ?? chart.endIndex)])
        #expect(latencyChart.contains("<rect class=\"fault\""))
        #expect(latencyChart.contains("<text class=\"fault-name\""))
        #expect(latencyChart.contains(">postgres-cut</text>"))
        #expect(html.contains("<table id=\"faults\">"))
        let decoded = try JSONDecoder.iso8601.decode(LoadResults.self, from: results.json())
        #expect(decoded.faults?.windows.first?.name == "postgres-cut")
        #expect(decoded.faults?.windows.first?.during.requests == 50)
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

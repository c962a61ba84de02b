import Foundation

/// A self-contained HTML report (inline SVG, no external assets): latency over time, the
/// percentile distribution, and throughput per second by status, then the numbers. Written as
/// XHTML so that any XML parser can read it.
public enum HTMLReport {
    public static func render(_ results: LoadResults) -> String {
        let verdict = results.passed ? "PASS" : "FAIL"
        var html = """
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
        <head><meta charset="utf-8"/><title>\(escape(results.scenario)) \(verdict)</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
        h1{font-size:20px}h2{font-size:16px;margin-top:28px}
        table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
        td:first-child,th:first-child{text-align:left}.pass{color:#17702f}.fail{color:#b00020;font-weight:bold}
        svg{background:#fafafa;border:1px solid #e4e4e4}svg text{font-size:11px;fill:#555}
        </style></head>
        <body>
        <h1>\(escape(results.scenario)): <span class="\(results.passed ? "pass" : "fail")">\(verdict)</span></h1>
        <p>\(escape(results.description))</p>
        <p>\(escape(results.target)), \(escape(results.mode)), \(escape(results.http)), \(String(format: "%.1f", results.seconds)) s,
        \(results.overall.latency.count) requests, \(String(format: "%.0f", results.overall.throughput))/s\(results.plannedRate.map { String(format: " (planned %.0f/s)", $0) } ?? "").
        Latency is measured from each request's planned send time.</p>

        """
        html += "<h2>Latency over time</h2>\n" + latencyOverTime(results.timeline, faults: results.faults?.windows ?? [])
        if let faults = results.faults { html += faultTable(faults) }
        html += "<h2>Latency by percentile</h2>\n" + percentileDistribution(results.percentiles)
        html += "<h2>Throughput per second by status</h2>\n" + throughputByStatus(results.timeline)
        html += "<h2>Numbers</h2>\n<table id=\"results\"><tr><th>kind</th><th>count</th><th>rate/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th>statuses</th></tr>\n"
        for item in results.kinds + [results.overall] {
            let l = item.latency
            let statuses = LoadResults.describe(item.statuses, pair: ": ", separator: ", ")
            html += "<tr><td>\(escape(item.kind))</td><td>\(l.count)</td><td>\(String(format: "%.0f", item.throughput))</td><td>\(LoadResults.ms(l.p50))</td>"
                + "<td>\(LoadResults.ms(l.p90))</td><td>\(LoadResults.ms(l.p99))</td><td>\(LoadResults.ms(l.p999))</td><td>\(LoadResults.ms(l.max))</td>"
                + "<td>\(l.errors)</td><td>\(escape(statuses))</td></tr>\n"
        }
        html += "</table>\n"
        if !results.thresholds.isEmpty {
            html += "<h2>Thresholds</h2>\n<ul>\n"
            for outcome in results.thresholds {
                html += "<li class=\"\(outcome.passed ? "pass" : "fail")\">\(escape(outcome.threshold)): measured \(String(format: "%.3f", outcome.measured)), \(outcome.passed ? "pass" : "FAIL")</li>\n"
            }
            html += "</ul>\n"
        }
        if let verification = results.verification {
            html += "<h2>Correctness</h2>\n<ul>\n"
            for check in verification.checks {
                html += "<li class=\"\(check.passed ? "pass" : "fail")\">\(escape(check.name)): \(escape(check.detail))</li>\n"
            }
            html += "</ul>\n"
        }
        return html + "</body>\n</html>\n"
    }

    // MARK: - Charts

    static let width = 1000.0, height = 300.0, left = 60.0, right = 20.0, top = 20.0, bottom = 40.0

    /// p50 and p99 per second; each fault window (if any) shaded behind them, named at the top.
    static func latencyOverTime(_ timeline: [SecondSample], faults: [FaultReport.Window] = []) -> String {
        let maxY = niceCeiling(timeline.map(\.p99).max() ?? 1)
        let maxX = Double(max(1, timeline.count, Int((faults.map(\.endSecond).max() ?? 0).rounded(.up))))
        func point(_ second: Int, _ value: Double) -> String {
            String(format: "%.1f,%.1f", x(Double(second) + 0.5, maxX), y(value, maxY))
        }
        let p50 = timeline.map { point($0.second, $0.p50) }.joined(separator: " ")
        let p99 = timeline.map { point($0.second, $0.p99) }.joined(separator: " ")
        var shading = ""
        for (index, fault) in faults.enumerated() {
            let from = x(max(0, fault.startSecond), maxX), to = x(max(0, fault.endSecond), maxX)
            let label = "\(escape(fault.name)): \(String(format: "%.1f", fault.startSecond))-\(String(format: "%.1f", fault.endSecond)) s"
            shading += String(format: "<rect class=\"fault\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", from, top, max(1, to - from), height - top - bottom)
                + " fill=\"#f4a261\" fill-opacity=\"0.3\"><title>\(label)</title></rect>\n"
            // Names alternate between two rows so that neighbouring windows do not overwrite each other.
            shading += String(format: "<text class=\"fault-name\" x=\"%.1f\" y=\"%.1f\"", from + 2, top + 12 + Double(index % 2) * 13)
                + " style=\"fill:#9c4a00\">\(escape(fault.name))</text>\n"
        }
        return svg(id: "latency-over-time", xLabel: "seconds", yLabel: "ms", maxX: maxX, maxY: maxY) + shading + """
        <polyline class="p99" fill="none" stroke="#d1495b" stroke-width="1.5" points="\(p99)"/>
        <polyline class="p50" fill="none" stroke="#00798c" stroke-width="1.5" points="\(p50)"/>
        <text x="\(width - 150)" y="\(top + 12)" style="fill:#00798c">p50</text><text x="\(width - 110)" y="\(top + 12)" style="fill:#d1495b">p99</text>
        </svg>

        """
    }

    /// Each fault window's figures against its baseline (`RecoveryCriterion`), then all requests in and out of faults.
    static func faultTable(_ faults: FaultReport) -> String {
        var html = "<table id=\"faults\"><tr><th>fault</th><th>start s</th><th>length s</th><th>requests</th><th>errors</th><th>p50 ms</th>"
            + "<th>p99 ms</th><th>max ms</th><th>baseline p99 ms</th><th>baseline errors</th><th>recovered after s</th><th>statuses</th></tr>\n"
        for window in faults.windows {
            let d = window.during
            html += "<tr><td>\(escape(window.name))</td><td>\(String(format: "%.1f", window.startSecond))</td>"
                + "<td>\(String(format: "%.1f", window.endSecond - window.startSecond))</td><td>\(d.requests)</td><td>\(d.errors)</td>"
                + "<td>\(LoadResults.ms(d.p50))</td><td>\(LoadResults.ms(d.p99))</td><td>\(LoadResults.ms(d.max))</td>"
                + "<td>\(LoadResults.ms(window.baseline.p99))</td><td>\(String(format: "%.2f%%", window.baseline.errorRate * 100))</td>"
                + "<td>\(window.recoverySeconds.map { "\($0)" } ?? "not recovered")</td>"
                + "<td>\(escape(LoadResults.describe(d.statuses, pair: ": ", separator: ", ")))</td></tr>\n"
        }
        for (name, figures) in [("in flight during a fault", faults.inside), ("outside every fault", faults.outside)] {
            html += "<tr><td>\(name)</td><td></td><td></td><td>\(figures.requests)</td><td>\(figures.errors)</td><td>\(LoadResults.ms(figures.p50))</td>"
                + "<td>\(LoadResults.ms(figures.p99))</td><td>\(LoadResults.ms(figures.max))</td><td></td><td></td><td></td>"
                + "<td>\(escape(LoadResults.describe(figures.statuses, pair: ": ", separator: ", ")))</td></tr>\n"
        }
        let c = faults.criterion
        return html + "</table>\n<p>A fault's requests are those in flight at any moment of its window. Recovered: from that many seconds after "
            + "the window's end, \(c.stableSeconds) seconds in a row (by planned send time) had an error rate within "
            + "\(String(format: "%.1f", c.errorRateMargin * 100)) points of the baseline's and a p99 within max(\(String(format: "%.1f", c.latencyFactor)) x, "
            + "+\(String(format: "%.0f", c.latencySlackMilliseconds)) ms) of the baseline's; the baseline is the "
            + "\(String(format: "%.0f", c.baselineSeconds)) s before the fault, requests in flight during no fault.</p>\n"
    }

    /// The HdrHistogram plot: x is 1/(1-percentile) on a log scale, so the tail gets the room.
    static func percentileDistribution(_ points: [PercentilePoint]) -> String {
        let usable = points.filter { $0.percentile < 100 }
        let maxY = niceCeiling(usable.map(\.milliseconds).max() ?? 1)
        let maxX = log10(1 / (1 - 0.99999))
        func px(_ percentile: Double) -> Double { left + log10(1 / (1 - percentile / 100)) / maxX * (width - left - right) }
        let line = usable.map { String(format: "%.1f,%.1f", px($0.percentile), y($0.milliseconds, maxY)) }.joined(separator: " ")
        var labels = ""
        for percentile in [0.0, 90, 99, 99.9, 99.99, 99.999] {
            let text = percentile == 0 ? "0" : "\(percentile)"
            let anchor = percentile == 99.999 ? "end" : "middle"  // the last label stays inside the frame
            labels += String(format: "<text x=\"%.1f\" y=\"%.1f\" ", px(percentile), height - 22) + "text-anchor=\"\(anchor)\">\(text)%</text>\n"
        }
        return svg(id: "percentile-distribution", xLabel: "percentile", yLabel: "ms", maxX: nil, maxY: maxY) + labels + """
        <polyline class="latency" fill="none" stroke="#30638e" stroke-width="2" points="\(line)"/>
        </svg>

        """
    }

    static func throughputByStatus(_ timeline: [SecondSample]) -> String {
        let maxY = niceCeiling(Double(timeline.map(\.count).max() ?? 1))
        let maxX = Double(max(1, timeline.count))
        let codes = Array(Set(timeline.flatMap { $0.statuses.keys })).sorted()
        // A shade per code within its class's colour: greens for 2xx, ambers for 4xx, reds for 5xx.
        let shades = ["2": ["#1b7a2b", "#3fa34d", "#79c27f", "#a9d8a8"], "3": ["#5c80bc"], "4": ["#b8860b", "#e3a72f", "#f0c75e", "#d9822b", "#f5dd9a", "#c96f1a"],
                      "5": ["#c8102e", "#8b0a1f", "#e0505f"], "0": ["#333333"]]
        var palette: [String: String] = [:]
        for (index, code) in codes.enumerated() {
            let family = shades[String(code.prefix(1))] ?? ["#888888"]
            palette[code] = family[codes[..<index].filter { $0.prefix(1) == code.prefix(1) }.count % family.count]
        }
        var bars = ""
        let barWidth = max(1, (width - left - right) / maxX - 1)
        for sample in timeline {
            var stacked = 0.0
            for code in codes {
                guard let count = sample.statuses[code], count > 0 else { continue }
                let bottomY = y(stacked, maxY), topY = y(stacked + Double(count), maxY)
                let colour = palette[code] ?? "#888"
                bars += "<rect class=\"s\(code)\" " + String(format: "x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", x(Double(sample.second), maxX),
                                                               topY, barWidth, bottomY - topY)
                    + " fill=\"\(colour)\"><title>\(sample.second)s: \(code) x \(count)</title></rect>\n"
                stacked += Double(count)
            }
        }
        var legend = ""
        for (index, code) in codes.enumerated() {
            let colour = palette[code] ?? "#888"
            legend += String(format: "<text x=\"%.0f\" y=\"%.0f\"", width - 60 - Double(codes.count - index - 1) * 45, top + 12)
                + " style=\"fill:\(colour)\">\(code == "0" ? "none" : code)</text>\n"
        }
        return svg(id: "throughput-by-status", xLabel: "seconds", yLabel: "requests/s", maxX: maxX, maxY: maxY) + bars + legend + "</svg>\n"
    }

    // MARK: - Drawing

    static func x(_ value: Double, _ maxX: Double) -> Double { left + value / maxX * (width - left - right) }
    static func y(_ value: Double, _ maxY: Double) -> Double { height - bottom - value / maxY * (height - top - bottom) }

    /// The SVG element with axes and gridlines; the caller adds the data and closes it.
    static func svg(id: String, xLabel: String, yLabel: String, maxX: Double?, maxY: Double) -> String {
        var out = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        // Five steps: a 1, 2 or 5 ceiling divides into round gridlines (0.2, 0.4 or 1 of a power of ten).
        for step in 0...5 {
            let value = maxY * Double(step) / 5
            let py = y(value, maxY)
            out += String(format: "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>", left, py, width - right, py)
            out += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", left - 6, py + 4) + "\(label(value))</text>\n"
        }
        if let maxX {
            for step in 0...5 {
                let value = maxX * Double(step) / 5
                out += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", x(value, maxX), height - 22, value)
            }
        }
        out += "<text x=\"\(Int(width / 2))\" y=\"\(Int(height - 6))\" text-anchor=\"middle\">\(xLabel)</text>\n"
        out += "<text x=\"14\" y=\"\(Int(height / 2))\" transform=\"rotate(-90 14 \(Int(height / 2)))\" text-anchor=\"middle\">\(yLabel)</text>\n"
        out += String(format: "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>\n", left, height - bottom, width - right, height - bottom)
        return out
    }

    static func label(_ value: Double) -> String {
        value >= 10 || value == 0 ? String(format: "%.0f", value) : String(format: "%.2g", value)
    }

    /// 1, 2 or 5 times a power of ten, at least `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 5, 10] where factor * power >= value { return factor * power }
        return 10 * power
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

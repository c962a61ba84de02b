extension Duration {
    /// Whole nanoseconds (saturating), for APIs that take integers.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return scaled + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds (saturating), for settings Postgres and Redis take in milliseconds.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    /// Seconds as a floating-point value, for reports and headers.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

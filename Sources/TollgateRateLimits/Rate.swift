import TollgateCore

/// A rate: `count` requests per `period`. Written in rules files as `N/s`, `N/min`, `N/h`, `N/d`
/// or `N/<duration>` (`100/5m`, `10/250ms`).
public struct Rate: Sendable, Hashable, CustomStringConvertible {
    public let count: Int64
    public let period: Duration

    public init(count: Int64, period: Duration) {
        self.count = count
        self.period = period
    }

    /// Parses the rules-file syntax; nil for anything else (zero counts and zero periods included).
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int64(parts[0].trimmingSpaces()), count > 0, count <= 1_000_000_000 else { return nil }
        let unit = parts[1].trimmingSpaces()
        let period: Duration
        switch unit {
        case "s", "sec", "second": period = .seconds(1)
        case "min", "minute": period = .seconds(60)
        case "h", "hour": period = .seconds(3600)
        case "d", "day": period = .seconds(86_400)
        default:
            guard let parsed = SettingParser.duration(unit) else { return nil }
            period = parsed
        }
        guard period > .zero, period <= .seconds(366 * 86_400) else { return nil }
        self.init(count: count, period: period)
    }

    /// The window in whole seconds (for the `w=` of RateLimit-Policy), at least 1.
    public var windowSeconds: Int64 { max(1, period.components.seconds) }

    public var description: String { "\(count)/\(period)" }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// Where a configuration value came from, so that every error can point at it.
public enum ConfigurationOrigin: Sendable, Equatable, CustomStringConvertible {
    /// A position in a YAML file (1-based line and column).
    case file(path: String, line: Int, column: Int)
    /// An environment variable that overrode the file.
    case environment(variable: String)
    /// The documented default.
    case defaultValue

    public var description: String {
        switch self {
        case let .file(path, line, column): "\(path):\(line):\(column)"
        case let .environment(variable): "environment variable \(variable)"
        case .defaultValue: "default"
        }
    }
}

/// One problem found in a configuration, with its origin. Printed as `origin: message`.
public struct ConfigurationIssue: Sendable, Equatable, CustomStringConvertible {
    public var origin: ConfigurationOrigin
    public var message: String

    public init(_ origin: ConfigurationOrigin, _ message: String) {
        self.origin = origin
        self.message = message
    }

    public var description: String { "\(origin): \(message)" }
}

/// A configuration that cannot be used. Holds every problem found, not just the first,
/// so that an operator fixes a file in one pass.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigurationIssue]

    public init(issues: [ConfigurationIssue]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

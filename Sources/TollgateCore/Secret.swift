/// A secret value. Its description is redacted so that it cannot reach a log line or error by accident.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret bytes as text. Read it only where it is used (a MAC key, a password on the wire).
    public let exposedValue: String

    public init(_ value: String) {
        self.exposedValue = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}


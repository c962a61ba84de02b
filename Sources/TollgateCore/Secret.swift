/// A secret value. Its description is redacted so that it cannot reach a log line or error by accident.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret bytes as text. Read it only where it is used (a MAC key, a password on the wire).
    public let exposedValue: String

    public init(_ value: String) {
        self.exposedValue = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// No children: `dump(_:)` of a secret, or of any value holding one, would otherwise print
    /// ``exposedValue``, and so would any code that walks a `Mirror`.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

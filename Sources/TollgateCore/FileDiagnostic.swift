/// One problem in a file that operators edit (rules, catalogs), printed as `file:line:col: message`:
/// the format editors and CI annotations understand.
public struct FileDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Every diagnostic from loading a directory of such files; a load that has any is refused whole.
public struct FileDiagnostics: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [FileDiagnostic]

    public init(_ diagnostics: [FileDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

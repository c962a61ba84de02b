import Foundation
import TollgateCore

/// How configuration names a secret: `env:NAME`, `file:PATH`, or (dev only) a literal.
public enum SecretReference: Sendable, Equatable, CustomStringConvertible {
    case environment(String)
    case file(String)
    /// Allowed so that the dev config works out of the box; loading one logs a warning.
    case literal(Secret)

    public init(parsing text: String) {
        if text.hasPrefix("env:") {
            self = .environment(String(text.dropFirst(4)))
        } else if text.hasPrefix("file:") {
            self = .file(String(text.dropFirst(5)))
        } else {
            self = .literal(Secret(text))
        }
    }

    /// Resolves the reference. An unset variable or unreadable file is an error: a secret that
    /// silently resolves to nothing would fail open.
    public func resolve(environment: [String: String]) throws(SecretResolutionError) -> Secret {
        switch self {
        case .environment(let name):
            guard !name.isEmpty else { throw .emptyName }
            guard let value = environment[name], !value.isEmpty else { throw .unsetVariable(name) }
            return Secret(value)
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path),
                  let text = String(data: data, encoding: .utf8)
            else { throw .unreadableFile(path) }
            // Files written by `echo` or editors end with a newline that is not part of the secret.
            let value = text.trimmingCharacters(in: .newlines)
            guard !value.isEmpty else { throw .emptyFile(path) }
            return Secret(value)
        case .literal(let secret):
            return secret
        }
    }

    public var isLiteral: Bool {
        if case .literal = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        case .literal: "<literal>"
        }
    }
}

public enum SecretResolutionError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyName
    case unsetVariable(String)
    case unreadableFile(String)
    case emptyFile(String)

    public var description: String {
        switch self {
        case .emptyName: "secret reference 'env:' names no variable"
        case .unsetVariable(let name): "secret environment variable \(name) is not set"
        case .unreadableFile(let path): "secret file \(path) cannot be read"
        case .emptyFile(let path): "secret file \(path) is empty"
        }
    }
}

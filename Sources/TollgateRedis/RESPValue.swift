/// A RESP2 reply as Tollgate sees it.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    /// An error reply (`-ERR ...`). Top-level errors are thrown as ``RedisError/server(_:)``;
    /// this case appears only nested inside arrays.
    case error(RedisServerError)
    case integer(Int64)
    case bulkString([UInt8])
    case null
    case array([RESPValue])

    /// The reply as text, for simple and bulk strings.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}

/// An error reply from the server, split into its kind (first word, e.g. `NOSCRIPT`, `WRONGTYPE`)
/// and the rest of the message, so callers can branch on the kind.
public struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public var kind: String
    public var message: String

    public init(reply: String) {
        let parts = reply.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        self.kind = parts.first.map(String.init) ?? "ERR"
        self.message = parts.count > 1 ? String(parts[1]) : ""
    }

    public var description: String { message.isEmpty ? kind : "\(kind) \(message)" }
}

/// Everything that can go wrong with a Redis call. Callers decide: the dedup and rate-limit
/// paths treat every case but ``server(_:)`` as "Redis unavailable" and fall back.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server answered with an error reply.
    case server(RedisServerError)
    /// No reply within the command timeout.
    case timeout
    /// The connection closed before the reply arrived.
    case connectionClosed
    /// No connection is open (the pool is reconnecting or not started).
    case unavailable
    /// The byte stream was not valid RESP; the connection is closed.
    case protocolViolation(String)
    /// A reply of a type the command cannot produce.
    case unexpectedReply(String)
    /// The TLS handshake failed: a certificate that does not chain to the CA or does not name the
    /// host, or a server that does not speak TLS on that port. The connection is closed.
    case tls(String)

    public var description: String {
        switch self {
        case .server(let error): "redis error reply: \(error)"
        case .timeout: "redis command timed out"
        case .connectionClosed: "redis connection closed"
        case .unavailable: "no redis connection available"
        case .protocolViolation(let reason): "redis protocol violation: \(reason)"
        case .unexpectedReply(let reply): "unexpected redis reply: \(reply)"
        case .tls(let reason): "redis TLS failed: \(reason)"
        }
    }

    /// A short label for metrics (bounded set of values).
    public var metricLabel: String {
        switch self {
        case .server(let error): error.kind.count <= 16 && error.kind.allSatisfy(\.isUppercase) ? error.kind : "ERR"
        case .timeout: "timeout"
        case .connectionClosed: "closed"
        case .unavailable: "unavailable"
        case .protocolViolation: "protocol"
        case .unexpectedReply: "unexpected"
        case .tls: "tls"
        }
    }
}

/// One command: its arguments, the first being the command name.
public struct RESPCommand: Sendable, Hashable {
    public var arguments: [[UInt8]]

    public init(_ name: String, _ arguments: [RESPArgument] = []) {
        self.arguments = [Array(name.utf8)] + arguments.map(\.bytes)
    }

    public init(arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty, "a command needs a name")
        self.arguments = arguments
    }

    /// The command name upper-cased, for metrics and logs (never the arguments: they may be keys with ids).
    public var name: String { String(decoding: arguments[0], as: UTF8.self).uppercased() }
}

/// An argument to a command: text, an integer, or raw bytes.
public struct RESPArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(_ text: String) { self.bytes = Array(text.utf8) }
    public init(_ value: Int) { self.bytes = Array(String(value).utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}

import Crypto
import TollgateCore

/// The commands Tollgate uses, typed.
extension RedisClient {
    /// `SET` conditions.
    public enum SetCondition: Sendable {
        case always
        /// `NX`: only if the key does not exist (idempotency and dedup claims).
        case ifNotExists
        /// `XX`: only if the key exists.
        case ifExists
    }

    /// `SET` expirations.
    public enum Expiration: Sendable {
        case none
        /// `PX`
        case milliseconds(Int)
        /// `EX`
        case seconds(Int)
    }

    public func ping() async throws(RedisError) {
        let reply = try await send(RESPCommand("PING"))
        guard reply.string == "PONG" else { throw .unexpectedReply("\(reply)") }
    }

    /// `GET key`: the value, or nil if the key does not exist.
    public func get(_ key: String) async throws(RedisError) -> [UInt8]? {
        switch try await send(RESPCommand("GET", [RESPArgument(key)])) {
        case .bulkString(let bytes): return bytes
        case .null: return nil
        case let other: throw .unexpectedReply("\(other)")
        }
    }

    /// `SET key value [NX|XX] [PX ms|EX s]`. Returns false when the condition stopped the write.
    @discardableResult
    public func set(_ key: String, to value: RESPArgument, condition: SetCondition = .always, expiration: Expiration = .none) async throws(RedisError) -> Bool {
        var arguments: [RESPArgument] = [RESPArgument(key), value]
        switch condition {
        case .always: break
        case .ifNotExists: arguments.append("NX")
        case .ifExists: arguments.append("XX")
        }
        switch expiration {
        case .none: break
        case .milliseconds(let ms): arguments += ["PX", RESPArgument(ms)]
        case .seconds(let s): arguments += ["EX", RESPArgument(s)]
        }
        switch try await send(RESPCommand("SET", arguments)) {
        case .simpleString("OK"): return true
        case .null: return false
        case let other: throw .unexpectedReply("\(other)")
        }
    }

    /// `DEL key...`: how many keys were removed.
    @discardableResult
    public func delete(_ keys: [String]) async throws(RedisError) -> Int {
        let reply = try await send(RESPCommand("DEL", keys.map { RESPArgument($0) }))
        guard let count = reply.integer else { throw .unexpectedReply("\(reply)") }
        return Int(count)
    }

    /// Runs `script` by `EVALSHA`; if the server does not know it (`NOSCRIPT`, after a restart or
    /// `SCRIPT FLUSH`) loads it with `SCRIPT LOAD` and tries once more.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [RESPArgument], timeout: Duration? = nil) async throws(RedisError) -> RESPValue {
        let command = RESPCommand("EVALSHA", [RESPArgument(script.sha1), RESPArgument(keys.count)] + keys.map { RESPArgument($0) } + arguments)
        let timeout = timeout ?? configuration.commandTimeout
        do throws(RedisError) {
            return try await send(command, timeout: timeout)
        } catch .server(let error) where error.kind == "NOSCRIPT" {
            try await load(script)
            return try await send(command, timeout: timeout)
        }
    }

    /// `SCRIPT LOAD`; checks that the server's digest is ours.
    public func load(_ script: RedisScript) async throws(RedisError) {
        let reply = try await send(RESPCommand("SCRIPT", ["LOAD", RESPArgument(script.source)]))
        guard reply.string == script.sha1 else { throw .unexpectedReply("SCRIPT LOAD returned \(reply)") }
    }
}

/// A Lua script and its SHA-1 digest, the name `EVALSHA` calls it by.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).hexEncoded
    }
}

import CHiredis
import NIOCore

/// hiredis's reply reader: bytes in, parsed replies out. Owns the C reader and frees it.
///
/// Not thread-safe; each connection's decoder owns one and uses it on its event loop only.
final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK else {
            throw .protocolViolation(errorText)
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func nextReply() throws(RedisError) -> RESPValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw .protocolViolation(errorText) }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self).pointee)
    }

    private var errorText: String {
        withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func convert(_ reply: redisReply) -> RESPValue {
        func text() -> [UInt8] {
            guard let str = reply.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(reply.len)))
        }
        switch reply.type {
        case REDIS_REPLY_STRING: return .bulkString(text())
        case REDIS_REPLY_STATUS: return .simpleString(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(RedisServerError(reply: String(decoding: text(), as: UTF8.self)))
        case REDIS_REPLY_INTEGER: return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(reply.elements)).map { index in
                guard let element = reply.element[index] else { return .null }
                return convert(element.pointee)
            })
        default: return .null
        }
    }
}

/// Decodes RESP replies with hiredis. Split frames are fine: hiredis buffers partial replies.
public struct RESPReplyDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue

    private let reader = HiredisReader()

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try buffer.readWithUnsafeReadableBytes { bytes in
            try reader.feed(bytes)
            return bytes.count
        }
        // hiredis now holds every byte; hand on each complete reply it can parse. (The handler will
        // not call us again for an empty buffer, so all replies must leave in this call.)
        while let reply = try reader.nextReply() {
            context.fireChannelRead(Self.wrapInboundOut(reply))
        }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Encodes commands as RESP arrays of bulk strings with hiredis's `redisFormatCommandArgv`.
public struct RESPCommandEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RESPCommand

    public init() {}

    public func encode(data command: RESPCommand, out: inout ByteBuffer) throws {
        try Self.format(command) { out.writeBytes($0) }
    }

    /// Formats `command` and hands the encoded bytes to `body` before hiredis frees them.
    static func format(_ command: RESPCommand, _ body: (UnsafeRawBufferPointer) -> Void) throws(RedisError) {
        // hiredis wants argv as C pointers; lay the arguments out in one buffer and point into it.
        let joined = command.arguments.flatMap { $0 }
        var lengths = command.arguments.map(\.count)
        var target: UnsafeMutablePointer<CChar>?
        let length: Int32 = joined.withUnsafeBufferPointer { storage in
            let base = UnsafeRawPointer(storage.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
            var offset = 0
            var argv: [UnsafePointer<CChar>?] = lengths.map { count in
                defer { offset += count }
                return (base + offset).assumingMemoryBound(to: CChar.self)
            }
            return argv.withUnsafeMutableBufferPointer { argvPointer in
                lengths.withUnsafeMutableBufferPointer { lengthPointer in
                    redisFormatCommandArgv(&target, Int32(argvPointer.count), argvPointer.baseAddress, lengthPointer.baseAddress)
                }
            }
        }
        guard length >= 0, let target else { throw .protocolViolation("hiredis could not format the command") }
        defer { redisFreeCommand(target) }
        body(UnsafeRawBufferPointer(start: target, count: Int(length)))
    }
}

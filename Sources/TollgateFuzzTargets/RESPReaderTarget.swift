import NIOCore
import NIOEmbedded
import TollgateRedis

/// The RESP reader (`resp-reader`): hiredis behind `RESPReplyDecoder`, in the channel pipeline
/// the Redis connection uses, fed bytes as a server (or anything on that socket) might send them.
///
/// The first byte picks where the rest is cut in two, as TCP may deliver it. Invariant: the
/// replies decoded from the two reads equal those decoded from one (hiredis buffers partial
/// replies); a protocol error is fine, as long as both deliveries find it.
enum RESPReaderTarget {
    static let target = FuzzTarget("resp-reader", "RESP bytes -> replies through the hiredis reader; split delivery decodes the same") { bytes throws(FuzzInvariantViolation) in
        guard let cut = bytes.first else { return }
        let wire = Array(bytes.dropFirst())
        let split = wire.isEmpty ? 0 : Int(cut) % (wire.count + 1)
        let whole = decode([wire[...]])
        let parts = decode([wire[..<split], wire[split...]])
        if whole != parts {
            throw FuzzInvariantViolation(target: "resp-reader", message: "split at \(split): \(parts) differs from \(whole)")
        }
    }

    /// The replies decoded from `reads` in order, and whether the reader refused the stream.
    struct Decoded: Equatable, CustomStringConvertible {
        var replies: [RESPValue] = []
        var refused = false
        var description: String { "\(replies.count) replies\(refused ? ", refused" : "")" }
    }

    static func decode(_ reads: [ArraySlice<UInt8>]) -> Decoded {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPReplyDecoder()))
        var decoded = Decoded()
        defer { _ = try? channel.finish() }
        for read in reads where !read.isEmpty {
            do {
                try channel.writeInbound(ByteBuffer(bytes: read))
            } catch {
                decoded.refused = true
            }
            while let reply = try? channel.readInbound(as: RESPValue.self) { decoded.replies.append(reply) }
            if decoded.refused { break }
        }
        return decoded
    }
}

import NIOCore
import NIOEmbedded
import Testing
@testable import TollgateRedis

/// The hiredis-backed codec, driven through an embedded channel: no server, no sockets.
@Suite struct RESPCodecTests {
    func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            MessageToByteHandler(RESPCommandEncoder()),
            ByteToMessageHandler(RESPReplyDecoder()),
        ])
        return channel
    }

    func feed(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    @Test func decodesEveryReplyType() throws {
        let channel = try makeChannel()
        try feed(channel, "+OK\r\n-WRONGTYPE Operation against a key\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n*-1\r\n")
        #expect(try channel.readInbound(as: RESPValue.self) == .simpleString("OK"))
        #expect(try channel.readInbound(as: RESPValue.self) == .error(RedisServerError(reply: "WRONGTYPE Operation against a key")))
        #expect(try channel.readInbound(as: RESPValue.self) == .integer(42))
        #expect(try channel.readInbound(as: RESPValue.self) == .bulkString(Array("hello".utf8)))
        #expect(try channel.readInbound(as: RESPValue.self) == .null)
        #expect(try channel.readInbound(as: RESPValue.self) == .array([.integer(1), .bulkString([])]))
        #expect(try channel.readInbound(as: RESPValue.self) == .null)
        #expect(try channel.readInbound(as: RESPValue.self) == nil)
    }

    @Test func reassemblesRepliesSplitAtEveryByte() throws {
        let channel = try makeChannel()
        let wire = "*3\r\n$3\r\nfoo\r\n:-7\r\n*1\r\n+nested\r\n"
        for byte in wire.utf8 {
            #expect(try channel.readInbound(as: RESPValue.self) == nil)
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try channel.readInbound(as: RESPValue.self)
            == .array([.bulkString(Array("foo".utf8)), .integer(-7), .array([.simpleString("nested")])]))
    }

    @Test func bulkStringsCarryArbitraryBytes() throws {
        let channel = try makeChannel()
        var buffer = ByteBuffer(string: "$4\r\n")
        buffer.writeBytes([0, 13, 10, 255])
        buffer.writeString("\r\n")
        try channel.writeInbound(buffer)
        #expect(try channel.readInbound(as: RESPValue.self) == .bulkString([0, 13, 10, 255]))
    }

    @Test func garbageIsAProtocolViolation() throws {
        let channel = try makeChannel()
        #expect(throws: RedisError.self) { try feed(channel, "?what\r\n") }
    }

    @Test func encodesCommandsAsArraysOfBulkStrings() throws {
        let channel = try makeChannel()
        try channel.writeOutbound(RESPCommand("SET", ["key", RESPArgument(bytes: [0, 1]), "PX", 1500]))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        var expected = ByteBuffer(string: "*5\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n")
        expected.writeBytes([0, 1])
        expected.writeString("\r\n$2\r\nPX\r\n$4\r\n1500\r\n")
        #expect(written == expected)
    }

    @Test func encodesEmptyArguments() throws {
        let channel = try makeChannel()
        try channel.writeOutbound(RESPCommand("ECHO", [""]))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(written == ByteBuffer(string: "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"))
    }

    @Test func serverErrorSplitsKindFromMessage() {
        let error = RedisServerError(reply: "NOSCRIPT No matching script. Please use EVAL.")
        #expect(error.kind == "NOSCRIPT")
        #expect(error.message == "No matching script. Please use EVAL.")
        #expect(RedisError.server(error).metricLabel == "NOSCRIPT")
    }

    @Test func scriptDigestIsSHA1OfTheSource() {
        // Digest of "return 1" as Redis's SCRIPT LOAD reports it.
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}

/// The connection state machine as plain values.
@Suite struct RedisConnectionStateMachineTests {
    typealias Machine = RedisConnectionStateMachine<String>

    @Test func repliesGoToWaitersInOrder() {
        var machine = Machine()
        guard case .write = machine.enqueue("a"), case .write = machine.enqueue("b") else { Issue.record("not written"); return }
        guard case .succeed("a", .integer(1)) = machine.replyReceived(.integer(1)) else { Issue.record("a"); return }
        guard case .succeed("b", .integer(2)) = machine.replyReceived(.integer(2)) else { Issue.record("b"); return }
        #expect(machine.inFlight == 0)
    }

    @Test func errorRepliesFailOnlyTheirOwnWaiter() {
        var machine = Machine()
        _ = machine.enqueue("a")
        _ = machine.enqueue("b")
        let error = RedisServerError(reply: "ERR boom")
        guard case .failServerError("a", error) = machine.replyReceived(.error(error)) else { Issue.record("a"); return }
        guard case .succeed("b", _) = machine.replyReceived(.simpleString("OK")) else { Issue.record("b"); return }
    }

    @Test func timedOutCommandKeepsItsPlaceAndItsLateReplyIsDropped() {
        var machine = Machine()
        guard case .write(let slow) = machine.enqueue("slow") else { Issue.record("slow"); return }
        _ = machine.enqueue("fast")
        guard case .fail("slow") = machine.timeoutFired(id: slow) else { Issue.record("timeout"); return }
        guard case .none = machine.timeoutFired(id: slow) else { Issue.record("second timeout"); return }
        #expect(machine.inFlight == 2)
        guard case .discard = machine.replyReceived(.simpleString("late")) else { Issue.record("discard"); return }
        guard case .succeed("fast", .integer(2)) = machine.replyReceived(.integer(2)) else { Issue.record("fast"); return }
    }

    @Test func timeoutAfterReplyDoesNothing() {
        var machine = Machine()
        guard case .write(let id) = machine.enqueue("a") else { return }
        _ = machine.replyReceived(.null)
        guard case .none = machine.timeoutFired(id: id) else { Issue.record("should be none"); return }
    }

    @Test func closeFailsEveryWaiterAndEveryLaterCommand() {
        var machine = Machine()
        _ = machine.enqueue("a")
        guard case .write(let id) = machine.enqueue("b") else { return }
        _ = machine.enqueue("c")
        _ = machine.timeoutFired(id: id)
        #expect(machine.closed(.connectionClosed) == ["a", "c"])
        guard case .fail("d", .connectionClosed) = machine.enqueue("d") else { Issue.record("d"); return }
        #expect(machine.closed(.timeout) == [])
    }

    @Test func unsolicitedReplyClosesTheConnection() {
        var machine = Machine()
        guard case .closeConnection = machine.replyReceived(.simpleString("OK")) else { Issue.record("should close"); return }
    }
}

import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Testing
import TollgateConfig
@testable import TollgateHTTP
import TollgateTestSupport

/// Clients that misbehave on purpose: idle sockets, slow TLS, slow heads and bodies, too many
/// connections from one address, HTTP/2 rapid reset and bodies over a connection's budget. Each
/// test also shows a well-behaved request still served, and reads the guard's counters.
/// (Each test runs its own edge, so one test's cooling-off addresses do not reach the next.)
@Suite(.serialized) struct ConnectionGuardTests {
    @Test func idleSocketsAreClosedAtTheHandshakeDeadlineAndOneAddressCannotTakeEverySlot() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, configure: {
            $0.server.connectionGuard.tlsHandshakeTimeout = .milliseconds(500)
            $0.server.connectionGuard.maxConnectionsPerClient = 4
        }) { edge in
            let before = try await GuardCounters.read(edge)
            // Four sockets that never send a ClientHello take this address's four slots...
            var idle: [any Channel] = []
            for _ in 0..<4 { idle.append(try await RawClient.tcp(port: edge.edgePort)) }
            try await Task.sleep(for: .milliseconds(150))  // accepted (and counted) by the edge
            // ...so a fifth is closed at once, long before any deadline.
            let fifth = try await RawClient.tcp(port: edge.edgePort)
            let fifthClosedAfter = try #require(await RawClient.closed(fifth, within: .seconds(2)))
            #expect(fifthClosedAfter < .milliseconds(400))
            // The four are closed at the handshake deadline, freeing the slots.
            for channel in idle {
                let closedAfter = try #require(await RawClient.closed(channel, within: .seconds(5)))
                #expect(closedAfter < .seconds(3))
            }
            try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: .http1Only) { client in
                let (response, _) = try await client.fetch(edge.edge + "/healthz")
                #expect(response.status == .ok)
            }
            let after = try await GuardCounters.read(edge)
            #expect(after["tls_handshake_timeout", default: 0] - before["tls_handshake_timeout", default: 0] == 4)
            #expect(after["per_client_limit", default: 0] - before["per_client_limit", default: 0] == 1)
        }
    }

    /// A clock the cooling-off tests move by hand.
    final class ManualClock: Sendable {
        private let instant = NIOLockedValueBox(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLockedValue { $0 } }
        func advance(_ duration: Duration) { instant.withLockedValue { $0 += duration } }
    }

    @Test func addressesThatKeepMissingDeadlinesOrAbuseHTTP2CoolOffAndComeBack() {
        let clock = ManualClock()
        let clients = ClientConnectionCounts(maximumPerClient: 2, strikesBeforeCoolOff: 3, coolOff: .seconds(1), now: { clock.now }, spread: { 1 })
        #expect(clients.admit("a") == .admitted && clients.admit("a") == .admitted)
        #expect(clients.admit("a") == .overLimit)
        clients.release("a")
        #expect(clients.admit("a") == .admitted)

        clients.strike("b")
        clients.strike("b")
        #expect(clients.admit("b") == .admitted)  // two strikes of three: still welcome
        clients.release("b")
        clients.strike("b")
        #expect(clients.admit("b") == .coolingOff)
        #expect(clients.admit("c") == .admitted)  // other addresses are not affected
        clock.advance(.milliseconds(999))
        #expect(clients.admit("b") == .coolingOff)
        clock.advance(.milliseconds(1))
        #expect(clients.admit("b") == .admitted)
        clients.release("b")

        // Protocol abuse cools off at once, and a second cooling-off lasts twice as long.
        clients.abused("b")
        clock.advance(.milliseconds(1_500))
        #expect(clients.admit("b") == .coolingOff)
        clock.advance(.milliseconds(500))
        #expect(clients.admit("b") == .admitted)
        clients.release("b")
    }

    @Test func addressesThatCoolOffTogetherComeBackSpreadOut() {
        let clock = ManualClock()
        let clients = ClientConnectionCounts(maximumPerClient: 0, coolOff: .seconds(30), now: { clock.now })
        let addresses = (1...50).map { "127.0.1.\($0)" }
        for address in addresses { clients.abused(address) }
        func welcome() -> Int {
            addresses.count(where: { address in
                guard clients.admit(address) == .admitted else { return false }
                clients.release(address)
                return true
            })
        }
        // Each cool-off is 15 to 45 s: none ends in the first 14 s, all have by 46 s, and in
        // between they end a few at a time (with 50 uniform draws, each check below fails with a
        // probability under 10^-7).
        clock.advance(.seconds(14))
        #expect(welcome() == 0)
        clock.advance(.seconds(10))
        let byTwentyFour = welcome()
        clock.advance(.seconds(10))
        let byThirtyFour = welcome()
        #expect(byTwentyFour > 0 && byTwentyFour < byThirtyFour && byThirtyFour < 50)
        clock.advance(.seconds(12))
        #expect(welcome() == 50)
    }

    @Test func theTarpitHoldsEachConnectionHalfToOneAndAHalfTimesItsHoldUpToItsCapacity() {
        let tarpit = Tarpit(hold: .seconds(60), capacity: 200)
        let holds = (0..<200).compactMap { _ in tarpit.enter() }
        #expect(holds.count == 200 && tarpit.count == 200)
        #expect(holds.allSatisfy { $0 >= .seconds(30) && $0 <= .seconds(90) })
        // Spread out, not one instant: an address's sockets come back one by one.
        #expect(holds.contains { $0 < .seconds(45) } && holds.contains { $0 > .seconds(75) })
        #expect(tarpit.enter() == nil, "full: closed at once")
        tarpit.leave()
        #expect(tarpit.enter() != nil)
        #expect(Tarpit(hold: .zero, capacity: 10).enter() == nil, "off: closed at once")
        for _ in 0..<200 { tarpit.leave() }
        #expect(tarpit.count == 0)
    }

    @Test func strikesSpreadWiderThanTheWindowDoNotAddUpAndAQuietOffenderStartsOver() {
        let clock = ManualClock()
        let clients = ClientConnectionCounts(
            maximumPerClient: 0, strikesBeforeCoolOff: 3, strikeWindow: .seconds(60), coolOff: .seconds(1), now: { clock.now }, spread: { 1 }
        )
        // A provider behind a flaky network: a missed deadline a minute, for an hour, is always
        // served (a cool-off here lasts 10 minutes, so one would show at the next minute's admit).
        let patient = ClientConnectionCounts(
            maximumPerClient: 0, strikesBeforeCoolOff: 3, strikeWindow: .seconds(60), coolOff: .seconds(600), now: { clock.now }, spread: { 1 }
        )
        for _ in 0..<60 {
            #expect(patient.admit("provider") == .admitted)
            patient.strike("provider")
            patient.release("provider")
            clock.advance(.seconds(61))
        }
        #expect(patient.admit("provider") == .admitted)
        patient.release("provider")
        // The same three strikes within a minute do cool it off.
        for _ in 0..<3 {
            patient.strike("provider")
            clock.advance(.seconds(19))
        }
        #expect(patient.admit("provider") == .coolingOff)
        // An offender: its second cool-off is doubled, but after 16 cool-offs' quiet it starts over.
        clients.abused("offender")
        clock.advance(.seconds(1))
        clients.abused("offender")
        clock.advance(.seconds(1))
        #expect(clients.admit("offender") == .coolingOff)
        clock.advance(.seconds(1))
        #expect(clients.admit("offender") == .admitted)
        clients.release("offender")
        clock.advance(.seconds(16))
        clients.abused("offender")
        clock.advance(.seconds(1))
        #expect(clients.admit("offender") == .admitted)
    }

    @Test func theTableOfAddressesStaysBoundedWhateverTheAttackerHas() {
        let clock = ManualClock()
        let clients = ClientConnectionCounts(
            maximumPerClient: 4, strikesBeforeCoolOff: 2, coolOff: .seconds(1), maximumTracked: 10_000, now: { clock.now }, spread: { 1 }
        )
        // Each of 50,000 addresses connects, misses a deadline and goes (as idle sockets from a
        // large IPv6 network would): only 10,000 are remembered.
        func connectAndMissADeadline(_ address: String) {
            if clients.admit(address) == .admitted {
                clients.strike(address)
                clients.release(address)
            }
        }
        for n in 0..<50_000 { connectAndMissADeadline("10.\(n >> 16).\((n >> 8) & 255).\(n & 255)") }
        #expect(clients.tracked == 10_000)
        // Once their strikes are older than the window (60 s), they are swept as new addresses
        // arrive; open ones stay.
        #expect(clients.admit("192.0.2.1") == .admitted)
        clock.advance(.seconds(61))
        for n in 0..<2_000 { connectAndMissADeadline("172.16.\(n >> 8).\(n & 255)") }
        #expect(clients.tracked <= 2_001)
        #expect(clients.count(of: "192.0.2.1") == 1)
        // Addresses that cooled off are remembered for 16 cool-offs, then forgotten too.
        for n in 0..<100 { clients.abused("198.51.100.\(n)") }
        clock.advance(.seconds(16))
        #expect(clients.admit("198.51.100.1") == .admitted)  // refused for 1 s, then welcome again
        clients.release("198.51.100.1")
        clock.advance(.seconds(61))
        for n in 0..<20_000 { connectAndMissADeadline("203.0.\(n >> 8).\(n & 255)") }
        #expect(clients.tracked <= 10_000)
        // A well-behaved address leaves nothing behind.
        clients.release("192.0.2.1")
        #expect(clients.count(of: "192.0.2.1") == 0)
    }

    @Test func anIPv4ClientIsOneKeyHoweverItArrivesAndIPv6AddressesAreCountedOneByOne() throws {
        func key(_ address: String) throws -> String? { ClientConnectionCounts.key(for: try SocketAddress(ipAddress: address, port: 443)) }
        #expect(try key("198.51.100.7") == "198.51.100.7")
        #expect(try key("::ffff:198.51.100.7") == "198.51.100.7")
        #expect(try key("64:ff9b::198.51.100.7") == "198.51.100.7")
        #expect(try key("2001:db8:1:2::1") == "20010db8000100020000000000000001")
        // A neighbour in the same /64 (an office, a hotel) is not held to this one's account.
        #expect(try key("2001:db8:1:2::2") != key("2001:db8:1:2::1"))
    }

    @Test func aHandshakeWithoutARequestIsClosedAtTheFirstRequestDeadlineButARequestDisarmsIt() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, configure: {
            $0.server.connectionGuard.firstRequestTimeout = .milliseconds(500)
        }) { edge in
            let before = try await GuardCounters.read(edge)
            let silent = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath)
            let closedAfter = try #require(await RawClient.closed(silent.channel, within: .seconds(5)))
            #expect(closedAfter >= .milliseconds(400) && closedAfter < .seconds(2), "closed after \(closedAfter)")

            let prompt = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath)
            try await prompt.send("GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
            let answer = try await prompt.received(containing: "ok", within: .seconds(5))
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            // Well past the first-request deadline, the kept-alive connection is still open.
            #expect(await RawClient.closed(prompt.channel, within: .milliseconds(1200)) == nil)
            try await prompt.channel.close()

            let after = try await GuardCounters.read(edge)
            #expect(after["first_request_timeout", default: 0] - before["first_request_timeout", default: 0] == 1)
        }
    }

    @Test func slowHeadsAndSlowBodiesAreCutAtTheirDeadlines() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, configure: {
            $0.server.connectionGuard.requestHeadTimeout = .milliseconds(600)
            $0.server.connectionGuard.bodyReadTimeout = .milliseconds(600)
        }) { edge in
            let before = try await GuardCounters.read(edge)

            // A keep-alive connection whose second request's head arrives a byte every 100 ms.
            let slowHead = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath)
            try await slowHead.send("GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
            _ = try await slowHead.received(containing: "ok", within: .seconds(5))
            try await slowHead.send("GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Drip: ")
            let headCut = try await slowHead.drip(until: .seconds(5))
            #expect(headCut != nil && headCut! < .seconds(3))

            // A body declared as 1,000 bytes that arrives a byte every 100 ms.
            let slowBody = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath)
            try await slowBody.send("POST /v1/webhooks/nobody/stripe HTTP/1.1\r\nHost: edge\r\nContent-Length: 1000\r\n\r\n")
            let bodyCut = try await slowBody.drip(until: .seconds(5))
            #expect(bodyCut != nil && bodyCut! < .seconds(3))

            // The same request with its body sent at once is answered (unknown tenant: 404).
            let prompt = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath)
            try await prompt.send("POST /v1/webhooks/nobody/stripe HTTP/1.1\r\nHost: edge\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: 1000))
            let answer = try await prompt.received(containing: "\r\n\r\n", within: .seconds(5))
            #expect(answer.hasPrefix("HTTP/1.1 404"))
            try await prompt.channel.close()

            let after = try await GuardCounters.read(edge)
            #expect(after["request_head_timeout", default: 0] - before["request_head_timeout", default: 0] == 1)
            #expect(after["body_read_timeout", default: 0] - before["body_read_timeout", default: 0] == 1)
        }
    }

    @Test func http2RapidResetClosesTheConnectionAndOthersAreServed() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, configure: {
            $0.server.connectionGuard.tarpitHold = .zero  // the tarpit off: refusals close at once
        }) { edge in
            let before = try await GuardCounters.read(edge)
            try await RawClient.rapidReset(port: edge.edgePort, caPath: certificates.caPath)

            // Reconnecting is how an attacker gets around a per-connection limit: the address
            // cools off and its next connection is closed at accept, before any TLS...
            let again = try await RawClient.tcp(port: edge.edgePort)
            let refusedAfter = try #require(await RawClient.closed(again, within: .seconds(2)))
            #expect(refusedAfter < .milliseconds(500))
            // ...while another address is served.
            let other = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath, from: "127.0.0.2")
            try await other.send("GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
            #expect(try await other.received(containing: "ok", within: .seconds(5)).hasPrefix("HTTP/1.1 200"))
            try await other.channel.close()
            let after = try await GuardCounters.read(edge)
            #expect(after["http2_rapid_reset", default: 0] - before["http2_rapid_reset", default: 0] == 1)
            #expect(after["cooling_off", default: 0] - before["cooling_off", default: 0] == 1)
        }
    }

    /// A cooling-off address's connections are held, not closed: a closed socket is a reconnecting
    /// attacker's next connect (loadtests/RESULTS.md, Attack). Held ones get no byte back, are
    /// closed when their hold ends or when they send too much, take no `max_connections` slot,
    /// and past the tarpit's capacity the old immediate close applies.
    @Test func coolingOffConnectionsAreHeldUnansweredAndTakeNoConnectionSlot() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, configure: {
            $0.server.maxConnections = 2
            $0.server.connectionGuard.tarpitHold = .seconds(6)  // each held 3 to 9 s
            $0.server.connectionGuard.tarpitMaxConnections = 3
        }) { edge in
            let before = try await GuardCounters.read(edge)
            try await RawClient.rapidReset(port: edge.edgePort, caPath: certificates.caPath)

            // Three connections from the cooling-off address fill the tarpit; one sends a TLS
            // ClientHello's worth of bytes and gets nothing back.
            var held: [TextConnection] = []
            for _ in 0..<3 { held.append(try await RawClient.plain(port: edge.edgePort)) }
            try await held[0].send(String(repeating: "\u{16}", count: 512))
            // (A connect returns before the edge accepts: wait until all three are held, so that
            // the next one is the fourth to arrive.)
            #expect(await GuardCounters.tarpitted(edge, reaching: 3, within: .seconds(3)))
            // The fourth finds the tarpit full: closed at once.
            let overflow = try await RawClient.tcp(port: edge.edgePort)
            let overflowClosedAfter = try #require(await RawClient.closed(overflow, within: .seconds(2)))
            #expect(overflowClosedAfter < .milliseconds(500))
            #expect(await GuardCounters.tarpitted(edge) == 3)
            try await Task.sleep(for: .seconds(1))
            for connection in held { #expect(connection.channel.isActive) }
            #expect(held[0].received.text.isEmpty)

            // max_connections is 2 and three are held: another address is still served, twice at once.
            var genuine: [TextConnection] = []
            for _ in 0..<2 { genuine.append(try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath, from: "127.0.0.2")) }
            for connection in genuine {
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
                // (Well before the holds end: not served by a slot a held connection gave back.)
                #expect(try await connection.received(containing: "ok", within: .seconds(2)).hasPrefix("HTTP/1.1 200"))
                try await connection.channel.close()
            }

            // More than the read budget closes a held connection at once.
            try await held[1].send(String(repeating: "x", count: 20 << 10))
            #expect(await RawClient.closed(held[1].channel, within: .seconds(1)) != nil)
            // One the peer closes leaves the tarpit at once (not at the end of its hold).
            try await held[2].channel.close()
            #expect(await GuardCounters.tarpitted(edge, reaching: 1, within: .seconds(1)))
            // The last is closed when its hold ends (at most 9 s from its accept), and leaves the tarpit.
            #expect(await RawClient.closed(held[0].channel, within: .seconds(9)) != nil)
            #expect(await GuardCounters.tarpitted(edge, reaching: 0, within: .seconds(1)))
            let after = try await GuardCounters.read(edge)
            #expect(after["cooling_off", default: 0] - before["cooling_off", default: 0] == 4)
        }
    }

    /// A connection that takes the last `max_connections` slot and is then held gives the slot
    /// back at once. Hummingbird stops accepting at the count it saw on accept, which included the
    /// connection before the tarpit took it; unless the tarpit asks the listener to accept again,
    /// the next connection waits in the backlog until some connection closes (here a hold: 10-30 s).
    @Test func aHeldConnectionThatTookTheLastSlotGivesItBackAtOnce() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, configure: {
            $0.server.maxConnections = 2
            $0.server.connectionGuard.tarpitHold = .seconds(20)
        }) { edge in
            try await RawClient.rapidReset(port: edge.edgePort, caPath: certificates.caPath)  // 127.0.0.1 cools off
            let request = "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"
            let first = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath, from: "127.0.0.2")
            try await first.send(request)
            #expect(try await first.received(containing: "ok", within: .seconds(2)).hasPrefix("HTTP/1.1 200"))
            // The cooling-off address takes the second slot, and is held.
            let held = try await RawClient.plain(port: edge.edgePort)
            #expect(await GuardCounters.tarpitted(edge, reaching: 1, within: .seconds(3)))
            let second = try await RawClient.tls(port: edge.edgePort, caPath: certificates.caPath, from: "127.0.0.2")
            // Not awaited: the write completes only after the TLS handshake, which needs the accept.
            second.channel.writeAndFlush(second.channel.allocator.buffer(string: request), promise: nil)
            #expect(try await second.received(containing: "ok", within: .seconds(3)).hasPrefix("HTTP/1.1 200"))
            #expect(first.channel.isActive && held.channel.isActive, "served while both still hold their sockets")
            for connection in [first, second, held] { try await connection.channel.close() }
        }
    }

    @Test func http2StreamsShareOneBodyBudgetPerConnection() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, bodyLimit: 32 << 10, configure: {
            $0.server.connectionGuard.connectionBodyBudget = 48 << 10
        }) { edge in
            let before = try await GuardCounters.read(edge)
            let client = try await RawClient.http2(port: edge.edgePort, caPath: certificates.caPath)
            let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 15 << 10)
            // Two streams each send 30 KiB of a 32 KiB body and wait: 60 KiB held, budget 48 KiB.
            for stream in [HTTP2StreamID(1), HTTP2StreamID(3)] {
                let head = RawClient.h2Head(method: "POST", path: "/v1/webhooks/nobody/stripe", extra: [("content-length", "\(32 << 10)")])
                client.channel.write(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: head))), promise: nil)
                for _ in 0..<2 { client.channel.write(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(chunk)))), promise: nil) }
                client.channel.flush()
                try await Task.sleep(for: .milliseconds(200))
            }
            let reset = try await client.frame(within: .seconds(5)) {
                if case .rstStream = $0.payload { return $0.streamID } else { return nil }
            }
            #expect(reset == HTTP2StreamID(3))
            // The first stream finishes its body and gets its answer on the same connection.
            let rest = ByteBuffer(repeating: UInt8(ascii: "x"), count: 2 << 10)
            try await client.channel.writeAndFlush(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(rest), endStream: true))))
            let status = try await client.frame(within: .seconds(5)) { frame -> String? in
                guard frame.streamID == 1, case .headers(let headers) = frame.payload else { return nil }
                return headers.headers.first(name: ":status")
            }
            #expect(status == "404")
            try await client.channel.close()
            let after = try await GuardCounters.read(edge)
            #expect(after["connection_body_budget", default: 0] - before["connection_body_budget", default: 0] == 1)
        }
    }
}

/// `tollgate_http_guard_closures_total` by reason, from the admin listener.
enum GuardCounters {
    static func read(_ edge: EdgeHarness.Running) async throws -> [String: Int] {
        let (_, text) = try await HTTPClient.shared.fetch(edge.admin + "/metrics")
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("tollgate_http_guard_closures_total{") {
            guard let open = line.range(of: "reason=\""), let close = line[open.upperBound...].firstIndex(of: "\""),
                  let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            counts[String(line[open.upperBound..<close])] = Int(value)
        }
        return counts
    }

    /// Whether `tollgate_http_tarpit_connections` shows `count` within `limit` (polled every 50 ms).
    static func tarpitted(_ edge: EdgeHarness.Running, reaching count: Int, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if await tarpitted(edge) == count { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// `tollgate_http_tarpit_connections`: connections the tarpit holds now (nil when not published yet).
    static func tarpitted(_ edge: EdgeHarness.Running) async -> Int? {
        guard let (_, text) = try? await HTTPClient.shared.fetch(edge.admin + "/metrics") else { return nil }
        let line = text.split(separator: "\n").first { $0.hasPrefix("tollgate_http_tarpit_connections ") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }.map { Int($0) } ?? 0
    }
}

/// Raw connections to the edge, below any HTTP client library's good manners.
enum RawClient {
    static func tcp(port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
    }

    /// A plain TCP connection that collects whatever the edge sends.
    static func plain(port: Int) async throws -> TextConnection {
        let received = TextCollector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) } }
            .connect(host: "127.0.0.1", port: port).get()
        return TextConnection(channel: channel, received: received)
    }

    /// CVE-2023-44487 from 127.0.0.1: a stream opened and cancelled at once, 300 times, until the
    /// edge answers GOAWAY ENHANCE_YOUR_CALM and closes. The address then cools off.
    static func rapidReset(port: Int, caPath: String) async throws {
        let attacker = try await http2(port: port, caPath: caPath)
        // The server advertises its stream limit in its first SETTINGS frame.
        let settings = try await attacker.frame(within: .seconds(5)) {
            if case .settings(.settings(let values)) = $0.payload { return values } else { return nil }
        }
        #expect(settings.contains(HTTP2Setting(parameter: .maxConcurrentStreams, value: 100)))
        for n in 0..<300 {
            let stream = HTTP2StreamID(2 * n + 1)
            attacker.channel.write(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: h2Head(method: "GET", path: "/healthz")))), promise: nil)
            attacker.channel.write(HTTP2Frame(streamID: stream, payload: .rstStream(.cancel)), promise: nil)
        }
        attacker.channel.flush()
        let goAway = try await attacker.frame(within: .seconds(5)) {
            if case .goAway(_, let code, _) = $0.payload { return code } else { return nil }
        }
        #expect(goAway == .enhanceYourCalm)
        #expect(await closed(attacker.channel, within: .seconds(5)) != nil)
    }

    /// How long until `channel` closed (polled every 10 ms), or nil if it was still open after `limit`.
    static func closed(_ channel: any Channel, within limit: Duration) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if !channel.isActive { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    static func tlsHandler(caPath: String, alpn: [String]) throws -> NIOSSLClientHandler {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        tls.applicationProtocols = alpn
        return try NIOSSLClientHandler(context: NIOSSLContext(configuration: tls), serverHostname: "localhost")
    }

    /// An HTTP/1.1 connection whose plaintext the test writes and reads by hand.
    static func tls(port: Int, caPath: String, from source: String? = nil) async throws -> TextConnection {
        let received = TextCollector()
        let handler = try tlsHandler(caPath: caPath, alpn: ["http/1.1"])
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandlers([handler, received]) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TextConnection(channel: channel, received: received)
    }

    /// An HTTP/2 connection at the frame level.
    static func http2(port: Int, caPath: String) async throws -> FrameConnection {
        let frames = FrameCollector()
        let handler = try tlsHandler(caPath: caPath, alpn: ["h2"])
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([handler, NIOHTTP2Handler(mode: .client), frames])
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return FrameConnection(channel: channel, frames: frames)
    }

    static func h2Head(method: String, path: String, extra: [(String, String)] = []) -> HPACKHeaders {
        HPACKHeaders([(":method", method), (":path", path), (":scheme", "https"), (":authority", "localhost")] + extra)
    }
}

struct TextConnection {
    let channel: any Channel
    let received: TextCollector

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    /// Waits until the text received so far contains `marker`.
    func received(containing marker: String, within limit: Duration) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let text = received.text
            if text.contains(marker) { return text }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError("no \(marker.debugDescription) within \(limit); got \(received.text.debugDescription)")
    }

    /// Sends one byte every 100 ms; returns how long until the server closed, or nil after `limit`.
    func drip(until limit: Duration) async throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if !channel.isActive { return ContinuousClock.now - start }
            try? await channel.writeAndFlush(channel.allocator.buffer(string: "a"))
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }
}

struct FrameConnection {
    let channel: any Channel
    let frames: FrameCollector

    /// The first received frame (in order, from the start of the connection) that `match` accepts.
    func frame<T>(within limit: Duration, _ match: (HTTP2Frame) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let found = frames.all.lazy.compactMap(match).first { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError("no matching frame within \(limit); got \(frames.all.map(\.payload))")
    }
}

final class TextCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let buffer = NIOLockedValueBox("")
    var text: String { buffer.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        buffer.withLockedValue { $0 += String(buffer: bytes) }
    }
}

final class FrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTP2Frame
    private let frames = NIOLockedValueBox<[HTTP2Frame]>([])
    var all: [HTTP2Frame] { frames.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        frames.withLockedValue { $0.append(frame) }
    }

    // The connection errors the attack provokes are what the tests look at, not failures.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

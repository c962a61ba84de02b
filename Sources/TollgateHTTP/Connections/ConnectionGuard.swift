#if canImport(Glibc)
import Glibc
#endif
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import NIOTLS
import TollgateConfig

/// Why the guard closed a connection or reset a stream: the `reason` label of
/// `tollgate_http_guard_closures_total`.
enum GuardClosure: String, CaseIterable, Sendable {
    case tlsHandshakeTimeout = "tls_handshake_timeout"
    case firstRequestTimeout = "first_request_timeout"
    case requestHeadTimeout = "request_head_timeout"
    case bodyReadTimeout = "body_read_timeout"
    case perClientLimit = "per_client_limit"
    case coolingOff = "cooling_off"
    case connectionBodyBudget = "connection_body_budget"
    case http2RapidReset = "http2_rapid_reset"
    case http2Abuse = "http2_abuse"

    /// One counter per reason, made once (the label set is closed).
    private static let counters: [GuardClosure: Counter] = Dictionary(uniqueKeysWithValues: allCases.map {
        ($0, Counter(label: "tollgate_http_guard_closures_total", dimensions: [("reason", $0.rawValue)]))
    })

    func count() { Self.counters[self]!.increment() }
}

/// Per client address: open connections, and a cooling-off period for addresses that misbehave.
/// Shared by every connection of one listener; consulted before a connection gets a TLS handler,
/// so a refusal costs an accept and a close.
///
/// The attack scenario showed why a per-connection limit is not enough: NIOHTTP2 closes a
/// connection after 200 resets, but the attacker reconnects and gets 200 more fully handled
/// requests each time (one attacker loop took 68% of a core). An address whose connection NIOHTTP2
/// closed for abuse, or that ran into the handshake, first-request or head deadlines
/// `strikesBeforeCoolOff` times within `strikeWindow`, is refused for `coolOff` (doubling on each
/// repeat, to 16x), each cool-off stretched or shortened at random by up to half: addresses
/// that cooled off together (one attacker's, struck in the same second) come back one by one, not
/// all in the same second with thousands of sockets and their TLS handshakes at once (the attack
/// scenario's genuine p99 went from 100 ms to 2 s in the seconds after such a return).
///
/// The table is bounded: it is the attacker who chooses how many addresses it has (an IPv6 host
/// has a whole /64 to pick from). An address with nothing open is forgotten once its strikes are
/// older than `strikeWindow` or, once it has cooled off, when it has been quiet for `forgetAfter`
/// (16 cool-offs by default, so that a returning offender still meets its longer cool-off); stale
/// entries are swept when the table has doubled since the last sweep, or when it is full; and once
/// `maximumTracked` addresses are held, an address with no history gets none (its strikes are not
/// recorded; open connections always are counted: `max_connections` bounds them).
///
/// Addresses are counted one by one, IPv6 ones too (``key(for:)``), not by /64: a /64 is often a
/// whole office, campus or hotel, and one host's missed deadlines would cool off all of them. The
/// price is that an attacker rotating through its /64 meets a fresh address's allowance each time;
/// the bound above keeps that from costing memory.
final class ClientConnectionCounts: Sendable {
    let maximumPerClient: Int
    let strikesBeforeCoolOff: Int
    let strikeWindow: Duration
    let coolOff: Duration
    let forgetAfter: Duration
    let maximumTracked: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    /// The factor a cool-off's length is multiplied by, drawn once per cool-off.
    private let spread: @Sendable () -> Double

    private struct Client {
        var open = 0
        var strikes = 0
        var firstStrike: ContinuousClock.Instant?
        var coolOffs = 0
        var refusedUntil: ContinuousClock.Instant?
        /// The last strike, abuse or refusal: what `forgetAfter` counts from.
        var lastEvent: ContinuousClock.Instant
    }

    private struct Table {
        var clients: [String: Client] = [:]
        /// The table's size after the last sweep: the next sweep comes when it has doubled.
        var sizeAfterSweep = 0
        var lastSweep: ContinuousClock.Instant
    }

    private let table: NIOLockedValueBox<Table>

    init(
        maximumPerClient: Int, strikesBeforeCoolOff: Int = 32, strikeWindow: Duration = .seconds(60),
        coolOff: Duration = .seconds(30), forgetAfter: Duration? = nil, maximumTracked: Int = 65_536,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        spread: @escaping @Sendable () -> Double = { .random(in: 0.5...1.5) }
    ) {
        self.maximumPerClient = maximumPerClient
        self.strikesBeforeCoolOff = strikesBeforeCoolOff
        self.strikeWindow = strikeWindow
        self.coolOff = coolOff
        self.forgetAfter = forgetAfter ?? coolOff * 16
        self.maximumTracked = maximumTracked
        self.now = now
        self.spread = spread
        self.table = NIOLockedValueBox(Table(lastSweep: now()))
    }

    /// The key an address is counted under: the IPv4 address for IPv4, for IPv4-mapped IPv6
    /// (`::ffff:a.b.c.d`) and for NAT64 (`64:ff9b::a.b.c.d`, RFC 6052), so one client is one key
    /// whichever way it arrives; an IPv6 address as its 32 hex digits; nil for a Unix socket.
    static func key(for address: SocketAddress) -> String? {
        switch address {
        case .v4: return address.ipAddress
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            let mapped = bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff
            let nat64 = bytes[0..<4] == [0x00, 0x64, 0xff, 0x9b] && bytes[4..<12].allSatisfy({ $0 == 0 })
            if mapped || nat64 { return bytes[12...].map(String.init).joined(separator: ".") }
            return bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
        case .unixDomainSocket: return nil
        }
    }

    enum Admission { case admitted, overLimit, coolingOff }

    /// Counts a new connection from `client` unless it has its cap or is cooling off.
    func admit(_ client: String) -> Admission {
        let now = now()
        return table.withLockedValue { table in
            var entry = table.clients[client] ?? Client(lastEvent: now)
            if let until = entry.refusedUntil {
                guard until <= now else { return .coolingOff }
                entry.refusedUntil = nil
            }
            guard maximumPerClient == 0 || entry.open < maximumPerClient else { return .overLimit }
            entry.open += 1
            store(entry, for: client, in: &table, now: now)
            return .admitted
        }
    }

    func release(_ client: String) {
        let now = now()
        table.withLockedValue { table in
            guard var entry = table.clients[client] else { return }
            entry.open = max(0, entry.open - 1)
            // A well-behaved address is forgotten as soon as it has nothing open.
            if entry.open == 0, !isRemembered(entry, now: now) {
                table.clients[client] = nil
            } else {
                store(entry, for: client, in: &table, now: now)
            }
        }
    }

    /// One deadline missed by `client`; `strikesBeforeCoolOff` of them within `strikeWindow`
    /// start a cooling-off period.
    func strike(_ client: String) {
        record(client, strikes: 1)
    }

    /// A connection closed for protocol abuse: cooling off at once.
    func abused(_ client: String) {
        record(client, strikes: strikesBeforeCoolOff)
    }

    private func record(_ client: String, strikes: Int) {
        let now = now()
        table.withLockedValue { table in
            let known = table.clients[client]
            var entry = known ?? Client(lastEvent: now)
            // Addresses other than this one (an open connection already has its entry).
            func others() -> Int { table.clients.count - (known == nil ? 0 : 1) }
            if !isRemembered(entry, now: now), others() >= maximumTracked {
                // Full: make room from the stale, at most once a second (a sweep walks the table);
                // an address with no history gets none while the table stays full.
                if now - table.lastSweep >= .seconds(1) { sweep(&table, now: now) }
                guard others() < maximumTracked else { return }
            }
            // A long-quiet offender starts over; strikes spread thinner than the window do not add up.
            if now - entry.lastEvent >= forgetAfter { entry.coolOffs = 0 }
            if let first = entry.firstStrike, now - first >= strikeWindow { entry.strikes = 0 }
            if entry.strikes == 0 { entry.firstStrike = now }
            entry.strikes += strikes
            entry.lastEvent = now
            if entry.strikes >= strikesBeforeCoolOff {
                entry.strikes = 0
                entry.firstStrike = nil
                let until = now + coolOff * (1 << min(entry.coolOffs, 4)) * spread()
                entry.refusedUntil = until
                entry.lastEvent = until
                entry.coolOffs += 1
            }
            store(entry, for: client, in: &table, now: now)
        }
    }

    private func store(_ entry: Client, for client: String, in table: inout Table, now: ContinuousClock.Instant) {
        let isNew = table.clients.updateValue(entry, forKey: client) == nil
        if isNew, table.clients.count >= max(1_024, 2 * table.sizeAfterSweep) { sweep(&table, now: now) }
    }

    /// Whether anything is held against an address: strikes still within their window, a
    /// cool-off in force, or cool-offs within `forgetAfter` (its next one will be longer).
    private func isRemembered(_ entry: Client, now: ContinuousClock.Instant) -> Bool {
        if let until = entry.refusedUntil, until > now { return true }
        if entry.coolOffs > 0, now - entry.lastEvent < forgetAfter { return true }
        if entry.strikes > 0, let first = entry.firstStrike, now - first < strikeWindow { return true }
        return false
    }

    /// Forgets every address with nothing open and nothing held against it.
    private func sweep(_ table: inout Table, now: ContinuousClock.Instant) {
        table.clients = table.clients.filter { _, entry in entry.open > 0 || isRemembered(entry, now: now) }
        table.sizeAfterSweep = table.clients.count
        table.lastSweep = now
    }

    func count(of client: String) -> Int { table.withLockedValue { $0.clients[client]?.open ?? 0 } }

    /// How many addresses the table holds.
    var tracked: Int { table.withLockedValue { $0.clients.count } }
}

/// Sits right after the TLS handler of every edge connection, so it sees the handshake complete
/// and the plaintext bytes, and enforces the connection-level deadlines and budgets.
///
/// Deadlines are kept as instants and checked by at most one scheduled timer per connection:
/// a keep-alive connection serving thousands of requests does not schedule and cancel a timer for
/// each (a deadline moves by assignment; the timer, when it fires early, re-arms for the rest).
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case accepted, handshaking, awaitingFirstRequest, serving
    }

    private let settings: ConnectionGuardSettings
    private let clients: ClientConnectionCounts
    private var phase = Phase.accepted
    private var client: String?
    private var isHTTP2 = false
    /// HTTP/1.1 requests whose head arrived and whose response has not ended.
    private var requestsInFlight = 0
    /// The one deadline in force and what missing it means.
    private var deadline: (at: NIODeadline, reason: GuardClosure)?
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?
    /// Request body bytes received on this connection and not yet released by their response.
    private(set) var bodyBytesInFlight = 0

    /// - Parameter client: the address ``ClientConnectionCounts`` admitted this connection for
    ///   (released when it closes), nil when it has none.
    init(settings: ConnectionGuardSettings, clients: ClientConnectionCounts, client: String?) {
        self.settings = settings
        self.clients = clients
        self.client = client
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { accept(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        accept(context: context)
        context.fireChannelActive()
    }

    private func accept(context: ChannelHandlerContext) {
        guard phase == .accepted else { return }
        phase = .handshaking
        arm(context: context, after: settings.tlsHandshakeTimeout, reason: .tlsHandshakeTimeout)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent, phase == .handshaking {
            phase = .awaitingFirstRequest
            isHTTP2 = negotiated == "h2"
            arm(context: context, after: settings.firstRequestTimeout, reason: .firstRequestTimeout)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The first byte of an HTTP/1.1 request starts its head's clock. HTTP/2 multiplexes heads
        // with other streams' data, so there the first-request and idle timeouts bound heads.
        if phase == .serving, !isHTTP2, requestsInFlight == 0, deadline == nil {
            arm(context: context, after: settings.requestHeadTimeout, reason: .requestHeadTimeout)
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
    }

    // MARK: Told by the request-level handler (same event loop: HTTP/2 streams share their connection's)

    /// A complete request head arrived (on any stream).
    func requestHeadReceived() {
        phase = .serving
        deadline = nil
        if !isHTTP2 { requestsInFlight += 1 }
    }

    /// An HTTP/1.1 response ended.
    func responseEnded() {
        if !isHTTP2, requestsInFlight > 0 { requestsInFlight -= 1 }
    }

    /// Takes `bytes` of body into the connection's budget; false when they do not fit.
    func reserveBody(_ bytes: Int) -> Bool {
        guard bodyBytesInFlight + bytes <= settings.connectionBodyBudget else { return false }
        bodyBytesInFlight += bytes
        return true
    }

    func releaseBody(_ bytes: Int) {
        bodyBytesInFlight = max(0, bodyBytesInFlight - bytes)
    }

    // MARK: Deadline

    private func arm(context: ChannelHandlerContext, after timeout: Duration, reason: GuardClosure) {
        let at = NIODeadline.now() + TimeAmount(timeout)
        deadline = (at, reason)
        // A timer due first re-arms itself for the rest; one due later (a 5 s handshake timer
        // when the first-request deadline is 500 ms) is replaced.
        if let timer, timer.at <= at { return }
        timer?.task.cancel()
        schedule(context: context, at: at)
    }

    private func schedule(context: ChannelHandlerContext, at: NIODeadline) {
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: at) {
            loopBound.value.handler.deadlineCheck(context: loopBound.value.context)
        }
        timer = (task, at)
    }

    private func deadlineCheck(context: ChannelHandlerContext) {
        timer = nil
        guard let deadline else { return }
        if deadline.at > .now() {
            schedule(context: context, at: deadline.at)
            return
        }
        self.deadline = nil
        deadline.reason.count()
        if let client { clients.strike(client) }
        context.close(promise: nil)
    }

    private func finish() {
        timer?.task.cancel()
        timer = nil
        deadline = nil
        if let client {
            clients.release(client)
            self.client = nil
        }
    }
}

/// Added after the HTTP codec of every HTTP/1.1 connection and every HTTP/2 stream: reports heads
/// and response ends to its connection's ``ConnectionGuardHandler``, charges body bytes to the
/// connection's budget, and bounds the time a body may take.
final class RequestReadGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let bodyReadTimeout: Duration
    private var connection: ConnectionGuardHandler?
    private var bodyDeadline: NIODeadline?
    private var timer: Scheduled<Void>?
    /// Body bytes this channel has charged to the connection and not yet released.
    private var charged = 0

    init(bodyReadTimeout: Duration) {
        self.bodyReadTimeout = bodyReadTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // HTTP/1.1: the guard is in this pipeline. An HTTP/2 stream's is its parent's (the
        // connection, on the same event loop). (An HTTP/1.1 connection's parent is the listener.)
        connection = (try? context.pipeline.syncOperations.handler(type: ConnectionGuardHandler.self))
            ?? (try? context.channel.parent?.pipeline.syncOperations.handler(type: ConnectionGuardHandler.self))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            connection?.requestHeadReceived()
            bodyDeadline = .now() + TimeAmount(bodyReadTimeout)
            if timer == nil, let bodyDeadline { schedule(context: context, at: bodyDeadline) }
        case .body(let bytes):
            if let connection {
                guard connection.reserveBody(bytes.readableBytes) else {
                    GuardClosure.connectionBodyBudget.count()
                    context.close(promise: nil)
                    return
                }
                charged += bytes.readableBytes
            }
        case .end:
            bodyDeadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            // The request's body is no longer held once its response is written.
            release()
            connection?.responseEnded()
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func schedule(context: ChannelHandlerContext, at: NIODeadline) {
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: at) {
            loopBound.value.handler.deadlineCheck(context: loopBound.value.context)
        }
    }

    private func deadlineCheck(context: ChannelHandlerContext) {
        timer = nil
        guard let bodyDeadline else { return }
        if bodyDeadline > .now() {
            schedule(context: context, at: bodyDeadline)
            return
        }
        self.bodyDeadline = nil
        GuardClosure.bodyReadTimeout.count()
        context.close(promise: nil)
    }

    private func release() {
        connection?.releaseBody(charged)
        charged = 0
    }

    private func stop() {
        timer?.cancel()
        timer = nil
        bodyDeadline = nil
        release()
    }
}

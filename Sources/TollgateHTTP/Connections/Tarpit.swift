import Metrics
import NIOCore
import Synchronization

/// Where connections from a cooling-off address wait instead of being closed at accept.
///
/// Closing at once is what a reconnecting attacker wants: each refusal frees its socket for the
/// next connect, and the attack scenario measured 1,230 refused connects a second from 6,000
/// attacker sockets (`loadtests/RESULTS.md`, Attack), the attackers' and the kernel's work for
/// each taken from the cores the genuine callbacks need. Held here, a socket costs its attacker
/// the time it waits: no TLS handler, nothing sent back, read and dropped; closed after `hold`
/// stretched or shortened at random by up to half, drawn per connection.
///
/// Not at the end of the address's cool-off: its held sockets would then all come back in the
/// same second, be admitted together and start their TLS handshakes together (in the attack
/// scenario, waves of 800 admitted attacker sockets that took the genuine p99 past 250 ms).
/// Released one by one, a socket meets a cool-off still in force (held again) or is admitted
/// alone. The price: a connection made during a cool-off may be held past its end; a client
/// retrying after its own timeout is served once the cool-off is over.
///
/// Bounded: at most `capacity` held at once (an attacker with more sockets than that meets the
/// old immediate close for the rest), and a held connection that sends more than
/// ``readBudget`` bytes is closed (a ClientHello fits; a flood does not fill memory). Held
/// connections are not open connections: ``ConnectionLimit`` leaves them out of
/// `max_connections`, so a full tarpit never keeps a provider waiting in the accept queue.
final class Tarpit: Sendable {
    /// Bytes a held connection may send before it is closed: a ClientHello with post-quantum key
    /// shares is under 2 KiB, a whole TLS record 16 KiB.
    static let readBudget = 16 << 10

    let hold: Duration
    let capacity: Int
    /// The factor a connection's hold is multiplied by, drawn per connection.
    private let spread: @Sendable () -> Double
    private let held = Atomic<Int>(0)
    private let gauge = Gauge(label: "tollgate_http_tarpit_connections")
    /// The edge's listening channel, once it runs (see ``enter()``).
    private let listener = Mutex<(any Channel)?>(nil)

    /// - Parameters:
    ///   - hold: how long a connection is held, before `spread` (by default 0.5-1.5x); zero turns
    ///     the tarpit off (refusals close at once).
    ///   - capacity: the most held at once.
    init(hold: Duration, capacity: Int, spread: @escaping @Sendable () -> Double = { .random(in: 0.5...1.5) }) {
        self.hold = hold
        self.capacity = capacity
        self.spread = spread
    }

    /// Connections held now.
    var count: Int { held.load(ordering: .relaxed) }

    /// The listener whose accepting ``enter()`` resumes.
    func listening(on channel: any Channel) {
        listener.withLock { $0 = channel }
    }

    /// How long to hold a connection from a cooling-off address; nil when the tarpit is off or
    /// full (the caller closes the connection at once).
    func enter() -> Duration? {
        guard hold > .zero else { return nil }
        let now = held.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= capacity else {
            held.wrappingSubtract(1, ordering: .relaxed)
            return nil
        }
        gauge.record(now)
        // Hummingbird counted this connection as open when it was accepted, before it came here;
        // if that count reached max_connections, the listener stopped accepting and would wait
        // for a close. It is not open now: ask the listener to accept again (``ConnectionLimit``
        // decides, now without it).
        listener.withLock { $0 }?.read()
        return hold * spread()
    }

    func leave() {
        gauge.record(held.wrappingSubtract(1, ordering: .relaxed).newValue)
    }
}

/// The only handler of a held connection's pipeline: drops what the peer sends and closes the
/// connection when its hold ends, when it sends more than the tarpit's read budget, or when the
/// peer goes. Leaves the tarpit exactly once, when the channel goes inactive or the handler is
/// removed.
final class TarpitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let tarpit: Tarpit
    private let hold: Duration
    private var timer: Scheduled<Void>?
    private var bytesRead = 0
    private var inTarpit = true

    init(tarpit: Tarpit, hold: Duration) {
        self.tarpit = tarpit
        self.hold = hold
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: TimeAmount(hold)) { loopBound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytesRead += unwrapInboundIn(data).readableBytes
        if bytesRead > Tarpit.readBudget { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)  // a reset by the peer: nothing left to hold
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        // The peer closed its side (the edge's connections allow half-closure, so NIO reports
        // it instead of closing): nothing left to hold.
        case ChannelEvent.inputClosed: context.close(promise: nil)
        // The server is stopping: its graceful shutdown must not wait out the holds.
        case is ChannelShouldQuiesceEvent: context.close(promise: nil)
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        leave()
    }

    private func leave() {
        timer?.cancel()
        timer = nil
        guard inTarpit else { return }
        inTarpit = false
        tarpit.leave()
    }
}

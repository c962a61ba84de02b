import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS
import TollgateConfig

/// The edge's connection: TLS, the ``ConnectionGuardHandler``, then HTTP/1.1 or HTTP/2 by ALPN.
///
/// Hummingbird's `HTTP2UpgradeChannel` with one change: the guard sits between TLS and ALPN, the
/// one place that sees the handshake start and finish (its upgrade channel waits for ALPN with no
/// deadline, so a socket that never sends a ClientHello held a slot forever). HTTP/1.1 and
/// HTTP/2 handling is Hummingbird's own (`HTTP1Channel`, `HTTP2Channel`): NIOHTTP2's defaults
/// apply, 100 concurrent streams per connection and the CVE-2023-44487 rapid-reset limit (more
/// than 200 stream resets in 30 s closes the connection with GOAWAY ENHANCE_YOUR_CALM).
struct EdgeChannel: ServerChildChannel {
    typealias Negotiated = NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2Channel.Value>

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let sslContext: NIOSSLContext
    let guardSettings: ConnectionGuardSettings
    let clients: ClientConnectionCounts
    let tarpit: Tarpit
    let http1: HTTP1Channel
    let http2: HTTP2Channel

    /// - Parameter streamConfiguration: HTTP/1.1 settings, also used for each HTTP/2 stream; the
    ///   request-level guard is added to its channel handlers here.
    init(
        tlsConfiguration: TLSConfiguration,
        guardSettings: ConnectionGuardSettings,
        tarpit: Tarpit,
        idleTimeout: Duration,
        streamConfiguration: HTTP1Channel.Configuration,
        responder: @escaping HTTPChannelHandler.Responder
    ) throws {
        var tlsConfiguration = tlsConfiguration
        tlsConfiguration.applicationProtocols = NIOHTTP2SupportedALPNProtocols
        self.sslContext = try NIOSSLContext(configuration: tlsConfiguration)
        self.guardSettings = guardSettings
        self.clients = ClientConnectionCounts(maximumPerClient: guardSettings.maxConnectionsPerClient)
        self.tarpit = tarpit
        var streamConfiguration = streamConfiguration
        let additional = streamConfiguration.additionalChannelHandlers
        let bodyReadTimeout = guardSettings.bodyReadTimeout
        streamConfiguration.additionalChannelHandlers = { [RequestReadGuardHandler(bodyReadTimeout: bodyReadTimeout)] + additional() }
        self.http1 = HTTP1Channel(responder: responder, configuration: streamConfiguration)
        self.http2 = HTTP2Channel(
            responder: responder,
            configuration: .init(idleTimeout: idleTimeout, gracefulCloseTimeout: .seconds(5), streamConfiguration: streamConfiguration)
        )
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Refused before any TLS state exists: closed at once, or held in the tarpit.
            // (Not by failing the setup: a failed child initializer is reported to the listener.)
            let client = channel.remoteAddress.flatMap(ClientConnectionCounts.key(for:))
            let pipeline = channel.pipeline.syncOperations
            if let client {
                let refusal: GuardClosure
                switch clients.admit(client) {
                case .admitted:
                    return try negotiate(channel: channel, client: client, logger: logger)
                case .overLimit:
                    refusal = .perClientLimit
                    try pipeline.addHandler(CloseOnActive())
                case .coolingOff:
                    refusal = .coolingOff
                    // Held, not closed: a closed socket is the attacker's next connect.
                    if let hold = tarpit.enter() {
                        do { try pipeline.addHandler(TarpitHandler(tarpit: tarpit, hold: hold)) } catch {
                            tarpit.leave()
                            throw error
                        }
                    } else {
                        try pipeline.addHandler(CloseOnActive())
                    }
                }
                refusal.count()
                return Value(negotiated: channel.eventLoop.makeFailedFuture(ConnectionRefused(reason: refusal)), channel: channel)
            }
            return try negotiate(channel: channel, client: nil, logger: logger)
        }
    }

    /// An admitted connection's pipeline: TLS, the guard, then HTTP/1.1 or HTTP/2 by ALPN.
    private func negotiate(channel: any Channel, client: String?, logger: Logger) throws -> Value {
        let pipeline = channel.pipeline.syncOperations
        let connectionGuard = ConnectionGuardHandler(settings: guardSettings, clients: clients, client: client)
        do {
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
            try pipeline.addHandler(connectionGuard)
        } catch {
            if let client { clients.release(client) }
            throw error
        }
        let alpn = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { [http1, http2, clients] result, channel in
            switch result {
            case .negotiated("h2"):
                return http2.setup(channel: channel, logger: logger).flatMapThrowing { connection in
                    // Right after NIOHTTP2's handler: Hummingbird's connection manager, next,
                    // closes on any error without passing it on.
                    let pipeline = channel.pipeline.syncOperations
                    let counter = HTTP2AbuseCounter(clients: clients, client: client)
                    try pipeline.addHandler(counter, position: .after(pipeline.handler(type: NIOHTTP2Handler.self)))
                    return .http2(connection)
                }
            case .negotiated("http/1.1"), .fallback:
                return http1.setup(channel: channel, logger: logger).map { .http1_1($0) }
            case .negotiated:
                return channel.close().flatMapThrowing { throw NIOHTTP2Errors.invalidALPNToken() }
            }
        }
        try pipeline.addHandler(alpn)
        return Value(negotiated: alpn.protocolNegotiationResult, channel: channel)
    }

    func handle(value: Value, logger: Logger) async {
        do {
            // A future does not end on cancellation: when the server stops, a connection still
            // negotiating (one that never finished its handshake) is closed, which fails the
            // negotiation, instead of holding the server's shutdown until its guard deadline.
            let negotiated = try await withTaskCancellationHandler {
                try await value.negotiated.get()
            } onCancel: { [channel = value.channel] in
                channel.close(promise: nil)
            }
            switch negotiated {
            case .http1_1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2.handle(value: connection, logger: logger)
            }
        } catch {
            // Closed before ALPN finished: a guard deadline, a failed handshake, or the peer left.
            logger.trace("connection closed before a protocol was negotiated", metadata: ["error": "\(error)"])
        }
    }
}

/// Right after NIOHTTP2's handler in an HTTP/2 connection's pipeline: counts the connections NIOHTTP2's denial-of-service
/// heuristics close (it sends GOAWAY and reports the error down the pipeline).
/// The address is sent to cool off: reconnecting is how a rapid-reset attacker gets around a
/// per-connection limit.
final class HTTP2AbuseCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    private let clients: ClientConnectionCounts
    private let client: String?

    init(clients: ClientConnectionCounts, client: String?) {
        self.clients = clients
        self.client = client
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is NIOHTTP2Errors.ExcessiveRSTFrames:
            GuardClosure.http2RapidReset.count()
            if let client { clients.abused(client) }
        case is NIOHTTP2Errors.ExcessiveEmptyDataFrames, is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering,
             is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessiveStreamErrors,
             is NIOHTTP2Errors.ExcessiveControlFrames, is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock,
             is NIOHTTP2Errors.ExcessiveNumberOfGlitches:
            GuardClosure.http2Abuse.count()
            if let client { clients.abused(client) }
        default:
            break
        }
        context.fireErrorCaught(error)
    }
}

/// Why a connection was closed at accept (the negotiation it never had fails with this).
struct ConnectionRefused: Error, CustomStringConvertible {
    let reason: GuardClosure
    var description: String { "connection refused: \(reason.rawValue)" }
}

/// Closes its channel as soon as it is active: how a refused connection ends.
final class CloseOnActive: ChannelInboundHandler {
    typealias InboundIn = Any

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}

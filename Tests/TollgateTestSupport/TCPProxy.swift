import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A loopback TCP proxy a test can cut and restore, to take a dependency (Postgres) away from a
/// running server without killing the dependency itself.
public final class TCPProxy: Sendable {
    public let upstreamHost: String
    public let upstreamPort: Int
    /// Where the proxy listens. Another loopback address (127.0.0.2) reaches a server under an
    /// address its certificate does not name, for host-name checks.
    public let listenHost: String
    private let state = NIOLockedValueBox<(listener: (any Channel)?, connections: [any Channel], port: Int)>((nil, [], 0))
    private let frozen = NIOLockedValueBox(false)

    public init(upstreamHost: String, upstreamPort: Int, listenHost: String = "127.0.0.1") {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.listenHost = listenHost
    }

    /// The listening port (stable across stop and start).
    public var port: Int { state.withLockedValue { $0.port } }

    public func start() async throws {
        let upstreamHost = self.upstreamHost, upstreamPort = self.upstreamPort
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { [state, frozen] inbound in
                state.withLockedValue { $0.connections.append(inbound) }
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: upstreamHost, port: upstreamPort)
                    .flatMap { outbound in
                        state.withLockedValue { $0.connections.append(outbound) }
                        return outbound.pipeline.addHandler(GlueHandler(partner: inbound)).flatMap {
                            inbound.pipeline.addHandler(GlueHandler(partner: outbound))
                        }.flatMap {
                            // A connection opened while frozen stays silent until thawed.
                            frozen.withLockedValue { $0 } ? outbound.setOption(.autoRead, value: false) : inbound.setOption(.autoRead, value: true)
                        }
                    }
            }
            .bind(host: listenHost, port: port)
            .get()
        state.withLockedValue { $0 = (listener, $0.connections, listener.localAddress?.port ?? 0) }
    }

    /// Stops forwarding without closing anything, like a network path that silently drops
    /// packets: bytes wait in the sockets' buffers and neither end sees an error.
    public func freeze() async {
        frozen.withLockedValue { $0 = true }
        for connection in state.withLockedValue({ $0.connections }) { try? await connection.setOption(.autoRead, value: false) }
    }

    /// Forwards again, and what waited is delivered.
    public func thaw() async {
        frozen.withLockedValue { $0 = false }
        for connection in state.withLockedValue({ $0.connections }) { try? await connection.setOption(.autoRead, value: true) }
    }

    /// Closes the listener and every proxied connection, like a database going away.
    public func stop() async {
        let (listener, connections) = state.withLockedValue { state in
            defer { state.listener = nil; state.connections = [] }
            return (state.listener, state.connections)
        }
        try? await listener?.close()
        for connection in connections { try? await connection.close() }
    }
}

/// Copies bytes to the partner channel and closes it when this side closes.
private final class GlueHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let partner: any Channel

    init(partner: any Channel) { self.partner = partner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

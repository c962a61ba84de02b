import Logging
import NIOCore
import NIOPosix
import NIOSSL
import TollgateCore

/// One open connection to Redis. Commands may be sent from any task; many can be in flight at
/// once (pipelining) and replies are matched to commands in order by ``RedisChannelHandler``.
public final class RedisConnection: Sendable {
    let channel: any Channel

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Opens a connection (over TLS for a `rediss://` endpoint), logs in and selects the database.
    ///
    /// - Parameter tlsContext: what a `rediss://` server's certificate is checked with, from
    ///   ``makeTLSContext(caFile:)``; nil makes one trusting the system's roots. Ignored for `redis://`.
    public static func connect(
        to endpoint: RedisEndpoint,
        tlsContext: NIOSSLContext? = nil,
        connectTimeout: Duration,
        commandTimeout: Duration,
        clientName: String = "tollgate",
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RedisConnection {
        let tlsContext = try endpoint.tls ? (tlsContext ?? makeTLSContext(caFile: nil)) : nil
        // SNI and the DNS-name check take a host name; for an IP literal NIOSSL sends no SNI and
        // checks the connected address against the certificate's IP SANs instead.
        let serverHostname = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) == nil ? endpoint.host : nil
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        MessageToByteHandler(RESPCommandEncoder()),
                        ByteToMessageHandler(RESPReplyDecoder()),
                        RedisChannelHandler(),
                    ])
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .get()
        let connection = RedisConnection(channel: channel)
        do {
            if let password = endpoint.password {
                _ = try await connection.send(RESPCommand("AUTH", [RESPArgument(password)]), timeout: commandTimeout)
            }
            if endpoint.database != 0 {
                _ = try await connection.send(RESPCommand("SELECT", [RESPArgument(endpoint.database)]), timeout: commandTimeout)
            }
            _ = try await connection.send(RESPCommand("CLIENT", ["SETNAME", RESPArgument(clientName)]), timeout: commandTimeout)
        } catch {
            try? await channel.close()
            throw error
        }
        return connection
    }

    /// The TLS context `rediss://` connections share: TLS 1.2 or later, and a server certificate
    /// that chains to the PEM bundle `caFile` (nil: the system's roots) and names the host.
    /// Made once per client, since loading a CA bundle is not free and reconnects are frequent.
    public static func makeTLSContext(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let caFile { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Sends one command and waits for its reply. Error replies throw ``RedisError/server(_:)``.
    public func send(_ command: RESPCommand, timeout: Duration?) async throws(RedisError) -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let request = RedisRequest(command: command, promise: promise, timeout: timeout.map(TimeAmount.init))
        // If the pipeline is already gone the handler never sees the request: fail it here. A
        // write the TLS handshake's failure fails (it may come before the error reaches the
        // handler) says so; the first failure of the promise wins.
        channel.writeAndFlush(request).whenFailure { error in promise.fail(RedisChannelHandler.tlsError(error) ?? RedisError.connectionClosed) }
        do {
            return try await promise.futureResult.get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionClosed
        }
    }

    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    public func close() async {
        try? await channel.close()
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.nanoseconds)
    }
}

import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import TollgateCore

/// Per-request state shared by the edge's middleware and routes.
public struct EdgeRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``RequestIDMiddleware`` before anything else runs.
    public var requestID: TollgateCore.RequestID
    /// The peer of the connection (the parent connection for an HTTP/2 stream): `by: client_ip`.
    public var remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = TollgateCore.RequestID()
        self.remoteAddress = source.channel.remoteAddress
    }
}

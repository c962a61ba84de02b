import HTTPTypes
import Hummingbird
import HummingbirdCore
import TollgateCore

/// Per-request state shared by the edge's middleware and routes.
public struct EdgeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``RequestIDMiddleware`` before anything else runs.
    public var requestID: TollgateCore.RequestID

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = TollgateCore.RequestID()
    }
}

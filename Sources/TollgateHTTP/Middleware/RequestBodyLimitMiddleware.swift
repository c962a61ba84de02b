import HTTPTypes
import Hummingbird
import HummingbirdCore
import TollgateCore

/// Bounds every request body at the edge: a declared `Content-Length` over the limit is refused
/// before a byte of body is read, and a chunked body is collected only up to the limit.
///
/// Collecting here (rather than streaming to routes) is deliberate: every payment callback must be
/// verified over its exact raw bytes, so routes need the whole body anyway.
public struct RequestBodyLimitMiddleware: RouterMiddleware {
    public typealias Context = EdgeRequestContext

    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw tooLarge
        }
        var request = request
        do {
            let body = try await request.body.collect(upTo: limit)
            request.body = RequestBody(buffer: body)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        }
        return try await next(request, context)
    }

    private var tooLarge: Problem {
        Problem(.payloadTooLarge, detail: "The request body exceeds \(limit) bytes.", extensions: ["limit_bytes": .int(limit)])
    }
}

extension Request {
    /// The exact raw body bytes, which ``RequestBodyLimitMiddleware`` has already collected and
    /// bounded (signatures and idempotency fingerprints are computed over these bytes).
    func collectedBodyBytes() async throws -> [UInt8] {
        var request = self
        return Array(try await request.collectBody(upTo: .max).readableBytesView)
    }
}

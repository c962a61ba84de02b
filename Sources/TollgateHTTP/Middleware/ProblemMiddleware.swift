import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL
import TollgateCore

/// Turns every error below it into an RFC 9457 problem response, so no handler has to.
///
/// A ``Problem`` is sent as is; Hummingbird's own `HTTPError`s (404 from the router, 413 from a
/// body limit) become problems with their status, as does any other `HTTPResponseError` (a
/// library's bare 413, say) except a ``ProviderReplyError``, which answers in its provider's own
/// shape; anything else is a 500 whose cause goes to the log only.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = EdgeRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try Self.response(for: error, request: request, context: context)
        }
    }

    /// The response for `error`; also used by middleware that must decorate error responses (CORS).
    static func response(for error: any Error, request: Request, context: Context) throws -> Response {
        do {
            throw error
        } catch let problem as Problem {
            return .problem(problem)
        } catch let error as HTTPError {
            let kind = ProblemKind.forStatus(error.status.code)
            return .problem(Problem(kind, detail: kind == .notFound ? "No route for \(request.method) \(request.uri.path)." : nil))
        } catch let error as ProviderReplyError {
            // A provider's documented refusal is answered in the provider's own shape.
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            return .problem(Problem(ProblemKind.forStatus(error.status.code)))
        } catch where isConnectionFailure(error) {
            // The request's connection failed under it (a malformed or cut-off request, a reset
            // stream, a guard deadline): the client's doing, at debug, so that a client cannot
            // fill the error log. The answer rarely reaches anyone.
            context.logger.debug("request ended by its connection", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return .problem(Problem(.badRequest, detail: "The request could not be read."))
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return .problem(Problem(.internalError))
        }
    }
}

/// Errors of the transport below a request, as opposed to the edge's own failures.
private func isConnectionFailure(_ error: any Error) -> Bool {
    error is HTTPParserError || error is ChannelError || error is IOError || error is any NIOHTTP2Error
        || error is NIOSSLError
}

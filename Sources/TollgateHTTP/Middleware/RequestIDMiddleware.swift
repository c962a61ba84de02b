import HTTPTypes
import Hummingbird
import HummingbirdCore
import TollgateCore

/// Accepts the caller's `X-Request-Id` (if short, printable ASCII) or makes one, puts it on the
/// request's logger and echoes it on the response, so a provider's support ticket can name it.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = EdgeRequestContext

    static let header = HTTPField.Name("X-Request-Id")!

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = TollgateCore.RequestID.accepting(request.headers[Self.header])
        context.logger[metadataKey: "request_id"] = .string(context.requestID.value)
        var response = try await next(request, context)
        response.headers[Self.header] = context.requestID.value
        return response
    }
}

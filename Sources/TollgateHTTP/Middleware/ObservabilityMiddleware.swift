import HTTPTypes
import Hummingbird
import HummingbirdCore
import Metrics
import TollgateCore
import TollgateTelemetry

/// One access-log line and the request metrics per request.
///
/// Metrics are labelled by the matched route pattern (`/v1/webhooks/{tenant}/{source}`), never the
/// raw path, so label cardinality stays bounded whatever clients send.
public struct ObservabilityMiddleware: RouterMiddleware {
    public typealias Context = EdgeRequestContext

    private static let requests = CounterFamily("tollgate_http_requests_total", labels: "route", "status")
    private static let durations = TimerFamily("tollgate_http_request_duration_seconds", labels: "route", "status")

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        let status = String(response.status.code)
        Self.requests(route, status).increment()
        Self.durations(route, status).recordNanoseconds(elapsed.nanoseconds)
        context.logger.info("request", metadata: [
            "method": .string(request.method.rawValue),
            "path": .string(request.uri.path),
            "route": .string(route),
            "status": .string(status),
            "duration_ms": .stringConvertible(Double(elapsed.nanoseconds / 1000) / 1000),
        ])
        return response
    }
}

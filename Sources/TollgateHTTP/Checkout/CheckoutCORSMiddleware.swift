import HTTPTypes
import Hummingbird
import TollgateCore

/// CORS for the checkout routes, per tenant: only the tenant's listed Game Hub origins get CORS
/// headers, on preflights and on every answer including errors (a page must be able to read a
/// 422 to show the player what to fix). Other origins get none, so the browser blocks them.
struct CheckoutCORSMiddleware: RouterMiddleware {
    typealias Context = EdgeRequestContext
    /// Allowed origins by tenant.
    let origins: [String: Set<String>]

    static let allowedMethods = "GET, POST, OPTIONS"
    static let allowedHeaders = "Authorization, Content-Type, Idempotency-Key"
    static let exposedHeaders = "Idempotent-Replayed, Retry-After, RateLimit, RateLimit-Policy, Location"
    static let maxAge = "600"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let tenant = context.parameters.get("tenant") ?? ""
        let allowed = request.headers[.origin].flatMap { origins[tenant]?.contains($0) == true ? $0 : nil }
        if request.method == .options {
            guard origins[tenant] != nil else { throw Problem(.notFound, detail: "No checkout for this tenant.") }
            var response = Response(status: .noContent)
            response.headers[.vary] = "Origin"
            if let allowed {
                response.headers[.accessControlAllowOrigin] = allowed
                response.headers[.accessControlAllowMethods] = Self.allowedMethods
                response.headers[.accessControlAllowHeaders] = Self.allowedHeaders
                response.headers[.accessControlMaxAge] = Self.maxAge
            }
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = try ProblemMiddleware.response(for: error, request: request, context: context)
        }
        response.headers[.vary] = "Origin"
        if let allowed {
            response.headers[.accessControlAllowOrigin] = allowed
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        return response
    }
}

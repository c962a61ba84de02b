import AsyncHTTPClient
import NIOCore

/// Reads a small document a source names by URL (Google's JWKS): https only, no redirects (a
/// redirect could lead anywhere, including inside our network), bounded in size and time.
enum RemoteDocument {
    struct FetchFailed: Error, CustomStringConvertible {
        let status: UInt
        var description: String { "the document answered HTTP \(status)" }
    }

    /// One client for the process, never shut down (it lives as long as the sources using it).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.httpVersion = .automatic
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    static func fetch(_ url: String, limit: Int) async throws -> [UInt8] {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        guard response.status == .ok else { throw FetchFailed(status: response.status.code) }
        return Array(buffer: try await response.body.collect(upTo: limit))
    }
}

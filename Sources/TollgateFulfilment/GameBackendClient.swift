import AsyncHTTPClient
import Foundation
import NIOCore
import TollgateCore
import TollgateSignatures

/// Sends one signed message to a tenant's game backend and reads its answer.
///
/// Standard Webhooks: `webhook-id`, `webhook-timestamp` and one `v1` signature per secret over
/// `id.timestamp.body`. Redirects are not followed (a signed grant goes where it was configured
/// to, nowhere else); at most 64 KiB of the answer is read.
public struct GameBackendClient: Sendable {
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
    }

    /// The most of an answer that is read; what operators see of it is cut to 4 KiB.
    static let answerLimit = 64 * 1024

    let http: HTTPClient

    public init(http: HTTPClient) {
        self.http = http
    }

    /// A client for game backends: no redirects, bounded connect and read times.
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(30)))
        configuration.httpVersion = .automatic
        // Games behind one host get as many connections as attempts may run (not the default 8).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The answer within `timeout` (default the tenant's), head and body together: a backend that
    /// sends its answer a byte at a time still ends its attempt on time (AsyncHTTPClient's own
    /// deadline stops at the head).
    public func post(_ body: [UInt8], webhookID: String, to settings: GameBackendSettings, timeout: Duration? = nil, now: Date = Date()) async throws -> Answer {
        let limit = timeout ?? settings.timeout
        return try await withThrowingTaskGroup(of: Answer?.self) { group in
            group.addTask { try await send(body, webhookID: webhookID, to: settings, timeout: limit, now: now) }
            group.addTask { try await Task.sleep(for: limit); return nil }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else { throw HTTPClientError.deadlineExceeded }
            return answer
        }
    }

    private func send(_ body: [UInt8], webhookID: String, to settings: GameBackendSettings, timeout limit: Duration, now: Date) async throws -> Answer {
        var request = HTTPClientRequest(url: settings.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Tollgate-Fulfilment/1")
        for (name, value) in StandardWebhooksSignatureScheme.sign(body, secrets: settings.secrets, timestamp: Int64(now.timeIntervalSince1970), id: webhookID) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .nanoseconds(limit.nanoseconds))
        var answer: [UInt8] = []
        for try await chunk in response.body {
            answer += chunk.readableBytesView.prefix(Self.answerLimit - answer.count)
            if answer.count >= Self.answerLimit { break }
        }
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: answer)
    }
}


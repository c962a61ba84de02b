import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing
import TollgateHTTP
import TollgateTestSupport

@Suite(.serialized) struct EdgeServerTests {
    @Test func alpnNegotiatesHTTP2AndHTTP1() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: .automatic) { client in
                let (response, body) = try await client.fetch(edge.edge + "/healthz")
                #expect(response.status == .ok)
                #expect(response.version == .http2)
                #expect(try jsonObject(body)["status"] as? String == "ok")
            }
            try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: .http1Only) { client in
                let (response, _) = try await client.fetch(edge.edge + "/healthz")
                #expect(response.status == .ok)
                #expect(response.version == .http1_1)
            }
        }
    }

    @Test func tls11ClientIsRefusedWhileTLS12IsServed() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath, maximumTLSVersion: .tlsv11) { client in
                await #expect(throws: (any Error).self) { _ = try await client.fetch(edge.edge + "/healthz") }
            }
            // The same client settings with TLS 1.2 allowed succeed: the refusal above is the version.
            try await EdgeHarness.withClient(trusting: certificates.caPath, maximumTLSVersion: .tlsv12) { client in
                let (response, _) = try await client.fetch(edge.edge + "/healthz")
                #expect(response.status == .ok)
            }
        }
    }

    @Test func readyzFollowsRedisDownAndBackWithoutRestart() async throws {
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        try await EdgeHarness.withServer(certificates: certificates, redisURL: redis.url) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                try await TestEnvironment.waitUntil { try await client.fetch(edge.edge + "/readyz").0.status == .ok }
                let (_, readyBody) = try await client.fetch(edge.edge + "/readyz")
                let checks = try #require(try jsonObject(readyBody)["checks"] as? [String: [String: String]])
                #expect(checks["postgres"]?["status"] == "up")
                #expect(checks["redis"]?["status"] == "up")
                #expect(checks["edge"]?["status"] == "up", "the edge answers, so it listens")

                try await redis.stop()
                try await TestEnvironment.waitUntil { try await client.fetch(edge.edge + "/readyz").0.status == .serviceUnavailable }
                let (down, downBody) = try await client.fetch(edge.edge + "/readyz")
                #expect(down.headers["content-type"].first == "application/problem+json")
                let problem = try jsonObject(downBody)
                #expect(problem["type"] as? String == "urn:tollgate:problem:not-ready")
                let downChecks = try #require(problem["checks"] as? [String: [String: String]])
                #expect(downChecks["redis"]?["status"] == "down")
                #expect(downChecks["postgres"]?["status"] == "up")
                #expect((problem["detail"] as? String)?.contains("redis") == true)

                try await redis.start()
                try await TestEnvironment.waitUntil(timeout: .seconds(15)) {
                    try await client.fetch(edge.edge + "/readyz").0.status == .ok
                }
            }
        }
        try await redis.stop()
    }

    @Test func oversizedBodiesGet413ProblemWhetherDeclaredOrChunked() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates, bodyLimit: 1024) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath, httpVersion: .http1Only) { client in
                let (declared, declaredBody) = try await client.fetch(edge.edge + "/healthz", method: .POST, body: .bytes(ByteBuffer(repeating: 0x61, count: 4096)))
                #expect(declared.status == .payloadTooLarge)
                #expect(declared.headers["content-type"].first == "application/problem+json")
                let problem = try jsonObject(declaredBody)
                #expect(problem["type"] as? String == "urn:tollgate:problem:payload-too-large")
                #expect(problem["status"] as? Int == 413)
                #expect(problem["limit_bytes"] as? Int == 1024)

                let chunks = AsyncStream<ByteBuffer> { continuation in
                    for _ in 0..<8 { continuation.yield(ByteBuffer(repeating: 0x62, count: 512)) }
                    continuation.finish()
                }
                let (chunked, _) = try await client.fetch(edge.edge + "/healthz", method: .POST, body: .stream(chunks, length: .unknown))
                #expect(chunked.status == .payloadTooLarge)
                #expect(chunked.headers.first(name: "content-type") == "application/problem+json", "a streamed body over the limit is a problem too")
            }
            // A body within the limit passes the limit and reaches routing.
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let (small, _) = try await client.fetch(edge.edge + "/healthz", method: .POST, body: .bytes(ByteBuffer(repeating: 0x61, count: 1000)))
                #expect(small.status != .payloadTooLarge)
            }
        }
    }

    @Test func unknownRouteIsAProblemAndRequestIDsAreEchoedOrMade() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                let (missing, body) = try await client.fetch(edge.edge + "/no/such/route", headers: [("X-Request-Id", "req-abc-123")])
                #expect(missing.status == .notFound)
                #expect(missing.headers["content-type"].first == "application/problem+json")
                #expect(try jsonObject(body)["type"] as? String == "urn:tollgate:problem:not-found")
                #expect(missing.headers["x-request-id"].first == "req-abc-123")

                let (generated, _) = try await client.fetch(edge.edge + "/healthz", headers: [("X-Request-Id", "bad id with spaces")])
                let id = try #require(generated.headers["x-request-id"].first)
                #expect(id.count == 32 && id != "bad id with spaces")
            }
        }
    }

    @Test func adminListenerServesPrometheusMetricsForEdgeTraffic() async throws {
        let certificates = try await TestCertificates.make()
        try await EdgeHarness.withServer(certificates: certificates) { edge in
            try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                for _ in 0..<3 { _ = try await client.fetch(edge.edge + "/healthz") }
                try await TestEnvironment.waitUntil { try await client.fetch(edge.edge + "/readyz").0.status == .ok }
                let (response, text) = try await client.fetch(edge.admin + "/metrics")
                #expect(response.status == .ok)
                #expect(response.headers["content-type"].first?.hasPrefix("text/plain") == true)
                #expect(text.contains(#"tollgate_http_requests_total{route="/healthz",status="200"}"#))
                #expect(text.contains("tollgate_http_request_duration_seconds_bucket"))
                #expect(text.contains("tollgate_http_open_connections"))
                // Dependency calls behind /readyz are measured too.
                #expect(text.contains(#"tollgate_postgres_call_duration_seconds_count{operation="ping"}"#))
                #expect(text.contains(#"tollgate_redis_command_duration_seconds_count{command="PING"}"#))
                // The metrics page is not on the public edge.
                let (edgeMetrics, _) = try await client.fetch(edge.edge + "/metrics")
                #expect(edgeMetrics.status == .notFound)
            }
        }
    }

    @Test func certificateReloadServesNewHandshakesAndKeepsOpenConnections() async throws {
        let original = try await TestCertificates.make()
        let rotated = try await TestCertificates.make()
        // The server reads from files we can swap: start with the original pair.
        let live = try TestEnvironment.makeTemporaryDirectory("tollgate-live-certs")
        let chain = live.appendingPathComponent("server.pem").path
        let key = live.appendingPathComponent("server-key.pem").path
        try FileManager.default.copyItem(atPath: original.chainPath, toPath: chain)
        try FileManager.default.copyItem(atPath: original.keyPath, toPath: key)
        let liveCertificates = TestCertificates(directory: live)

        try await EdgeHarness.withServer(certificates: liveCertificates) { edge in
            try await EdgeHarness.withClient(trusting: original.caPath, httpVersion: .http1Only) { oldClient in
                let status1 = try await oldClient.fetch(edge.edge + "/healthz").0.status
                #expect(status1 == .ok)

                // A half-written rotation (key of the new pair, chain of the old) is refused and changes nothing.
                try FileManager.default.removeItem(atPath: key)
                try FileManager.default.copyItem(atPath: rotated.keyPath, toPath: key)
                #expect(throws: (any Error).self) { try edge.server.certificates.reload() }

                try FileManager.default.removeItem(atPath: chain)
                try FileManager.default.copyItem(atPath: rotated.chainPath, toPath: chain)
                try edge.server.certificates.reload()

                // New handshakes present the rotated certificate...
                try await EdgeHarness.withClient(trusting: rotated.caPath) { newClient in
                    let status2 = try await newClient.fetch(edge.edge + "/healthz").0.status
                    #expect(status2 == .ok)
                }
                try await EdgeHarness.withClient(trusting: original.caPath) { freshOldTrust in
                    await #expect(throws: (any Error).self) { _ = try await freshOldTrust.fetch(edge.edge + "/healthz") }
                }
                // ...while the connection opened before the reload still works: a new handshake
                // would fail for this client, so success proves the open connection was kept.
                let status3 = try await oldClient.fetch(edge.edge + "/healthz").0.status
                #expect(status3 == .ok)
            }
        }
    }
}

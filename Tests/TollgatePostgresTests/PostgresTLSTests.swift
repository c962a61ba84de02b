import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Testing
@testable import TollgatePostgres
import TollgateTestSupport
import TollgateCore

/// libpq's `sslmode` against the real Postgres of `make test`, which runs with ssl=on and a
/// certificate for 127.0.0.1 and localhost from the test CA in `.tollgate/test/tls/`.
@Suite(.serialized, .enabled(
    if: TestEnvironment.postgresTLSURL != nil,
    "TOLLGATE_TEST_POSTGRES_TLS_URL is not set: `make test` sets it (postgres://...?sslmode=verify-full&sslrootcert=<repo>/.tollgate/test/tls/ca.pem) when it runs its own Postgres"
))
struct PostgresTLSTests {
    let logger = Logger(label: "test.postgres.tls")

    /// The test server with the test CA, in verify-full mode.
    var verifyFull: PostgresEndpoint {
        get throws { try PostgresEndpoint(parsing: try #require(TestEnvironment.postgresTLSURL)) }
    }

    /// Whether the session `endpoint` opens through the pool (the production path) is encrypted.
    func sessionIsEncrypted(_ endpoint: PostgresEndpoint) async throws -> Bool {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(poolSize: 1, connectTimeout: .seconds(3)), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Bool?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            var encrypted = false
            let rows = try await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: logger)
            for try await value in rows.decode(Bool.self) { encrypted = value }
            return encrypted
        }
    }

    /// One connection with the endpoint's TLS settings, outside the pool, so a failure shows its
    /// cause (the pool only reports that connecting kept failing).
    func connectOnce(_ endpoint: PostgresEndpoint) async throws {
        let configuration = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.username, password: endpoint.password,
            database: endpoint.database, tls: .require(try NIOSSLContext(configuration: endpoint.tlsConfiguration))
        )
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        try await connection.close()
    }

    /// Expects connecting to fail in the TLS handshake or certificate check (seen through
    /// PostgresNIO's wrapper), not for some other reason.
    func expectCertificateFailure(_ endpoint: PostgresEndpoint, sourceLocation: SourceLocation = #_sourceLocation) async {
        let error = await #expect(throws: (any Error).self, sourceLocation: sourceLocation) { try await connectOnce(endpoint) }
        let cause = (error as? PSQLError)?.underlying ?? error
        #expect(cause is NIOSSLError || cause is NIOSSLExtraError || cause is BoringSSLError,
                "\(String(reflecting: cause))", sourceLocation: sourceLocation)
    }

    @Test func verifyFullWithTheTestCAConnectsEncrypted() async throws {
        let endpoint = try verifyFull
        #expect(endpoint.tls == .verifyFull && endpoint.rootCertificatePath != nil)
        #expect(try await sessionIsEncrypted(endpoint))
    }

    @Test func requireAndPreferEncryptWithoutACAAndDisableDoesNot() async throws {
        for mode in [PostgresEndpoint.TLSMode.require, .prefer] {
            var endpoint = try verifyFull
            endpoint.tls = mode
            endpoint.rootCertificatePath = nil
            #expect(endpoint.certificateCheck == .none)
            // The test CA is in no system store: only an unchecked certificate can get through.
            #expect(try await sessionIsEncrypted(endpoint), "sslmode=\(mode.rawValue)")
        }
        var plain = try verifyFull
        plain.tls = .disable
        #expect(try await sessionIsEncrypted(plain) == false)
    }

    @Test func verifyFullWithAnotherCAFailsTheHandshake() async throws {
        let stranger = try await TestCertificates.make()  // a CA of its own, unrelated to the server's
        defer { try? FileManager.default.removeItem(at: stranger.directory) }
        var endpoint = try verifyFull
        endpoint.rootCertificatePath = stranger.caPath
        await expectCertificateFailure(endpoint)
        endpoint.tls = .verifyCA
        await expectCertificateFailure(endpoint)

        // Without any CA named, the chain must lead to the system's roots, which do not hold the test CA.
        endpoint.tls = .verifyFull
        endpoint.rootCertificatePath = nil
        await expectCertificateFailure(endpoint)
    }

    /// Through 127.0.0.2, an address the certificate does not name: verify-ca accepts the server,
    /// verify-full refuses it.
    @Test func verifyFullChecksTheHostAndVerifyCADoesNot() async throws {
        let direct = try verifyFull
        let proxy = TCPProxy(upstreamHost: direct.host, upstreamPort: direct.port, listenHost: "127.0.0.2")
        try await proxy.start()
        var endpoint = direct
        endpoint.host = "127.0.0.2"
        endpoint.port = proxy.port
        do {
            endpoint.tls = .verifyCA
            #expect(try await sessionIsEncrypted(endpoint))
            endpoint.tls = .verifyFull
            await expectCertificateFailure(endpoint)
        } catch {
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }
}

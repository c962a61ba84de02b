import Testing
import TollgateCore

/// `postgres.url` and `redis.url` as values: what each TLS setting means, decided without a network.
@Suite struct EndpointTests {
    @Test func everyLibpqSSLModeParsesAndAnUnknownOneIsNamed() throws {
        for mode in PostgresEndpoint.TLSMode.allCases {
            #expect(try PostgresEndpoint(parsing: "postgres://app@db/edge?sslmode=\(mode.rawValue)").tls == mode)
        }
        #expect(try PostgresEndpoint(parsing: "postgres://app@db/edge").tls == .disable)
        #expect(throws: PostgresEndpoint.URLError.unknownSSLMode("verify")) { try PostgresEndpoint(parsing: "postgres://app@db/edge?sslmode=verify") }
        #expect(PostgresEndpoint.URLError.unknownSSLMode("verify").description
            == "sslmode 'verify' is not one of disable, prefer, require, verify-ca, verify-full")
        #expect(throws: PostgresEndpoint.URLError.emptyRootCertificate) { try PostgresEndpoint(parsing: "postgres://app@db/edge?sslrootcert=") }
        #expect(throws: PostgresEndpoint.URLError.notAPostgresURL) { try PostgresEndpoint(parsing: "mysql://app@db/edge") }
    }

    @Test func sslrootcertIsReadPercentDecoded() throws {
        let endpoint = try PostgresEndpoint(parsing: "postgres://app@db/edge?sslmode=verify-full&sslrootcert=/etc/tollgate/my%20ca.pem")
        #expect(endpoint.rootCertificatePath == "/etc/tollgate/my ca.pem")
    }

    /// libpq: require encrypts without checking unless a CA is named; verify-ca checks the chain only;
    /// verify-full checks the chain and the host.
    @Test func whatEachModeChecksIsLibpqs() {
        func check(_ mode: PostgresEndpoint.TLSMode, ca: String? = nil) -> PostgresEndpoint.CertificateCheck {
            PostgresEndpoint(host: "db", username: "app", database: "edge", tls: mode, rootCertificatePath: ca).certificateCheck
        }
        #expect(check(.prefer) == .none)
        #expect(check(.require) == .none)
        #expect(check(.require, ca: "ca.pem") == .chain)
        #expect(check(.prefer, ca: "ca.pem") == .chain)
        #expect(check(.verifyCA) == .chain)
        #expect(check(.verifyCA, ca: "ca.pem") == .chain)
        #expect(check(.verifyFull) == .chainAndHostname)
        #expect(check(.verifyFull, ca: "ca.pem") == .chainAndHostname)
    }

    @Test func descriptionsNeverShowThePassword() throws {
        let postgres = try PostgresEndpoint(parsing: "postgres://app:hunter2@db:6543/edge?sslmode=verify-full&sslrootcert=/ca.pem")
        #expect(postgres.description == "postgres://app:<redacted>@db:6543/edge?sslmode=verify-full&sslrootcert=/ca.pem")
        #expect("\(try #require(RedisEndpoint(url: "rediss://:hunter2@cache:6380/1")))" == "rediss://:<redacted>@cache:6380/1")
        #expect("\(try #require(RedisEndpoint(url: "redis://[::1]:7000")))" == "redis://[::1]:7000/0")
    }

    @Test func redissMeansTLS() {
        #expect(RedisEndpoint(url: "rediss://cache.internal:6380/2") == RedisEndpoint(host: "cache.internal", port: 6380, database: 2, tls: true))
        #expect(RedisEndpoint(url: "rediss://:pw@127.0.0.1") == RedisEndpoint(host: "127.0.0.1", password: "pw", tls: true))
        #expect(RedisEndpoint(url: "redis://cache")?.tls == false)
        #expect(RedisEndpoint(url: "redisss://cache") == nil)
    }
}

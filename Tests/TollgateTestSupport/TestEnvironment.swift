import Foundation

/// Where the integration tests find the services that `make test` started.
public enum TestEnvironment {
    /// Postgres for tests; `make test` sets it. Defaults to the `make test` cluster.
    public static var postgresURL: String {
        ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"] ?? "postgres://tollgate@127.0.0.1:54331/tollgate"
    }

    /// Redis for tests that do not need to stop it; `make test` sets it.
    public static var redisURL: String {
        ProcessInfo.processInfo.environment["TOLLGATE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:63791/0"
    }

    /// Postgres over TLS with `sslmode=verify-full&sslrootcert=<test CA>`; `make test` sets it when
    /// it runs its own Postgres (TLS on, certificate from `.tollgate/test/tls/`). Nil: TLS tests skip.
    public static var postgresTLSURL: String? {
        ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_TLS_URL"]
    }

    /// Redis's TLS port as a `rediss://` URL; `make test` sets it when it runs its own Redis. Nil: TLS tests skip.
    public static var redisTLSURL: String? {
        ProcessInfo.processInfo.environment["TOLLGATE_TEST_REDIS_TLS_URL"]
    }

    /// The CA that signed the test Redis's certificate: `make test`'s, unless the environment names another.
    public static var redisTLSCAPath: String {
        ProcessInfo.processInfo.environment["TOLLGATE_TEST_REDIS_TLS_CA"]
            ?? packageRoot.appendingPathComponent(".tollgate/test/tls/ca.pem").path
    }

    /// The package root, found from this file's path.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `tollgate` executable built next to the test bundle.
    public static var tollgateBinary: URL {
        if let override = ProcessInfo.processInfo.environment["TOLLGATE_BINARY"] {
            return URL(fileURLWithPath: override)
        }
        // The test bundle lives in the build products directory, beside the executable.
        let bundle = Bundle.main.bundleURL
        let candidates = [bundle.deletingLastPathComponent(), bundle]
            + [packageRoot.appendingPathComponent(".build/debug")]
        for directory in candidates {
            let url = directory.appendingPathComponent("tollgate")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return packageRoot.appendingPathComponent(".build/debug/tollgate")
    }

    /// A fresh temporary directory, removed by the caller.
    public static func makeTemporaryDirectory(_ prefix: String = "tollgate-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A TCP port that was free a moment ago on 127.0.0.1.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestSupportError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes.
    public static func waitUntil(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("condition not met within \(timeout)")
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

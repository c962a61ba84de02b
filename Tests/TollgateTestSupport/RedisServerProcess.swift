import Foundation
import Logging
import TollgateCore
import TollgateRedis

/// A real `redis-server` of the test's own, on its own port, that the test may stop and restart.
public final class RedisServerProcess: @unchecked Sendable {
    public let port: Int
    private var child: ChildProcess?

    public init(port: Int? = nil) throws {
        self.port = try port ?? TestEnvironment.freePort()
    }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    /// Starts the server and waits until it answers PING.
    public func start() async throws {
        let child = ChildProcess(Self.executable, [
            "--bind", "127.0.0.1", "--port", "\(port)", "--save", "", "--appendonly", "no", "--loglevel", "warning", "--enable-debug-command", "local",
        ])
        try child.start()
        self.child = child
        try await TestEnvironment.waitUntil {
            let reply = try await ChildProcess.run(Self.cli, ["-p", "\(self.port)", "ping"])
            return reply.output.contains("PONG")
        }
    }

    /// Kills the server (SIGKILL: like a crash, no goodbye to clients) and waits for it to go.
    public func stop() async throws {
        guard let child else { return }
        child.signal(SIGKILL)
        _ = try await child.waitForExit()
        self.child = nil
    }

    static var executable: String { ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/redis-server" }
    static var cli: String { ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/redis-cli" }

    deinit {
        child?.signal(SIGKILL)
    }
}

extension RedisServerProcess {
    /// A server of the test's own and a running client connected to it (its configuration
    /// adjusted by `configure`), for `body`; the server is killed after.
    public static func withConnectedClient<T: Sendable>(
        configure: (inout RedisClient.Configuration) -> Void = { _ in },
        _ body: (RedisClient) async throws -> T
    ) async throws -> T {
        let server = try RedisServerProcess()
        try await server.start()
        var configuration = RedisClient.Configuration(endpoint: RedisEndpoint(url: server.url)!)
        configure(&configuration)
        let redis = RedisClient(configuration: configuration, logger: Logger(label: "test.redis"))
        let result = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await redis.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { redis.isConnected }
            return try await body(redis)
        }
        try await server.stop()
        return result
    }
}

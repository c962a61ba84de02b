import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import TollgateCore
import TollgateTelemetry

/// The project's Redis client: a small pool of pipelined connections kept open by ``run()``.
///
/// Commands never wait for a connection: when none is open they fail at once with
/// ``RedisError/unavailable``, because every caller (dedup, rate limits) has a fallback and
/// must not stall a request behind a reconnect.
///
/// ```swift
/// let redis = RedisClient(configuration: .init(endpoint: RedisEndpoint(url: "redis://127.0.0.1:6379")!), logger: logger)
/// // run it as a service, then:
/// try await redis.set("k", to: "v", condition: .ifNotExists, expiration: .milliseconds(30_000))
/// ```
public final class RedisClient: Service, Sendable {
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        /// PEM CA bundle a `rediss://` server's certificate must chain to. Default nil: the system's roots.
        public var tlsCAFile: String?
        /// Connections kept open. Default 4.
        public var poolSize: Int = 4
        /// Per-command deadline. Default 250 ms.
        public var commandTimeout: Duration = .milliseconds(250)
        /// Deadline for opening a connection and logging in. Default 2 s.
        public var connectTimeout: Duration = .seconds(2)
        /// Reconnect backoff: doubles from the minimum to the maximum. Defaults 50 ms and 2 s.
        public var minimumReconnectDelay: Duration = .milliseconds(50)
        public var maximumReconnectDelay: Duration = .seconds(2)
        /// Scripts loaded on every new connection before it takes commands, so that `EVALSHA`
        /// after a Redis restart does not pay a `NOSCRIPT` round trip inside a tight budget.
        public var preloadedScripts: [RedisScript] = []

        public init(endpoint: RedisEndpoint) {
            self.endpoint = endpoint
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let slots: [NIOLockedValueBox<RedisConnection?>]
    private let nextSlot = NIOLockedValueBox(0)

    public init(
        configuration: Configuration,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(configuration.poolSize > 0, "poolSize must be positive")
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.slots = (0..<configuration.poolSize).map { _ in NIOLockedValueBox(nil) }
    }

    /// Keeps every pool slot connected, reconnecting with backoff, until graceful shutdown or cancellation.
    /// Throws at once if a `rediss://` endpoint's CA bundle cannot be loaded: no reconnect would mend that.
    public func run() async throws {
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = configuration.endpoint.tls ? try RedisConnection.makeTLSContext(caFile: configuration.tlsCAFile) : nil
        } catch {
            logger.error("redis TLS cannot be set up", metadata: ["ca_file": "\(configuration.tlsCAFile ?? "<system roots>")", "error": "\(error)"])
            throw error
        }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for index in self.slots.indices {
                    group.addTask { await self.maintain(slot: index, tlsContext: tlsContext) }
                }
            }
        }
    }

    private static let commandDurations = TimerFamily("tollgate_redis_command_duration_seconds", labels: "command")
    private static let commandErrors = CounterFamily("tollgate_redis_errors_total", labels: "command", "error")

    /// Sends `command` on the next open connection.
    public func send(_ command: RESPCommand) async throws(RedisError) -> RESPValue {
        try await send(command, timeout: configuration.commandTimeout)
    }

    /// Sends `command` with its own deadline (the rate limiter's budget is a few milliseconds).
    public func send(_ command: RESPCommand, timeout: Duration) async throws(RedisError) -> RESPValue {
        let start = ContinuousClock.now
        let name = command.name
        do throws(RedisError) {
            guard let connection = openConnection() else { throw RedisError.unavailable }
            let reply = try await connection.send(command, timeout: timeout)
            Self.commandDurations(name).recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            return reply
        } catch {
            Self.commandErrors(name, error.metricLabel).increment()
            throw error
        }
    }

    /// True when at least one connection is open.
    public var isConnected: Bool { slots.contains { $0.withLockedValue { $0?.isActive ?? false } } }

    private func openConnection() -> RedisConnection? {
        let start = nextSlot.withLockedValue { value in
            defer { value = (value + 1) % slots.count }
            return value
        }
        for offset in 0..<slots.count {
            if let connection = slots[(start + offset) % slots.count].withLockedValue({ $0 }), connection.isActive {
                return connection
            }
        }
        return nil
    }

    private func maintain(slot index: Int, tlsContext: NIOSSLContext?) async {
        var delay = configuration.minimumReconnectDelay
        var wasConnected = true
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(
                    to: configuration.endpoint,
                    tlsContext: tlsContext,
                    connectTimeout: configuration.connectTimeout,
                    commandTimeout: configuration.connectTimeout,
                    eventLoopGroup: eventLoopGroup
                )
                do {
                    for script in configuration.preloadedScripts {
                        _ = try await connection.send(RESPCommand("SCRIPT", ["LOAD", RESPArgument(script.source)]), timeout: configuration.connectTimeout)
                    }
                } catch {
                    await connection.close()
                    throw error
                }
                slots[index].withLockedValue { $0 = connection }
                Gauge(label: "tollgate_redis_connections_open").record(slots.filter { $0.withLockedValue { $0 != nil } }.count)
                if !wasConnected {
                    logger.info("redis reconnected", metadata: ["slot": "\(index)"])
                }
                wasConnected = true
                delay = configuration.minimumReconnectDelay
                await withTaskCancellationHandler {
                    try? await connection.closeFuture.get()
                } onCancel: {
                    connection.channel.close(promise: nil)
                }
                slots[index].withLockedValue { $0 = nil }
                Gauge(label: "tollgate_redis_connections_open").record(slots.filter { $0.withLockedValue { $0 != nil } }.count)
                if !Task.isCancelled {
                    logger.warning("redis connection closed; reconnecting", metadata: ["slot": "\(index)"])
                }
            } catch {
                if wasConnected {
                    logger.warning("redis connect failed; retrying with backoff", metadata: ["slot": "\(index)", "error": "\(error)"])
                }
                wasConnected = false
                Counter(label: "tollgate_redis_connect_failures_total").increment()
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.maximumReconnectDelay)
            }
        }
    }
}

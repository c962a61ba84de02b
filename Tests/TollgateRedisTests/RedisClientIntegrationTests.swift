import Logging
import Testing
import TollgateRedis
import TollgateTestSupport
import TollgateCore

/// Against a real `redis-server` of each test's own.
@Suite(.serialized) struct RedisClientIntegrationTests {
    let logger = Logger(label: "test.redis")

    /// Runs `body` with a client (running as a service) against a fresh server.
    func withClient(
        poolSize: Int = 1,
        commandTimeout: Duration = .seconds(2),
        _ body: (RedisClient, RedisServerProcess) async throws -> Void
    ) async throws {
        let server = try RedisServerProcess()
        try await server.start()
        defer { Task { try? await server.stop() } }
        var configuration = RedisClient.Configuration(endpoint: RedisEndpoint(url: server.url)!)
        configuration.poolSize = poolSize
        configuration.commandTimeout = commandTimeout
        let client = RedisClient(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try await TestEnvironment.waitUntil { client.isConnected }
            try await body(client, server)
            group.cancelAll()
        }
        try await server.stop()
    }

    @Test func setGetDeleteWithConditionsAndExpiry() async throws {
        try await withClient { client, _ in
            try await client.ping()
            #expect(try await client.set("k", to: "v1", condition: .ifNotExists, expiration: .milliseconds(60_000)))
            #expect(try await client.set("k", to: "v2", condition: .ifNotExists) == false)
            #expect(try await client.get("k") == Array("v1".utf8))
            #expect(try await client.set("k", to: "v3", condition: .ifExists))
            #expect(try await client.get("k") == Array("v3".utf8))
            #expect(try await client.set("missing", to: "x", condition: .ifExists) == false)
            #expect(try await client.delete(["k", "missing"]) == 1)
            #expect(try await client.get("k") == nil)
            try await client.set("short", to: "x", expiration: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(150))
            #expect(try await client.get("short") == nil)
        }
    }

    @Test func errorRepliesAreTypedAndLeaveTheConnectionUsable() async throws {
        try await withClient { client, _ in
            try await client.set("str", to: "x")
            await #expect(throws: RedisError.self) {
                _ = try await client.send(RESPCommand("LPUSH", ["str", "y"]))
            }
            do throws(RedisError) {
                _ = try await client.send(RESPCommand("LPUSH", ["str", "y"]))
                Issue.record("LPUSH on a string must fail")
            } catch {
                guard case .server(let reply) = error else { Issue.record("wrong error \(error)"); return }
                #expect(reply.kind == "WRONGTYPE")
            }
            #expect(try await client.get("str") == Array("x".utf8))
        }
    }

    @Test func thousandPipelinedCommandsOnOneConnectionKeepTheirOrder() async throws {
        try await withClient(poolSize: 1) { client, _ in
            // INCR on one key: each reply is the position at which Redis ran the command, so
            // every caller must get a distinct value, and SET/GET pairs must see their own value.
            let replies = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        try await client.set("p:\(index)", to: RESPArgument("value-\(index)"))
                        let value = try await client.get("p:\(index)").map { String(decoding: $0, as: UTF8.self) }
                        return (index, value)
                    }
                }
                var results: [Int: String?] = [:]
                for try await (index, value) in group { results[index] = value }
                return results
            }
            #expect(replies.count == 1000)
            for index in 0..<1000 {
                #expect(replies[index] == "value-\(index)")
            }
            let counters = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<1000 {
                    group.addTask { try await client.send(RESPCommand("INCR", ["counter"])).integer ?? -1 }
                }
                var values: [Int64] = []
                for try await value in group { values.append(value) }
                return values
            }
            #expect(Set(counters) == Set(1...1000))
        }
    }

    @Test func timedOutCommandDoesNotShiftLaterReplies() async throws {
        try await withClient(poolSize: 1, commandTimeout: .milliseconds(100)) { client, _ in
            try await client.set("after", to: "ok")
            await #expect(throws: RedisError.timeout) {
                _ = try await client.send(RESPCommand("DEBUG", ["SLEEP", "0.3"]))
            }
            // This GET queues behind the sleep on the same connection and times out too.
            await #expect(throws: RedisError.timeout) { _ = try await client.get("after") }
            // Once the two late replies (+OK, "ok") have come and been dropped, every reply must
            // again belong to its own command: a shift would hand GET the wrong value or a +OK.
            try await Task.sleep(for: .milliseconds(400))
            for index in 0..<20 {
                try await client.set("after:\(index)", to: RESPArgument("v\(index)"))
                #expect(try await client.get("after:\(index)") == Array("v\(index)".utf8))
            }
            #expect(try await client.get("after") == Array("ok".utf8))
        }
    }

    @Test func killedConnectionReconnects() async throws {
        try await withClient(poolSize: 2) { client, _ in
            try await client.set("survives", to: "yes")
            _ = try await client.send(RESPCommand("CLIENT", ["KILL", "TYPE", "normal", "SKIPME", "no"]))
            try await TestEnvironment.waitUntil(timeout: .seconds(10)) {
                (try? await client.get("survives")) == Array("yes".utf8)
            }
        }
    }

    @Test func serverRestartIsSurvivedAndCommandsFailFastWhileDown() async throws {
        try await withClient(poolSize: 2) { client, server in
            try await server.stop()
            let start = ContinuousClock.now
            await #expect(throws: RedisError.self) { try await client.ping() }
            #expect(ContinuousClock.now - start < .seconds(1))
            try await server.start()
            try await TestEnvironment.waitUntil(timeout: .seconds(10)) {
                (try? await client.ping()) != nil
            }
        }
    }

    @Test func evalshaLoadsTheScriptOnNoscript() async throws {
        try await withClient { client, _ in
            let script = RedisScript("return redis.call('SET', KEYS[1], ARGV[1], 'NX') and 1 or 0")
            _ = try await client.send(RESPCommand("SCRIPT", ["FLUSH"]))
            #expect(try await client.evaluate(script, keys: ["lua"], arguments: ["a"]) == .integer(1))
            #expect(try await client.evaluate(script, keys: ["lua"], arguments: ["b"]) == .integer(0))
            _ = try await client.send(RESPCommand("SCRIPT", ["FLUSH"]))
            #expect(try await client.evaluate(script, keys: ["lua2"], arguments: ["c"]) == .integer(1))
            #expect(try await client.get("lua") == Array("a".utf8))
        }
    }

    @Test func preloadedScriptsAreThereOnEveryNewConnection() async throws {
        let server = try RedisServerProcess()
        try await server.start()
        let script = RedisScript("return 'preloaded'")
        var configuration = RedisClient.Configuration(endpoint: RedisEndpoint(url: server.url)!)
        configuration.poolSize = 1
        configuration.preloadedScripts = [script]
        let client = RedisClient(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { client.isConnected }
            // Plain EVALSHA, no NOSCRIPT fallback: the script must already be loaded.
            #expect(try await client.send(RESPCommand("EVALSHA", [RESPArgument(script.sha1), 0])).string == "preloaded")
            try await server.stop()
            try await server.start()
            try await TestEnvironment.waitUntil(timeout: .seconds(10)) {
                (try? await client.send(RESPCommand("EVALSHA", [RESPArgument(script.sha1), 0])).string) == "preloaded"
            }
        }
        try await server.stop()
    }

    @Test func urlParsing() {
        #expect(RedisEndpoint(url: "redis://127.0.0.1:6380/2") == RedisEndpoint(host: "127.0.0.1", port: 6380, database: 2))
        #expect(RedisEndpoint(url: "redis://:pw@cache:6379") == RedisEndpoint(host: "cache", port: 6379, password: "pw"))
        #expect(RedisEndpoint(url: "redis://user:pw@cache") == RedisEndpoint(host: "cache", password: "pw"))
        #expect(RedisEndpoint(url: "redis://[::1]:7000/0") == RedisEndpoint(host: "::1", port: 7000))
        #expect(RedisEndpoint(url: "http://cache") == nil)
        #expect(RedisEndpoint(url: "redis://cache:notaport") == nil)
    }
}

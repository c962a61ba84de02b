import Foundation
import Logging
import PostgresNIO
import Testing
import TollgatePostgres
import TollgateTestSupport
import TollgateCore

/// Against the real Postgres that `make test` started; each test makes its own database.
@Suite struct MigratorTests {
    let logger = Logger(label: "test.postgres")

    /// Creates a fresh database, runs `body` with its endpoint, then drops it. A Postgres error
    /// from any of the three steps is reported with the server's message.
    func withFreshDatabase(_ body: (PostgresEndpoint) async throws -> Void) async throws {
        let admin = try #require(PostgresEndpoint(url: TestEnvironment.postgresURL))
        let name = "tg_test_\(UUID().uuidString.prefix(8).lowercased())"
        do {
            try await withClient(admin) { client in
                try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            }
            do {
                try await body(admin.with(database: name))
            } catch {
                try? await dropDatabase(name, admin: admin)
                throw error
            }
            try await dropDatabase(name, admin: admin)
        } catch let error as PSQLError {
            throw DetailedPostgresError(error)
        }
    }

    /// PostgresNIO's errors describe themselves generically (to keep data out of production logs);
    /// a failing test shows the server's message, SQLSTATE and query instead.
    struct DetailedPostgresError: Error, CustomStringConvertible {
        let description: String
        init(_ error: PSQLError) { description = String(reflecting: error) }
    }

    func dropDatabase(_ name: String, admin: PostgresEndpoint) async throws {
        try await withClient(admin) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }

    func withClient<T: Sendable>(_ endpoint: PostgresEndpoint, poolSize: Int = 2, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(poolSize: poolSize), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            let result = try await body(client)
            group.cancelAll()
            return result
        }
    }

    func count(_ sql: String, on endpoint: PostgresEndpoint) async throws -> Int {
        try await withClient(endpoint) { client in
            var total = 0
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { total = value }
            return total
        }
    }

    let testMigrations = [
        Migration(version: 1, name: "first", sql: "CREATE TABLE one (id int PRIMARY KEY);"),
        // Slow on purpose: widens the window in which a second runner could slip in.
        Migration(version: 2, name: "slow", sql: "SELECT pg_sleep(0.3); CREATE TABLE two (id int); INSERT INTO two VALUES (1);"),
        Migration(version: 3, name: "third", sql: "ALTER TABLE one ADD COLUMN note text;"),
    ]

    @Test func concurrentRunsApplyEachMigrationExactlyOnce() async throws {
        let migrations = testMigrations
        try await withFreshDatabase { endpoint in
            let runs = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await withClient(endpoint) { client in
                            try await Migrator(migrations: migrations).apply(on: client, logger: logger)
                        }
                    }
                }
                var all: [[Int]] = []
                for try await applied in group { all.append(applied) }
                return all
            }
            #expect(runs.flatMap { $0 }.sorted() == [1, 2, 3])
            #expect(runs.filter { !$0.isEmpty }.count == 1)
            let recorded = try await count("SELECT count(*)::int FROM schema_migrations", on: endpoint)
            let rows = try await count("SELECT count(*)::int FROM two", on: endpoint)
            #expect(recorded == 3)
            #expect(rows == 1)
        }
    }

    @Test func onlyMissingMigrationsRunLater() async throws {
        let migrations = testMigrations
        try await withFreshDatabase { endpoint in
            let first = try await withClient(endpoint) { try await Migrator(migrations: Array(migrations.prefix(2))).apply(on: $0, logger: logger) }
            let second = try await withClient(endpoint) { try await Migrator(migrations: migrations).apply(on: $0, logger: logger) }
            #expect(first == [1, 2])
            #expect(second == [3])
        }
    }

    @Test func aFailingMigrationRollsBackTheWholeRun() async throws {
        let broken = [testMigrations[0], Migration(version: 2, name: "broken", sql: "CREATE TABLE nope (id int); SELECT no_such_function();")]
        try await withFreshDatabase { endpoint in
            await #expect(throws: (any Error).self) {
                try await withClient(endpoint) { try await Migrator(migrations: broken).apply(on: $0, logger: logger) }
            }
            let tables = try await count("SELECT count(*)::int FROM pg_tables WHERE tablename IN ('one', 'nope', 'schema_migrations')", on: endpoint)
            #expect(tables == 0)
        }
    }

    @Test func bundledMigrationsAreOrderedAndApply() async throws {
        let bundled = try Migration.bundled()
        #expect(!bundled.isEmpty)
        #expect(bundled.map(\.version) == bundled.map(\.version).sorted())
        try await withFreshDatabase { endpoint in
            let applied = try await withClient(endpoint) { try await Migrator(migrations: bundled).apply(on: $0, logger: logger) }
            #expect(applied == bundled.map(\.version))
            let orders = try await count("SELECT count(*)::int FROM pg_tables WHERE tablename = 'orders'", on: endpoint)
            #expect(orders == 1)
        }
    }

    @Test func scriptsSplitOnlyAtTopLevelSemicolons() {
        let script = """
            -- leading comment; not a statement
            CREATE TABLE a (note text DEFAULT 'x;y', "odd;name" int);
            /* block; comment */ INSERT INTO a VALUES ('it''s; fine', 1);
            CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;
            DO $$ BEGIN PERFORM 1; END $$
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix(#""odd;name" int)"#))
        #expect(statements[1].hasSuffix("VALUES ('it''s; fine', 1)"))
        #expect(statements[2].hasSuffix("$body$ LANGUAGE plpgsql"))
        #expect(statements[3] == "DO $$ BEGIN PERFORM 1; END $$")
    }

    @Test func endpointURLParsing() {
        let endpoint = PostgresEndpoint(url: "postgres://app:p%40ss@db.example:6543/edge?sslmode=require")
        #expect(endpoint == PostgresEndpoint(host: "db.example", port: 6543, username: "app", password: "p@ss", database: "edge", tls: .require))
        #expect(PostgresEndpoint(url: "postgres://app@db")?.database == "app")
        #expect(PostgresEndpoint(url: "postgres://db/edge") == nil)
        #expect(PostgresEndpoint(url: "postgres://app@db/edge?sslmode=sometimes") == nil)
        #expect(PostgresEndpoint(url: "mysql://app@db/edge") == nil)
    }
}

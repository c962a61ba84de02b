import Foundation
import Logging
import PostgresNIO

/// One versioned schema change, kept as `Migrations/NNNN_name.sql` in the source tree.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// The migrations shipped with this build, in version order.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.missingBundle
        }
        return try load(directory: directory)
    }

    /// Reads `NNNN_name.sql` files from `directory`. Versions must be unique.
    public static func load(directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for file in files {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationError.badFileName(file)
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError.duplicateVersion(next.version)
        }
        return migrations
    }
}

public enum MigrationError: Error, CustomStringConvertible {
    case missingBundle
    case badFileName(String)
    case duplicateVersion(Int)

    public var description: String {
        switch self {
        case .missingBundle: "the migrations resource bundle is missing next to the binary"
        case .badFileName(let name): "migration file \(name) is not named NNNN_name.sql"
        case .duplicateVersion(let version): "two migrations share version \(version)"
        }
    }
}

/// Applies migrations exactly once, however many instances start at the same time.
///
/// Everything happens in one transaction that first takes a transaction-scoped advisory lock:
/// a second instance waits on the lock, then sees the versions the first one recorded and applies
/// nothing. A failing migration rolls back every migration of the run.
public struct Migrator: Sendable {
    /// Arbitrary but fixed: the advisory lock key that serializes migration runs.
    static let advisoryLockKey: Int64 = 0x746F_6C6C_6761_7465  // "tollgate"

    public var migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Applies the missing migrations; returns the versions this call applied.
    @discardableResult
    public func apply(on client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await PostgresMetrics.measure("migrate") { try await applyInTransaction(on: client, logger: logger) }
    }

    private func applyInTransaction(on client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.transaction(logger: logger) { connection in
            // The edge's connections carry short lock and statement timeouts; a migration waits for
            // another instance's migration and may rewrite big tables, so it lifts them for itself.
            try await connection.checkedQuery("SELECT set_config('lock_timeout', '0', true), set_config('statement_timeout', '0', true)", logger: logger)
            try await connection.checkedQuery("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger)
            try await connection.checkedQuery("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.checkedQuery("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            var appliedNow: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                for statement in SQLScript.statements(in: migration.sql) {
                    try await connection.checkedQuery(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.checkedQuery(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                appliedNow.append(migration.version)
            }
            return appliedNow
        }
    }
}

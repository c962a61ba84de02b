import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TollgatePostgres
import TollgateTestSupport

/// Transactions end the way they really ended: a connection Postgres closes in the middle of one
/// (a restart, a cut, a terminated backend) fails its next statement and the transaction at once
/// instead of waiting forever, and the pool goes on with a new connection; a transaction that a
/// swallowed error aborted is not reported committed.
@Suite struct PostgresConnectionClosedTests {
    let support = MigratorTests()

    @Test(.timeLimit(.minutes(1))) func aTransactionWhoseBackendIsTerminatedFailsAndThePoolRecovers() async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint, poolSize: 1) { client in
                try await support.withClient(endpoint) { other in
                    let started = ContinuousClock.now
                    await #expect(throws: PostgresConnectionClosed.self) {
                        try await client.transaction(logger: support.logger) { connection in
                            var backend: Int32 = 0
                            for try await pid in try await connection.checkedQuery("SELECT pg_backend_pid()", logger: support.logger).decode(Int32.self) {
                                backend = pid
                            }
                            try await other.query("SELECT pg_terminate_backend(\(backend))", logger: support.logger)
                            try await TestEnvironment.waitUntil { connection.isClosed }
                            try await connection.checkedQuery("SELECT 1", logger: support.logger)
                        }
                    }
                    #expect(ContinuousClock.now - started < .seconds(5))
                    // The one pooled connection was replaced: the next transaction runs.
                    let answer = try await client.transaction(logger: support.logger) { connection in
                        var value: Int32 = 0
                        for try await one in try await connection.checkedQuery("SELECT 1", logger: support.logger).decode(Int32.self) { value = one }
                        return value
                    }
                    #expect(answer == 1)
                }
            }
        }
    }

    @Test func aTransactionThatPostgresAbortedIsNotReportedCommitted() async throws {
        try await support.withFreshDatabase { endpoint in
            try await support.withClient(endpoint) { client in
                try await client.query("CREATE TABLE kept (v int)", logger: support.logger)
                await #expect(throws: PostgresTransactionRolledBack.self) {
                    try await client.transaction(logger: support.logger) { connection in
                        try await connection.checkedQuery("INSERT INTO kept VALUES (1)", logger: support.logger)
                        do {
                            try await connection.checkedQuery("SELECT 1 / 0", logger: support.logger)
                        } catch {
                            // Swallowed: the transaction is aborted all the same.
                        }
                        return 0
                    }
                }
                #expect(try await support.count("SELECT count(*)::int FROM kept", on: endpoint) == 0)
            }
        }
    }
}

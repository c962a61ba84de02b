import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TollgatePostgres
import TollgateTestSupport

/// A connection Postgres closes in the middle of a transaction (a restart, a cut, a terminated
/// backend): its next statement, and the transaction, fail at once instead of waiting forever,
/// and the pool goes on with a new connection.
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
}

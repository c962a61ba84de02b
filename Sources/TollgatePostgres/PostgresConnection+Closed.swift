import Logging
import NIOCore
import PostgresNIO

/// A statement refused because its connection has closed (Postgres restarted, the network cut,
/// the backend terminated): the transaction it belonged to is gone, nothing of it committed.
public struct PostgresConnectionClosed: Error, CustomStringConvertible {
    public var description: String { "the Postgres connection is closed" }
}

extension PostgresConnection {
    /// `query(_:logger:)`, refused at once on a closed connection.
    ///
    /// PostgresNIO 1.33.2 never answers a query written to a connection that has already closed:
    /// the write is dropped by a channel whose handlers are gone, and the query's promise is left
    /// pending for good (`PostgresConnectionClosedTests` shows it). So a statement after the
    /// connection died mid-transaction, or the ROLLBACK after a failed one, hung its caller
    /// forever, with the connection leased: each Postgres restart could take a commit worker and a
    /// pool slot for the life of the process. Every statement the edge sends on a leased
    /// connection goes through here or ``command(_:logger:)``. A close in the microseconds between
    /// this check and the write (made from another thread) can still be missed: then the caller
    /// hangs as before, answered by the commit deadline; statements without rows avoid that
    /// window with ``command(_:logger:)``.
    @discardableResult
    func checkedQuery(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        guard !isClosed else { throw PostgresConnectionClosed() }
        return try await self.query(query, logger: logger, file: file, line: line)
    }
}

/// COMMIT answered ROLLBACK: the transaction had been aborted by a failed statement, so nothing
/// of it was committed (Postgres reports this as a successful command, not an error).
public struct PostgresTransactionRolledBack: Error, CustomStringConvertible {
    public var description: String { "the transaction was aborted; COMMIT rolled it back" }
}

extension PostgresConnection {
    /// A statement whose rows are not wanted (BEGIN, COMMIT, a savepoint), checked and written on
    /// the connection's event loop: there the check and the write cannot be split by the close,
    /// so it is refused or answered, never left pending. Returns the command tag.
    @discardableResult
    func command(_ query: PostgresQuery, logger: Logger) async throws -> String {
        try await eventLoop.flatSubmit { () -> EventLoopFuture<PostgresQueryResult> in
            guard !self.isClosed else { return self.eventLoop.makeFailedFuture(PostgresConnectionClosed()) }
            return self.query(query, logger: logger)
        }.get().metadata.command
    }
}

extension PostgresClient {
    /// `withTransaction(logger:_:)` whose BEGIN, COMMIT and ROLLBACK are ``PostgresConnection/command(_:logger:)``:
    /// a transaction whose connection closed fails instead of waiting forever on its ROLLBACK, and
    /// one that COMMIT rolled back throws ``PostgresTransactionRolledBack``. Throws `body`'s error
    /// (or BEGIN's, or COMMIT's) as it is.
    func transaction<Result: Sendable>(
        logger: Logger, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await connection.command("BEGIN", logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                _ = try? await connection.command("ROLLBACK", logger: logger)
                throw error
            }
            // A body that swallowed a failed statement leaves an aborted transaction, which COMMIT
            // ends as a rollback: its work must not be reported as committed.
            guard try await connection.command("COMMIT", logger: logger) == "COMMIT" else { throw PostgresTransactionRolledBack() }
            return result
        }
    }
}

import Logging
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
    /// connection goes through here. (A close in the microseconds between this check and the
    /// write can still be missed; the commit deadline answers that caller.)
    @discardableResult
    func checkedQuery(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        guard !isClosed else { throw PostgresConnectionClosed() }
        return try await self.query(query, logger: logger, file: file, line: line)
    }
}

extension PostgresClient {
    /// `withTransaction(logger:_:)` whose BEGIN, COMMIT and ROLLBACK are ``PostgresConnection/checkedQuery(_:logger:file:line:)``:
    /// a transaction whose connection closed fails instead of waiting forever on its ROLLBACK.
    /// Throws `body`'s error (or BEGIN's, or COMMIT's) as it is.
    func transaction<Result: Sendable>(
        logger: Logger, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await connection.checkedQuery("BEGIN", logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                // A closed connection has no transaction left to roll back.
                if !connection.isClosed { _ = try? await connection.checkedQuery("ROLLBACK", logger: logger) }
                throw error
            }
            try await connection.checkedQuery("COMMIT", logger: logger)
            return result
        }
    }
}

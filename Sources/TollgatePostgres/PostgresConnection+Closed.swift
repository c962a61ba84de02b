import Logging
import NIOCore
import PostgresNIO

/// A statement refused because its connection has closed (Postgres restarted, the network cut,
/// the backend terminated): the transaction it belonged to is gone, nothing of it committed.
public struct PostgresConnectionClosed: Error, CustomStringConvertible {
    public var description: String { "the Postgres connection is closed" }
}

/// COMMIT answered ROLLBACK: the transaction had been aborted by a failed statement, so nothing
/// of it was committed (Postgres reports this as a successful command, not an error).
public struct PostgresTransactionRolledBack: Error, CustomStringConvertible {
    public var description: String { "the transaction was aborted; COMMIT rolled it back" }
}

/// Every statement the edge sends on a leased connection goes through this extension.
///
/// PostgresNIO 1.33.2 never answers a query written to a connection that has already closed: the
/// write is dropped by a channel whose handlers are gone, and the query's promise is left pending
/// for good (`PostgresConnectionClosedTests` shows it). So a statement after the connection died
/// mid-transaction, or the ROLLBACK after a failed one, hung its caller forever with the
/// connection leased: each Postgres restart could take a commit worker and a pool slot for the
/// life of the process. Here the check and the write happen together on the connection's event
/// loop, where a close cannot come between them: a statement is refused or answered, never left
/// pending.
extension PostgresConnection {
    /// Runs `query` and returns its rows, collected on the event loop (every statement of the edge
    /// returns a handful). Throws ``PostgresConnectionClosed`` at once on a closed connection.
    @discardableResult
    func checkedQuery(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresCollectedRows {
        PostgresCollectedRows(rows: try await checkedResult(query, logger: logger, file: file, line: line).rows)
    }

    /// A statement whose rows are not wanted (BEGIN, COMMIT, a savepoint). Returns the command tag.
    @discardableResult
    func command(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> String {
        try await checkedResult(query, logger: logger, file: file, line: line).metadata.command
    }

    private func checkedResult(_ query: PostgresQuery, logger: Logger, file: String, line: Int) async throws -> PostgresQueryResult {
        try await eventLoop.flatSubmit { () -> EventLoopFuture<PostgresQueryResult> in
            guard !self.isClosed else { return self.eventLoop.makeFailedFuture(PostgresConnectionClosed()) }
            return self.query(query, logger: logger, file: file, line: line)
        }.get()
    }
}

/// The rows of one statement, read in full. An `AsyncSequence` of `PostgresRow` like PostgresNIO's
/// own row sequence, so PostgresNIO's `decode((A, B).self)` reads them the same way.
public struct PostgresCollectedRows: AsyncSequence, Sendable {
    public typealias Element = PostgresRow
    let rows: [PostgresRow]

    public struct AsyncIterator: AsyncIteratorProtocol {
        var rows: IndexingIterator<[PostgresRow]>
        public mutating func next() async -> PostgresRow? { rows.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rows: rows.makeIterator()) }
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

    /// One statement on a connection leased for it alone (`query(_:)` outside a transaction),
    /// through ``PostgresConnection/checkedQuery(_:logger:file:line:)``: PostgresNIO's own
    /// `PostgresClient.query` can lose a statement to a connection that closes as it is written.
    @discardableResult
    public func checkedQuery(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresCollectedRows {
        try await withConnection { try await $0.checkedQuery(query, logger: logger, file: file, line: line) }
    }
}

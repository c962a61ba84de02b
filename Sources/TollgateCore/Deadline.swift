import Synchronization

/// Runs `operation` in a task of its own and answers with its result, or with nil once `timeout`
/// has passed, whichever comes first.
///
/// The operation is abandoned at the deadline, never cancelled: a PostgresNIO query does not end
/// on cancellation (a task group would wait for it), and cancelling a connection lease while
/// Postgres was cut off left the pool unable to recover (the chaos scenario). An abandoned
/// operation runs on until its connection ends it, so it must be safe to finish after its caller
/// was answered: every caller here writes under a unique key a retry finds again. `finished`
/// runs when the operation ends, in time or not (callers count what is still outstanding).
public func resultWithin<T: Sendable>(
    _ timeout: Duration,
    finished: @escaping @Sendable () -> Void = {},
    _ operation: @escaping @Sendable () async throws -> T
) async -> Result<T, any Error>? {
    await withCheckedContinuation { (answer: CheckedContinuation<Result<T, any Error>?, Never>) in
        let answered = Mutex(false)
        let answerOnce: @Sendable (Result<T, any Error>?) -> Void = { result in
            let first = answered.withLock { done in defer { done = true }; return !done }
            if first { answer.resume(returning: result) }
        }
        let deadline = Task {
            try await Task.sleep(for: timeout)
            answerOnce(nil)
        }
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            finished()
            answerOnce(result)
            deadline.cancel()
        }
    }
}

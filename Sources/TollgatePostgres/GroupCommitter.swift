import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import TollgateOrders

/// Group commit for payment events: concurrent callers share transactions.
///
/// A durable commit costs a few milliseconds of fsync, so one transaction per callback would cap
/// the edge at a few hundred commits per second per connection. Callers instead queue their
/// events; each of `workers` loops takes everything queued (up to `maximumBatchEvents`) and
/// commits it in one transaction. Events that arrive while a commit is in flight form the next
/// batch. Each caller is answered only after the transaction holding its events has committed.
public final class GroupCommitter: Service, Sendable {
    public struct Options: Sendable {
        /// Most events in one transaction. Default 256.
        public var maximumBatchEvents = 256
        /// Transactions in flight at once (each holds one pooled connection). Default 4.
        public var workers = 4
        /// A batch not committed within this long fails (callers answer 503 and the provider
        /// retries). Without it, a vanished Postgres would hold callbacks open indefinitely.
        /// Safe even if the commit did land: the retry then finds a duplicate. Default 5 s.
        public var commitTimeout: Duration = .seconds(5)
        public init() {}
    }

    public typealias Results = [Result<CommitOutcome, any Error>]

    private struct Job {
        var events: [PaymentEvent]
        var continuation: CheckedContinuation<Results, any Error>
    }

    private struct State {
        var queue: [Job] = []
        var idleWorkers: [CheckedContinuation<Void, Never>] = []
        var stopped = false
    }

    private let store: PaymentEventStore
    private let options: Options
    private let state = NIOLockedValueBox(State())

    public init(store: PaymentEventStore, options: Options = Options()) {
        self.store = store
        self.options = options
    }

    /// Commits `events` (in one transaction with whatever else is queued) and returns one result
    /// per event. Throws if that transaction failed as a whole: then none of them is committed.
    public func commit(_ events: [PaymentEvent]) async throws -> Results {
        try await withCheckedThrowingContinuation { continuation in
            let (worker, refused) = state.withLockedValue { state -> (CheckedContinuation<Void, Never>?, Bool) in
                guard !state.stopped else { return (nil, true) }
                state.queue.append(Job(events: events, continuation: continuation))
                return (state.idleWorkers.popLast(), false)
            }
            if refused { continuation.resume(throwing: GroupCommitterError.stopped) }
            worker?.resume()
        }
    }

    public func run() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<options.workers {
                group.addTask { await self.work() }
            }
            // Graceful shutdown: finish what is queued, then stop the workers.
            group.addTask {
                try? await gracefulShutdown()
                self.stop()
            }
        }
    }

    private func stop() {
        let waiters = state.withLockedValue { state in
            state.stopped = true
            defer { state.idleWorkers.removeAll() }
            return state.idleWorkers
        }
        for waiter in waiters { waiter.resume() }
    }

    private func work() async {
        while let batch = await nextBatch() {
            await commit(batch)
        }
    }

    /// Takes up to `maximumBatchEvents` queued events (whole jobs), waiting if none is queued.
    /// Nil once stopped and drained.
    private func nextBatch() async -> [Job]? {
        while true {
            enum Step { case batch([Job]), wait, finished }
            var step = Step.wait
            await withCheckedContinuation { (idle: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if !state.queue.isEmpty {
                        var taken: [Job] = []
                        var count = 0
                        while let job = state.queue.first, taken.isEmpty || count + job.events.count <= options.maximumBatchEvents {
                            taken.append(state.queue.removeFirst())
                            count += job.events.count
                        }
                        step = .batch(taken)
                        return true
                    }
                    if state.stopped {
                        step = .finished
                        return true
                    }
                    state.idleWorkers.append(idle)
                    return false
                }
                if resumeNow { idle.resume() }
            }
            switch step {
            case .batch(let jobs): return jobs
            case .finished: return nil
            case .wait: continue
            }
        }
    }

    private func commit(_ jobs: [Job]) async {
        do {
            let events = jobs.flatMap(\.events)
            let results = try await withThrowingTaskGroup(of: GroupCommitter.Results?.self) { group in
                group.addTask { try await self.store.commit(events) }
                group.addTask {
                    try await Task.sleep(for: self.options.commitTimeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let results = first else { throw GroupCommitterError.timedOut }
                return results
            }
            var offset = 0
            for job in jobs {
                job.continuation.resume(returning: Array(results[offset..<(offset + job.events.count)]))
                offset += job.events.count
            }
        } catch {
            for job in jobs { job.continuation.resume(throwing: error) }
        }
    }
}

public enum GroupCommitterError: Error {
    /// The committer is shutting down; nothing was written.
    case stopped
    /// The batch did not commit in time; it may or may not have landed (a retry will tell).
    case timedOut
}

import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import TollgateCore
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
        /// Commits running (possibly abandoned by their deadline) and when each started.
        var attemptsInFlight: [UInt64: ContinuousClock.Instant] = [:]
        var nextAttemptID: UInt64 = 0
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
        let events = jobs.flatMap(\.events)
        switch await commitWithinDeadline(events) {
        case .success(let results):
            Self.countFailures(results.count(where: { if case .failure = $0 { true } else { false } }), reason: "event_rolled_back")
            var offset = 0
            for job in jobs {
                job.continuation.resume(returning: Array(results[offset..<(offset + job.events.count)]))
                offset += job.events.count
            }
        case .failure(let error):
            Self.countFailures(events.count, reason: (error as? GroupCommitterError) == .timedOut ? "timed_out" : "transaction_failed")
            for job in jobs { job.continuation.resume(throwing: error) }
        }
    }

    /// The store's commit, or `timedOut` at the deadline, whichever comes first.
    ///
    /// The commit runs in a task of its own that the deadline abandons rather than awaits: a task
    /// group waits for its children, and a PostgresNIO query does not end on cancellation, so a
    /// commit stuck on a cut connection held its worker, and every callback queued behind it,
    /// past the deadline with no answer (the chaos scenario's Postgres cut). An abandoned commit
    /// may still land; its callers were answered 503, and their retries find the duplicate.
    /// While one is outstanding past the deadline, ``stuckCommit`` tells readiness.
    private func commitWithinDeadline(_ events: [PaymentEvent]) async -> Result<Results, any Error> {
        // As many abandoned commits as workers is the cap: past it Postgres is not finishing
        // commits at all, and more attempts would only queue on the pool. Fail fast instead.
        let attemptID = state.withLockedValue { state -> UInt64? in
            guard state.attemptsInFlight.count < 2 * options.workers else { return nil }
            state.nextAttemptID += 1
            state.attemptsInFlight[state.nextAttemptID] = .now
            return state.nextAttemptID
        }
        guard let attemptID else { return .failure(GroupCommitterError.timedOut) }
        // Abandoned at the deadline, never cancelled (``resultWithin``); the cap above bounds how
        // many can be outstanding.
        let outcome = await resultWithin(options.commitTimeout, finished: { [state] in
            _ = state.withLockedValue { $0.attemptsInFlight.removeValue(forKey: attemptID) }
        }) { [store] in
            try await store.commit(events)
        }
        return outcome ?? .failure(GroupCommitterError.timedOut)
    }

    /// How long the oldest commit still in flight has run, when that is longer than the commit
    /// deadline (its callers were answered 503; it holds a Postgres connection). Readiness reports
    /// it, so a load balancer sends callbacks to an edge whose commits finish.
    public var stuckCommit: Duration? {
        let oldest = state.withLockedValue { $0.attemptsInFlight.values.min() }
        guard let oldest else { return nil }
        let age = ContinuousClock.now - oldest
        return age > options.commitTimeout ? age : nil
    }

    /// `tollgate_commit_failed_events_total{reason}`: events whose callback is answered 503 because
    /// their commit failed. Counted here, where every commit ends, because no other place sees all
    /// three ways: the deadline passed (`timed_out`), the transaction failed as a whole
    /// (`transaction_failed`), or one event was rolled back to its savepoint (`event_rolled_back`).
    /// `tollgate_postgres_errors_total` cannot stand in: a failed fast path that the event-by-event
    /// path then commits is an error there but no failure here.
    private static func countFailures(_ events: Int, reason: String) {
        guard events > 0 else { return }
        Counter(label: "tollgate_commit_failed_events_total", dimensions: [("reason", reason)]).increment(by: events)
    }
}

public enum GroupCommitterError: Error {
    /// The committer is shutting down; nothing was written.
    case stopped
    /// The batch did not commit in time; it may or may not have landed (a retry will tell).
    case timedOut
}

import Metrics
import NIOConcurrencyHelpers

/// Dedup keys waiting to be marked done: one writer at a time takes what is queued, oldest first
/// (up to `batchSize` keys), and writes it with one script call per hash slot, so callbacks that
/// commit together share a call instead of one each. Callers wait for their keys (``written()``).
///
/// A mark only spares a later duplicate the trip to Postgres, whose unique key is the guard. A
/// mark dropped because the queue is full (Redis slow or down) costs that trip, and a retry of
/// the same event hears "in flight" (409) until the claim's lease runs out.
final class DoneMarkQueue: Sendable {
    /// A key and its hash slot (the `{tenant}` tag): one script call may only touch one slot.
    private struct Mark {
        var slot: String
        var key: String
    }

    private struct State {
        var pending: [Mark] = []
        var writing = false
        /// Keys accepted so far, and keys written (or whose write failed) so far, oldest first.
        var accepted = 0
        var finished = 0
        var waiters: [(upTo: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = NIOLockedValueBox(State())
    private let capacity: Int
    private let batchSize: Int
    private let write: @Sendable (_ slot: String, _ keys: [String]) async -> Void

    /// `capacity`: keys queued at most (more are dropped, counted). `write` never throws: it counts
    /// and logs its own failures.
    init(capacity: Int, batchSize: Int, write: @escaping @Sendable (_ slot: String, _ keys: [String]) async -> Void) {
        self.capacity = max(1, capacity)
        self.batchSize = max(1, batchSize)
        self.write = write
    }

    /// Queues `keys`, all of hash slot `slot`.
    func add(_ keys: [String], slot: String) {
        guard !keys.isEmpty else { return }
        let (startWriter, dropped) = state.withLockedValue { state -> (Bool, Int) in
            let taken = min(keys.count, max(0, capacity - state.pending.count))
            state.pending += keys.prefix(taken).map { Mark(slot: slot, key: $0) }
            state.accepted += taken
            guard !state.writing, taken > 0 else { return (false, keys.count - taken) }
            state.writing = true
            return (true, keys.count - taken)
        }
        if dropped > 0 { Counter(label: "tollgate_dedup_done_marks_dropped_total").increment(by: dropped) }
        if startWriter { Task { await self.drain() } }
    }

    /// Returns once every key queued before the call has been written (or its write failed).
    func written() async {
        await withCheckedContinuation { continuation in
            let done = state.withLockedValue { state -> Bool in
                guard state.finished < state.accepted else { return true }
                state.waiters.append((state.accepted, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLockedValue { state -> [Mark] in
                let batch: [Mark]
                if state.pending.count <= batchSize {
                    (batch, state.pending) = (state.pending, [])  // the usual case: no copy
                } else {
                    batch = Array(state.pending.prefix(batchSize))
                    state.pending.removeFirst(batch.count)
                }
                if batch.isEmpty { state.writing = false }
                return batch
            }
            if batch.isEmpty { return }
            var slots: [String] = []
            var keys: [String: [String]] = [:]
            for mark in batch {
                if keys[mark.slot] == nil { slots.append(mark.slot) }
                keys[mark.slot, default: []].append(mark.key)
            }
            for slot in slots { await write(slot, keys[slot]!) }
            let ready = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.finished += batch.count
                let finished = state.finished
                let ready = state.waiters.filter { $0.upTo <= finished }.map(\.continuation)
                state.waiters.removeAll { $0.upTo <= finished }
                return ready
            }
            for waiter in ready { waiter.resume() }
        }
    }
}

import NIOCore

/// The state of one pipelined Redis connection, as a pure value.
///
/// Redis answers commands in the order it received them, so the n-th reply belongs to the n-th
/// command still waiting. A command that times out keeps its place in the line (its reply will
/// still come, and must be skipped), but its caller is answered at once.
///
/// The channel handler feeds events in and performs the returned actions; nothing here does I/O,
/// so every ordering and failure case is tested with plain values.
struct RedisConnectionStateMachine<Waiter> {
    enum State {
        case active
        case closed(RedisError)
    }

    /// A command in flight: its caller, or nobody if the caller gave up (timed out).
    enum Slot {
        case waiting(id: UInt64, waiter: Waiter)
        case abandoned
    }

    enum EnqueueAction {
        /// Write the command; the waiter is now in line.
        case write(id: UInt64)
        /// The connection is closed: answer the waiter with this error.
        case fail(Waiter, RedisError)
    }

    enum ReplyAction {
        case succeed(Waiter, RESPValue)
        case failServerError(Waiter, RedisServerError)
        /// The reply belongs to a command whose caller timed out: drop it.
        case discard
        /// A reply nobody asked for: the stream is out of step, close the connection.
        case closeConnection(RedisError)
    }

    enum TimeoutAction {
        case fail(Waiter)
        case none
    }

    private(set) var state: State = .active
    private(set) var slots = CircularBuffer<Slot>()
    private var nextID: UInt64 = 0

    /// Commands still owed a reply, including abandoned ones.
    var inFlight: Int { slots.count }

    mutating func enqueue(_ waiter: Waiter) -> EnqueueAction {
        guard case .active = state else {
            guard case .closed(let error) = state else { fatalError("unreachable") }
            return .fail(waiter, error)
        }
        nextID &+= 1
        slots.append(.waiting(id: nextID, waiter: waiter))
        return .write(id: nextID)
    }

    mutating func replyReceived(_ reply: RESPValue) -> ReplyAction {
        guard case .active = state, let slot = slots.popFirst() else {
            return .closeConnection(.protocolViolation("a reply arrived with no command in flight"))
        }
        switch slot {
        case .abandoned:
            return .discard
        case .waiting(_, let waiter):
            if case .error(let error) = reply { return .failServerError(waiter, error) }
            return .succeed(waiter, reply)
        }
    }

    /// The command `id` ran out of time. Its slot stays (its reply must still be skipped).
    mutating func timeoutFired(id: UInt64) -> TimeoutAction {
        guard let index = slots.firstIndex(where: { if case .waiting(id, _) = $0 { true } else { false } }),
              case .waiting(_, let waiter) = slots[index]
        else { return .none }
        slots[index] = .abandoned
        return .fail(waiter)
    }

    /// The connection closed or failed: every waiter still in line gets `error`, later commands too.
    mutating func closed(_ error: RedisError) -> [Waiter] {
        if case .active = state { state = .closed(error) }
        let waiters = slots.compactMap { slot -> Waiter? in
            if case .waiting(_, let waiter) = slot { return waiter }
            return nil
        }
        slots.removeAll()
        return waiters
    }
}

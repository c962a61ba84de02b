import Dispatch
import Synchronization

/// libFuzzer calls a synchronous C function, and several entry points are `async` (signature
/// schemes so a scheme may fetch certificates; jwt-kit's key collection is an actor).
///
/// The operation runs on the calling thread from start to end: `Task.immediate` starts it here,
/// and with this thread's executor as the task's preference every job it enqueues later (an actor
/// hop, a resumption) is run here too, since default actors run on their task's preferred executor.
/// Waiting for another thread of the global pool instead costs a context switch per hop, which on
/// a busy machine made the player-token target fifty times slower.
func runBlocking<Result: Sendable>(_ operation: @escaping @Sendable () async -> Result) -> Result {
    let executor = CallingThreadExecutor()
    let box = ResultBox<Result>()
    Task.immediate(executorPreference: executor) {
        box.value = await operation()
        executor.finish()
    }
    executor.runUntilFinished()
    return box.value!
}

/// A task executor whose jobs run on the thread that calls ``runUntilFinished()``.
private final class CallingThreadExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])
    private let finished = Atomic<Bool>(false)
    /// Signalled once per enqueued job and once at the end, so the runner sleeps only when idle.
    private let wake = DispatchSemaphore(value: 0)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        wake.signal()
    }

    func finish() {
        finished.store(true, ordering: .releasing)
        wake.signal()
    }

    func runUntilFinished() {
        while true {
            if let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                job.runSynchronously(on: asUnownedTaskExecutor())
                continue
            }
            if finished.load(ordering: .acquiring) { return }
            wake.wait()
        }
    }
}

/// Written once by the task before it finishes, read once after: the executor's finish orders them.
private final class ResultBox<Result>: @unchecked Sendable {
    var value: Result?
}

import Foundation
import Synchronization
import Testing
import TollgateCore
@testable import TollgateHTTP
import TollgateTestSupport

/// `/readyz` answers by its deadline even when a dependency's check never ends (a PostgresNIO
/// query or lease ignores cancellation: the task group the probe used to wait in held `/readyz`
/// and the server's shutdown while Postgres was cut off), and hung checks do not pile up.
@Suite struct ReadinessProbeTests {
    /// A check that hangs until released, counting how many were started.
    final class Hang: Sendable {
        let started = Mutex(0)
        let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])

        func check() async throws {
            started.withLock { $0 += 1 }
            await withCheckedContinuation { continuation in waiting.withLock { $0.append(continuation) } }
        }

        func release() {
            for continuation in waiting.withLock({ list in defer { list = [] }; return list }) { continuation.resume() }
        }
    }

    @Test func aCheckThatNeverEndsIsDownByItsDeadlineAndStartsNoPileOfChecks() async throws {
        let hang = Hang()
        let probe = ReadinessProbe(checks: [("postgres", { try await hang.check() }), ("redis", {})], timeout: .milliseconds(100))
        let start = ContinuousClock.now
        let first = await probe.run()
        #expect(ContinuousClock.now - start < .seconds(5), "answered by the deadline, not when the check ends")
        #expect(first.checks["postgres"] == .down(reason: "no answer within 0.1 seconds"))
        #expect(first.checks["redis"] == .up)
        // Probes every few seconds do not start another check while the first still hangs.
        for _ in 0..<5 {
            let again = await probe.run()
            #expect(again.checks["postgres"] == .down(reason: "an earlier check has not answered yet"))
        }
        #expect(hang.started.withLock { $0 } == 1)
        // Once it ends, the next probe checks again.
        hang.release()
        try await TestEnvironment.waitUntil { hang.waiting.withLock(\.isEmpty) }
        try await Task.sleep(for: .milliseconds(50))
        _ = await probe.run()
        #expect(hang.started.withLock { $0 } == 2)
        hang.release()
    }

    /// A dependency that comes back while an old check still hangs is seen within `retryAfter`,
    /// and from then on every probe checks it; at most `maximumAbandoned` checks hang at once.
    @Test func aDependencyThatComesBackIsSeenWhileAnOldCheckStillHangs() async throws {
        let hang = Hang()
        let down = Mutex(true)
        let probe = ReadinessProbe(checks: [("postgres", { if down.withLock({ $0 }) { try await hang.check() } })], timeout: .milliseconds(50),
                                   running: RunningChecks(retryAfter: .milliseconds(300), maximumAbandoned: 2))
        #expect(await probe.run().checks["postgres"] == .down(reason: "no answer within 0.05 seconds"))
        #expect(await probe.run().checks["postgres"] == .down(reason: "an earlier check has not answered yet"))
        // Back, while the first check still hangs: seen once retryAfter has passed, then on every probe.
        down.withLock { $0 = false }
        try await Task.sleep(for: .milliseconds(350))
        for _ in 0..<3 { #expect(await probe.run().checks["postgres"] == .up) }
        #expect(hang.started.withLock { $0 } == 1 && hang.waiting.withLock(\.count) == 1, "the first check still hangs")
        // Down again: a second check hangs; with two hanging no third starts, however long.
        down.withLock { $0 = true }
        #expect(await probe.run().checks["postgres"] == .down(reason: "no answer within 0.05 seconds"))
        try await Task.sleep(for: .milliseconds(350))
        #expect(await probe.run().checks["postgres"] == .down(reason: "an earlier check has not answered yet"), "two hang: no third")
        #expect(hang.started.withLock { $0 } == 2)
        hang.release()
    }
}

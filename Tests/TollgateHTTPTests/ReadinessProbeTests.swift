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
}

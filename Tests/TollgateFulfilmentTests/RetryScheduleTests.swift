import Foundation
import Testing
import TollgateCore
import TollgateFulfilment
import TollgateOrders

/// The retry schedule on a fake clock, what each answer of a game backend means (``DeliveryVerdict``),
/// and the one place a verdict becomes a delivery's fate (``AttemptRecord/next(after:attempt:schedule:random:)``).
/// No server and no sleeping: simulated time is the sum of the delays the schedule hands out.
@Suite struct RetryScheduleTests {
    /// A delivery that fails every attempt, run on simulated time.
    struct FailedRun: Equatable {
        /// The wait after each failed attempt, in order.
        var waits: [Duration] = []
        /// When each attempt started, the first at zero.
        var startedAt: [Duration] = []
        /// How the last attempt ended.
        var end: AttemptRecord.Next?
        var attempts: Int { startedAt.count }
        /// Simulated time from the first attempt to the last.
        var elapsed: Duration { waits.reduce(.zero, +) }
    }

    /// Attempts one delivery until the schedule gives up, every attempt answered `status` with
    /// `headers`, jitter drawn from a SplitMix64 seeded with `seed`.
    func failEveryAttempt(schedule: RetrySchedule = .svix, seed: UInt64, status: Int = 503,
                          headers: [(name: String, value: String)] = []) -> FailedRun {
        var random = SplitMix64(seed: seed)
        var clock = Duration.zero
        var run = FailedRun()
        // Bounded: a schedule that never ends would fail here, not hang the suite.
        for attempt in 1...100 {
            run.startedAt.append(clock)
            let verdict = DeliveryVerdict.classify(status: status, headers: headers, body: [], event: .orderPaid)
            let next = AttemptRecord.next(after: verdict, attempt: attempt, schedule: schedule, random: &random)
            guard case .retry(let wait) = next else {
                run.end = next
                return run
            }
            run.waits.append(wait)
            clock += wait
        }
        return run
    }

    /// The delay `schedule` gives after `attempt` on a generator seeded with `seed`.
    func delay(_ schedule: RetrySchedule = .svix, after attempt: Int, retryAfter: Duration? = nil, seed: UInt64 = 7) -> Duration? {
        var random = SplitMix64(seed: seed)
        return schedule.delay(afterAttempt: attempt, retryAfter: retryAfter, random: &random)
    }

    // MARK: - The schedule on a fake clock

    /// Svix's schedule: eight attempts (one at once, seven retries), each wait within ±20% of its
    /// step, about a day and a half in all, and then the delivery is a dead letter.
    @Test func aDeliveryFailingEveryAttemptIsTriedEightTimesOnSvixsScheduleAndThenFails() {
        let schedule = RetrySchedule.svix
        #expect(schedule.attempts == 8)
        #expect(schedule.delays == [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000)])
        for seed in [1, 2, 42, 0xDEAD_BEEF] as [UInt64] {
            let run = failEveryAttempt(seed: seed)
            #expect(run.attempts == 8, "seed \(seed)")
            #expect(run.end == .failed, "seed \(seed)")
            #expect(run.startedAt.first == Duration.zero, "the first attempt is at once")
            for (index, (wait, step)) in zip(run.waits, schedule.delays).enumerated() {
                let bounds = (step * (1 - schedule.jitter))...(step * (1 + schedule.jitter))
                #expect(bounds.contains(wait), "seed \(seed): wait \(index + 1) is \(wait), step \(step)")
            }
            let steps = schedule.delays.reduce(Duration.zero, +).seconds
            #expect(steps == 99_305)
            let total = run.elapsed.seconds
            #expect(total >= steps * 0.8 - 0.001 && total <= steps * 1.2 + 0.001, "seed \(seed): \(total) s in all")
            #expect(run.startedAt.last == run.elapsed, "the last attempt starts after every wait")
        }
    }

    /// Deliveries that failed together do not retry together: the jitter differs between
    /// generators, and the same seed repeats the same run (so a failing run can be replayed).
    @Test func jitterSpreadsRetriesAndASeedRepeatsItsRun() {
        let first = failEveryAttempt(seed: 1)
        let second = failEveryAttempt(seed: 2)
        #expect(first.waits != second.waits)
        #expect(first == failEveryAttempt(seed: 1))
        // Across many deliveries the first retry lands at many different moments, not one.
        let firstWaits = Set((0..<50 as Range<UInt64>).compactMap { delay(after: 1, seed: $0) })
        #expect(firstWaits.count > 40)
        #expect(firstWaits.allSatisfy { (Duration.seconds(4)...Duration.seconds(6)).contains($0) })
    }

    /// Without jitter the schedule is exact, and its length is the delays plus the first attempt.
    @Test func aScheduleWithoutJitterWaitsExactlyItsSteps() {
        let schedule = RetrySchedule(delays: [.seconds(1), .seconds(60)], jitter: 0)
        let run = failEveryAttempt(schedule: schedule, seed: 3)
        #expect(schedule.attempts == 3)
        #expect(run.waits == [.seconds(1), .seconds(60)])
        #expect(run.startedAt == [.zero, .seconds(1), .seconds(61)])
        #expect(run.end == .failed)
    }

    // MARK: - Retry-After as a floor

    /// A backend asking for an hour after the first attempt gets at least its hour, not the 5 s step;
    /// one asking for more is held to `maximumRetryAfter` (an hour by default), so an endpoint
    /// cannot park a delivery for weeks.
    @Test func aRetryAfterLongerThanTheStepIsAFloorUpToTheMaximum() throws {
        let hour = Duration.seconds(3600)
        #expect(RetrySchedule.svix.maximumRetryAfter == hour)
        let asked = try #require(delay(after: 1, retryAfter: hour))
        #expect(asked >= hour)
        #expect(asked == hour)
        #expect(delay(after: 1, retryAfter: .seconds(14 * 86_400)) == hour, "two weeks asked, an hour given")
        let patient = RetrySchedule(delays: RetrySchedule.svix.delays, maximumRetryAfter: .seconds(7200))
        #expect(delay(patient, after: 1, retryAfter: .seconds(3 * 3600)) == .seconds(7200))
        #expect(delay(patient, after: 1, retryAfter: .seconds(5400)) == .seconds(5400))
    }

    /// A Retry-After shorter than the scheduled (jittered) step changes nothing: the schedule is a floor too.
    @Test func aRetryAfterShorterThanTheStepChangesNothing() throws {
        for attempt in 1...7 {
            let scheduled = try #require(delay(after: attempt, seed: 11))
            #expect(delay(after: attempt, retryAfter: .seconds(1), seed: 11) == scheduled, "after attempt \(attempt)")
            #expect(delay(after: attempt, retryAfter: .zero, seed: 11) == scheduled, "after attempt \(attempt)")
        }
        // After attempt 3 (a 30 min step) a 60 s Retry-After is well inside the jitter's floor.
        #expect(delay(after: 3, retryAfter: .seconds(60), seed: 5) == delay(after: 3, seed: 5))
    }

    /// Retry-After never extends the schedule: after the last attempt the delivery fails however
    /// long the backend asked to wait. Attempts out of range have no delay.
    @Test func aRetryAfterOnTheLastAttemptStillEndsTheDelivery() {
        #expect(delay(after: 8, retryAfter: .seconds(60)) == nil)
        #expect(delay(after: 0) == nil)
        #expect(delay(after: 9) == nil)
        let run = failEveryAttempt(seed: 9, status: 429, headers: [("Retry-After", "7")])
        #expect(run.attempts == 8)
        #expect(run.end == .failed)
        #expect(run.waits.first.map { $0 >= .seconds(7) } == true, "the first wait honours the 7 s asked")
    }

    // MARK: - What an answer means

    func classify(_ status: Int, headers: [(name: String, value: String)] = [], body: String = "",
                  event: FulfilmentEvent = .orderPaid, now: Date = RetryScheduleTests.now) -> DeliveryVerdict {
        DeliveryVerdict.classify(status: status, headers: headers, body: Array(body.utf8), event: event, now: now)
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let decline = #"{"decline":{"reason":"player_banned"}}"#

    /// The wait a retry verdict carries, in seconds; nil when the verdict is not a retry or names no wait.
    func retryAfterSeconds(_ verdict: DeliveryVerdict) -> Double? {
        guard case .retry(let retryAfter?) = verdict else { return nil }
        return retryAfter.seconds
    }

    /// An HTTP date (RFC 9110 section 5.6.7, IMF-fixdate) `seconds` after ``now``.
    func httpDate(_ seconds: TimeInterval) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Self.now.addingTimeInterval(seconds))
    }

    /// Any 2xx is delivered, whatever its body; 410 is the endpoint gone.
    @Test func twoHundredsAreDeliveredAnd410IsGone() {
        #expect(classify(200) == .delivered)
        #expect(classify(204) == .delivered)
        #expect(classify(200, body: Self.decline) == .delivered, "a 2xx with a decline body is still a 2xx")
        #expect(classify(410) == .gone)
        #expect(classify(410, event: .orderRefunded) == .gone)
    }

    /// Only a grant can be declined, and only with the documented body: a 422 declining a revoke,
    /// or a 422 without the body, is an error like any other and retried.
    @Test func a422DeclinesAGrantOnlyWithTheDocumentedBody() {
        #expect(classify(422, body: Self.decline, event: .orderPaid) == .declined(reason: "player_banned"))
        #expect(classify(422, body: Self.decline, event: .orderReinstated) == .declined(reason: "player_banned"))
        #expect(classify(422, body: Self.decline, event: .orderRefunded) == .retry(retryAfter: nil))
        #expect(classify(422, body: Self.decline, event: .orderChargedBack) == .retry(retryAfter: nil))
        #expect(classify(422) == .retry(retryAfter: nil))
        #expect(classify(422, body: #"{"error":"unprocessable"}"#) == .retry(retryAfter: nil))
        #expect(classify(422, body: "not json") == .retry(retryAfter: nil))
        // A decline without a reason still declines; a long reason is cut to 200 characters.
        #expect(classify(422, body: #"{"decline":{}}"#) == .declined(reason: "declined"))
        let long = String(repeating: "x", count: 500)
        #expect(classify(422, body: #"{"decline":{"reason":"\#(long)"}}"#) == .declined(reason: String(long.prefix(200))))
    }

    /// 429 carries its Retry-After as seconds or as an HTTP date; a date in the past or an
    /// unreadable value is no wait at all (the schedule alone decides).
    @Test func a429CarriesItsRetryAfterInSecondsOrAsADate() {
        #expect(classify(429, headers: [("Retry-After", "7")]) == .retry(retryAfter: .seconds(7)))
        #expect(classify(429, headers: [("retry-after", " 7 ")]) == .retry(retryAfter: .seconds(7)), "header names are case-insensitive")
        let dated = retryAfterSeconds(classify(429, headers: [("Retry-After", httpDate(90))]))
        #expect(dated.map { abs($0 - 90) < 1 } == true, "an HTTP date 90 s ahead is a 90 s wait: \(String(describing: dated))")
        #expect(classify(429, headers: [("Retry-After", httpDate(-90))]) == .retry(retryAfter: nil))
        #expect(classify(429, headers: [("Retry-After", "soon")]) == .retry(retryAfter: nil))
        #expect(classify(429, headers: [("Retry-After", "-5")]) == .retry(retryAfter: nil))
        // Read byte by byte, not by DateFormatter, which traps on some non-ASCII text (the
        // delivery-answer fuzzer's find, Fuzz/regressions/delivery-answer): such a date is no date.
        #expect(classify(429, headers: [("Retry-After", "Sun, 21 Nov 2025 0\u{314}\u{FFFD}th GMT")]) == .retry(retryAfter: nil))
        #expect(classify(429, headers: [("Retry-After", "Sun, 31 Feb 2099 25:00:00 GMT")]) == .retry(retryAfter: nil), "hour 25")
        #expect(classify(429, headers: [("Retry-After", "Sunday, 06-Nov-94 08:49:37 GMT")]) == .retry(retryAfter: nil), "the obsolete forms are not read")
        // A known instant: 2026-11-26T00:00:00Z is 1795651200.
        let known = DeliveryVerdict.classify(status: 429, headers: [("Retry-After", "Thu, 26 Nov 2026 00:00:00 GMT")], body: [], event: .orderPaid,
                                             now: Date(timeIntervalSince1970: 1_795_651_200 - 60))
        #expect(known == .retry(retryAfter: .seconds(60)))
        #expect(classify(429) == .retry(retryAfter: nil))
        #expect(classify(503, headers: [("Retry-After", "120")]) == .retry(retryAfter: .seconds(120)))
    }

    /// Server errors are retried, and so are redirects: a delivery is never followed to another
    /// host (the signed body would go where the tenant did not configure).
    @Test func serverErrorsAndRedirectsAreRetried() {
        #expect(classify(500) == .retry(retryAfter: nil))
        #expect(classify(502, body: "<html>bad gateway</html>") == .retry(retryAfter: nil))
        #expect(classify(301, headers: [("Location", "https://elsewhere.example/tollgate")]) == .retry(retryAfter: nil))
        #expect(classify(307, headers: [("Location", "https://elsewhere.example/tollgate")]) == .retry(retryAfter: nil))
        #expect(classify(400) == .retry(retryAfter: nil))
    }

    // MARK: - A verdict becomes the delivery's fate

    func next(_ verdict: DeliveryVerdict, attempt: Int, schedule: RetrySchedule = .svix) -> AttemptRecord.Next {
        var random = SplitMix64(seed: 13)
        return AttemptRecord.next(after: verdict, attempt: attempt, schedule: schedule, random: &random)
    }

    /// Delivered, declined and gone end the attempt the same way on any attempt, the last included;
    /// a retry waits on the schedule (Retry-After as its floor) until the last attempt, then fails.
    @Test func eachVerdictMapsToItsDeliverysFate() {
        let last = RetrySchedule.svix.attempts
        for attempt in [1, 4, last] {
            #expect(next(.delivered, attempt: attempt) == .delivered)
            #expect(next(.declined(reason: "player_banned"), attempt: attempt) == .declined(reason: "player_banned"))
            #expect(next(.gone, attempt: attempt) == .endpointGone, "410 disables the endpoint, it does not use up the delivery")
        }
        guard case .retry(let first) = next(.retry(retryAfter: nil), attempt: 1) else {
            Issue.record("a failed first attempt must be retried")
            return
        }
        #expect((Duration.seconds(4)...Duration.seconds(6)).contains(first))
        #expect(next(.retry(retryAfter: .seconds(600)), attempt: 2) == .retry(after: .seconds(600)), "10 min asked after a 5 min step")
        #expect(next(.retry(retryAfter: nil), attempt: last - 1) != .failed)
        #expect(next(.retry(retryAfter: nil), attempt: last) == .failed)
        #expect(next(.retry(retryAfter: .seconds(7)), attempt: last) == .failed)
        let short = RetrySchedule(delays: [.seconds(1)], jitter: 0)
        #expect(next(.retry(retryAfter: nil), attempt: 1, schedule: short) == .retry(after: .seconds(1)))
        #expect(next(.retry(retryAfter: nil), attempt: 2, schedule: short) == .failed)
    }
}

import Testing
import TollgateRateLimits

/// GCRA as plain values on a fake clock (integer nanoseconds).
@Suite struct GCRATests {
    static let second: Int64 = 1_000_000_000

    /// Feeds requests at the given times; returns how many were admitted.
    func admitted(at times: [Int64], limit: GCRALimit, startTAT: Int64? = nil) -> Int {
        var tat = startTAT
        var count = 0
        for now in times {
            let decision = GCRA.decide(tat: tat, now: now, limit: limit)
            if decision.admitted {
                count += 1
                tat = decision.newTAT
            }
        }
        return count
    }

    @Test func steadyRateAtTheLimitIsAllAdmittedAndDoubleIsHalved() {
        let limit = GCRALimit(rate: Rate(parsing: "10/s")!, burst: 1)
        let atRate = (0..<100).map { Int64($0) * Self.second / 10 }
        #expect(admitted(at: atRate, limit: limit) == 100)
        let doubleRate = (0..<200).map { Int64($0) * Self.second / 20 }
        #expect(admitted(at: doubleRate, limit: limit) == 100)
    }

    @Test func burstIsAdmittedAtOnceThenTheRateApplies() {
        let limit = GCRALimit(rate: Rate(parsing: "10/s")!, burst: 5)
        #expect(admitted(at: Array(repeating: 0, count: 20), limit: limit) == 5)
        let first = GCRA.decide(tat: nil, now: 0, limit: limit)
        #expect(first.admitted && first.remaining == 4)
        var tat = first.newTAT
        for _ in 0..<4 { tat = GCRA.decide(tat: tat, now: 0, limit: limit).newTAT }
        let denied = GCRA.decide(tat: tat, now: 0, limit: limit)
        #expect(!denied.admitted)
        #expect(denied.retryAfter == Self.second / 10)
        #expect(denied.newTAT == tat, "a denied request consumes nothing")
        #expect(GCRA.decide(tat: tat, now: Self.second / 10, limit: limit).admitted)
    }

    @Test func longIdleRefillsOnlyToTheBurst() {
        let limit = GCRALimit(rate: Rate(parsing: "10/s")!, burst: 3)
        let afterAnHour = Array(repeating: 3600 * Self.second, count: 10)
        #expect(admitted(at: afterAnHour, limit: limit, startTAT: 0) == 3)
    }

    @Test func clockGoingBackwardsNeverAdmitsMore() {
        let limit = GCRALimit(rate: Rate(parsing: "1/s")!, burst: 1)
        let first = GCRA.decide(tat: nil, now: 10 * Self.second, limit: limit)
        #expect(first.admitted)
        // The clock steps back 5 s: the stored TAT is in the future, so the key stays limited.
        let back = GCRA.decide(tat: first.newTAT, now: 5 * Self.second, limit: limit)
        #expect(!back.admitted)
        #expect(back.retryAfter == 6 * Self.second)
    }

    @Test func onePerDay() {
        let limit = GCRALimit(rate: Rate(parsing: "1/d")!, burst: 1)
        let day = 86_400 * Self.second
        #expect(admitted(at: [0, 1, day - 1, day, day + 1, 2 * day], limit: limit) == 3)
    }

    @Test func thousandPerSecondOverTenSeconds() {
        let limit = GCRALimit(rate: Rate(parsing: "1000/s")!, burst: 1000)
        // 3000 requests a second for 10 s: the ideal is 10 s x 1000/s + the initial burst.
        let times = (0..<30_000).map { Int64($0) * Self.second / 3000 }
        let count = admitted(at: times, limit: limit)
        #expect((10_998...11_000).contains(count), "\(count)")
    }

    @Test func anyDenyingRuleMeansNoRuleConsumes() {
        let loose = GCRALimit(rate: Rate(parsing: "100/s")!, burst: 100)
        let tight = GCRALimit(rate: Rate(parsing: "1/min")!, burst: 1)
        let first = GCRA.decideAll(tats: [nil, nil], now: 0, limits: [loose, tight])
        #expect(first.allSatisfy { $0.admitted })
        let second = GCRA.decideAll(tats: first.map(\.newTAT), now: 0, limits: [loose, tight])
        #expect(second[0].admitted && !second[1].admitted)
        #expect(second[0].newTAT == first[0].newTAT, "the loose rule's budget is not spent on a denied request")
    }

    @Test func aDeniedRequestReportsTheOtherRulesAsTheyStand() {
        let loose = GCRALimit(rate: Rate(parsing: "100/s")!, burst: 100)
        let tight = GCRALimit(rate: Rate(parsing: "1/min")!, burst: 1)
        let first = GCRA.decideAll(tats: [nil, nil], now: 0, limits: [loose, tight])
        let second = GCRA.decideAll(tats: first.map(\.newTAT), now: 0, limits: [loose, tight])
        // The denied request spent nothing: the loose rule stands where the first request left it.
        #expect(second[0].remaining == first[0].remaining)
        #expect(second[0].resetAfter == first[0].resetAfter)
        #expect(second[0].retryAfter == 0)
    }

    @Test func aShadowDenialNeitherBlocksNorStopsTheOtherRulesConsuming() {
        let loose = GCRALimit(rate: Rate(parsing: "100/s")!, burst: 100)
        let tight = GCRALimit(rate: Rate(parsing: "1/min")!, burst: 1)
        let modes: [RuleMode] = [.enforce, .shadow]
        let first = GCRA.decideAll(tats: [nil, nil], now: 0, limits: [loose, tight], modes: modes)
        #expect(GCRA.admits(first, modes: modes))
        let second = GCRA.decideAll(tats: first.map(\.newTAT), now: 0, limits: [loose, tight], modes: modes)
        #expect(second[0].admitted && !second[1].admitted)
        #expect(GCRA.admits(second, modes: modes), "a shadow rule only reports")
        #expect(second[0].newTAT == first[0].newTAT + loose.emissionInterval, "the enforced rule consumed")
        #expect(second[1].newTAT == first[1].newTAT, "the denying shadow rule did not")
        #expect(second[1].retryAfter == 60 * Self.second)
    }

    @Test func anEnforcedDenialStopsShadowRulesConsumingToo() {
        let loose = GCRALimit(rate: Rate(parsing: "100/s")!, burst: 100)
        let tight = GCRALimit(rate: Rate(parsing: "1/min")!, burst: 1)
        let modes: [RuleMode] = [.shadow, .enforce]
        let first = GCRA.decideAll(tats: [nil, nil], now: 0, limits: [loose, tight], modes: modes)
        let second = GCRA.decideAll(tats: first.map(\.newTAT), now: 0, limits: [loose, tight], modes: modes)
        #expect(!GCRA.admits(second, modes: modes))
        #expect(second[0].admitted && second[0].newTAT == first[0].newTAT)
    }

    @Test func withoutModesEveryRuleEnforces() {
        let tight = GCRALimit(rate: Rate(parsing: "1/min")!, burst: 1)
        let first = GCRA.decideAll(tats: [nil], now: 0, limits: [tight])
        let second = GCRA.decideAll(tats: first.map(\.newTAT), now: 0, limits: [tight])
        #expect(!GCRA.admits(second))
        #expect(GCRA.admits(second, modes: [.shadow]))
    }

    @Test func standingIsWhatDecideWouldLeaveBeforeSpending() {
        let limit = GCRALimit(rate: Rate(parsing: "10/s")!, burst: 5)
        #expect(GCRA.standing(tat: nil, now: 0, limit: limit) == GCRAStanding(remaining: 5, resetAfter: 0))
        #expect(GCRA.standing(tat: -Self.second, now: 0, limit: limit) == GCRAStanding(remaining: 5, resetAfter: 0), "a TAT in the past is no TAT")
        var tat: Int64? = nil
        for _ in 0..<3 { tat = GCRA.decide(tat: tat, now: 0, limit: limit).newTAT }
        let standing = GCRA.standing(tat: tat, now: 0, limit: limit)
        #expect(standing == GCRAStanding(remaining: 2, resetAfter: 3 * Self.second / 10))
        let next = GCRA.decide(tat: tat, now: 0, limit: limit)
        #expect(next.remaining == standing.remaining - 1)
    }

    @Test func ratesParse() {
        #expect(Rate(parsing: "100/s") == Rate(count: 100, period: .seconds(1)))
        #expect(Rate(parsing: "5/min") == Rate(count: 5, period: .seconds(60)))
        #expect(Rate(parsing: "2/h") == Rate(count: 2, period: .seconds(3600)))
        #expect(Rate(parsing: "100/5m") == Rate(count: 100, period: .seconds(300)))
        #expect(Rate(parsing: "10/250ms") == Rate(count: 10, period: .milliseconds(250)))
        for bad in ["0/s", "-1/s", "10", "10/", "/s", "10/fortnight", "10/0s", "1.5/s"] {
            #expect(Rate(parsing: bad) == nil, "\(bad)")
        }
    }
}

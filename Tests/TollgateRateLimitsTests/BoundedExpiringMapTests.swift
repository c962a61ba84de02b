import Testing
import TollgateRateLimits

/// The rate limiter's capped in-process map, as plain values on a fake clock.
@Suite struct BoundedExpiringMapTests {
    @Test func anEntryReadsAsAbsentFromItsExpiryOn() {
        var map = BoundedExpiringMap<String, Int64>(capacity: 4)
        map.set(7, for: "a", expiresAt: 100, now: 0)
        #expect(map.value(for: "a", now: 99) == 7)
        #expect(map.value(for: "a", now: 100) == nil)
        #expect(map.value(for: "b", now: 0) == nil)
        map.set(8, for: "a", expiresAt: 200, now: 150)
        #expect(map.value(for: "a", now: 150) == 8, "a later set replaces the entry and its expiry")
    }

    @Test func aFullMapDropsExpiredEntriesBeforeEvictingLiveOnes() {
        var map = BoundedExpiringMap<Int, Int>(capacity: 8)
        for key in 0..<4 { map.set(key, for: key, expiresAt: 10, now: 0) }
        for key in 4..<8 { map.set(key, for: key, expiresAt: 1000, now: 0) }
        #expect(map.count == 8)
        let evicted = map.set(8, for: 8, expiresAt: 1000, now: 20)
        #expect(evicted == 0, "the four expired entries made room")
        #expect(map.count == 5)
        for key in 4...8 { #expect(map.value(for: key, now: 20) == key) }
    }

    @Test func aFullMapOfLiveEntriesEvictsTheSoonestToExpire() {
        var map = BoundedExpiringMap<Int, Int>(capacity: 16)
        for key in 0..<16 { map.set(key, for: key, expiresAt: 1000 + Int64(key), now: 0) }
        let evicted = map.set(16, for: 16, expiresAt: 5000, now: 0)
        #expect(evicted == 2, "an eighth of the capacity is freed at once")
        #expect(map.count == 15)
        #expect(map.value(for: 0, now: 0) == nil && map.value(for: 1, now: 0) == nil)
        for key in 2...16 { #expect(map.value(for: key, now: 0) == key) }
    }

    @Test func evictionKeepsExactlyTheLatestExpiringEntries() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let capacity = Int.random(in: 8...200, using: &random)
            var map = BoundedExpiringMap<Int, Int>(capacity: capacity)
            var deadlines: [Int: Int64] = [:]
            for key in 0..<capacity {
                deadlines[key] = Int64.random(in: 1...50, using: &random)   // ties on purpose
                map.set(key, for: key, expiresAt: deadlines[key]!, now: 0)
            }
            let evicted = map.set(-1, for: -1, expiresAt: 1000, now: 0)
            #expect(evicted == capacity / 8)
            let kept = deadlines.keys.filter { map.value(for: $0, now: 0) != nil }
            #expect(kept.count == capacity - capacity / 8)
            let evictedLatest = deadlines.filter { map.value(for: $0.key, now: 0) == nil }.map(\.value).max()!
            let keptEarliest = kept.map { deadlines[$0]! }.min()!
            #expect(evictedLatest <= keptEarliest, "no kept entry expires sooner than an evicted one")
        }
    }

    @Test func updatingAKeyOfAFullMapEvictsNothing() {
        var map = BoundedExpiringMap<Int, Int>(capacity: 3)
        for key in 0..<3 { map.set(key, for: key, expiresAt: 100, now: 0) }
        #expect(map.set(42, for: 1, expiresAt: 200, now: 0) == 0)
        #expect(map.count == 3 && map.value(for: 1, now: 150) == 42)
    }

    @Test func entriesThatExpireTogetherAreEvictedOnlyAsFarAsNeeded() {
        var map = BoundedExpiringMap<Int, Int>(capacity: 16)
        for key in 0..<16 { map.set(key, for: key, expiresAt: 1000, now: 0) }
        #expect(map.set(16, for: 16, expiresAt: 1000, now: 0) == 2)
        #expect(map.count == 15)
    }

    @Test func aHundredThousandKeysNeverOutgrowTheCapacity() {
        var map = BoundedExpiringMap<Int, Int64>(capacity: 1000)
        var evicted = 0
        for key in 0..<100_000 {
            let now = Int64(key)
            evicted += map.set(now + 5000, for: key, expiresAt: now + 5000, now: now)
            if key % 997 == 0 { #expect(map.count <= 1000) }
        }
        #expect(map.count <= 1000)
        #expect(evicted > 0, "entries live for 5000 ticks, longer than 1000 keys take to fill the map")
        #expect(evicted >= 100_000 - 1000)
        #expect(map.value(for: 99_999, now: 99_999) == 104_999, "the newest key is kept")
    }

    @Test func capacityIsAtLeastOne() {
        var map = BoundedExpiringMap<Int, Int>(capacity: 0)
        #expect(map.capacity == 1)
        map.set(1, for: 1, expiresAt: 10, now: 0)
        #expect(map.set(2, for: 2, expiresAt: 10, now: 0) == 1)
        #expect(map.value(for: 2, now: 0) == 2 && map.count == 1)
    }
}

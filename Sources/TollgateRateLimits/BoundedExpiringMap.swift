/// A dictionary with a size cap whose entries expire, for the rate limiter's in-process state
/// (fallback TATs, the over-limit cache), so that a flood of distinct clients cannot grow memory
/// without bound.
///
/// Each entry carries the time it stops mattering (a TAT, a denied-until); at or after it, the
/// entry reads as absent. Expired entries are swept only when a new key finds the map full; if
/// the sweep leaves too little room, the entries closest to expiry are evicted. Times are
/// integers on the caller's clock, as in ``GCRA``.
///
/// ```swift
/// var map = BoundedExpiringMap<String, Int64>(capacity: 100_000)
/// let evicted = map.set(tat, for: key, expiresAt: tat, now: now)
/// let stored = map.value(for: key, now: now)   // nil once `now >= tat`
/// ```
public struct BoundedExpiringMap<Key: Hashable, Value> {
    struct Entry {
        var value: Value
        var expiresAt: Int64
    }

    /// Entries held at most (at least 1).
    public let capacity: Int
    private var entries: [Key: Entry] = [:]

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Entries held, expired ones not yet swept included.
    public var count: Int { entries.count }

    /// The value of `key`, or nil if there is none or it has expired at `now`.
    public func value(for key: Key, now: Int64) -> Value? {
        guard let entry = entries[key], entry.expiresAt > now else { return nil }
        return entry.value
    }

    /// Stores `value` for `key` until `expiresAt`. Returns how many unexpired entries were evicted
    /// to make room (expired ones are dropped silently: they already read as absent).
    @discardableResult
    public mutating func set(_ value: Value, for key: Key, expiresAt: Int64, now: Int64) -> Int {
        var evicted = 0
        if entries.count >= capacity, entries[key] == nil {
            evicted = makeRoom(now: now)
        }
        entries[key] = Entry(value: value, expiresAt: expiresAt)
        return evicted
    }

    /// Room freed by one sweep: an eighth of the capacity, so the O(n) sweep runs at most once per
    /// `capacity / 8` new keys (amortized O(1) per insert).
    private var headroom: Int { max(1, capacity / 8) }

    /// Drops expired entries; then, if fewer than ``headroom`` slots are free, evicts the entries
    /// soonest to expire. Returns how many unexpired entries were evicted.
    private mutating func makeRoom(now: Int64) -> Int {
        var deadlines = entries.values.compactMap { $0.expiresAt > now ? $0.expiresAt : nil }
        let excess = deadlines.count - (capacity - headroom)
        guard excess > 0 else {
            entries = entries.filter { $0.value.expiresAt > now }
            return 0
        }
        // Soonest-expiring first: a TAT about to pass is nearly no entry and a denial about to lapse
        // nearly over, so they carry the least state (least-recently-used would need a list per map).
        let threshold = Self.select(excess - 1, in: &deadlines)
        var tiesToEvict = excess - deadlines.count { $0 < threshold }
        entries = entries.filter { _, entry in
            if entry.expiresAt != threshold { return entry.expiresAt > threshold }   // expired ones are below too
            guard tiesToEvict > 0 else { return true }
            tiesToEvict -= 1
            return false
        }
        return excess
    }

    /// The `k`-th smallest of `values` (from 0), by quickselect: O(n) on average where sorting is
    /// O(n log n). Reorders `values`.
    static func select(_ k: Int, in values: inout [Int64]) -> Int64 {
        var low = 0, high = values.count - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { high = j } else if k >= i { low = i } else { return values[k] }
        }
        return values[k]
    }
}

extension BoundedExpiringMap: Sendable where Key: Sendable, Value: Sendable {}
extension BoundedExpiringMap.Entry: Sendable where Key: Sendable, Value: Sendable {}

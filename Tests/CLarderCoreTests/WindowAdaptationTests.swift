import CLarderCore
import Larder
import Testing

/// W-TinyLFU's window adapts from the misses on recent departures
/// (larder_policy_window.c): it opens on a recency-biased workload, where
/// the fixed 1 % window of Caffeine 2.6 loses most hits to LRU, and stays
/// small on a loop, where opening it would lose W-TinyLFU's resistance.
@Suite struct WindowAdaptationTests {
    /// The slot holding `key`, or LARDER_NIL.
    func find(_ key: Int, hash: UInt64, in core: OpaquePointer, keyOfSlot: [Int]) -> UInt32 {
        var cursor = larder_cursor()
        var slot = larder_core_find_first(core, hash, &cursor)
        while slot != LARDER_NIL && keyOfSlot[Int(slot)] != key { slot = larder_core_find_next(core, &cursor) }
        return slot
    }

    /// Replays `keys` through a core of `capacity` entries (get, then insert
    /// on a miss, as a cache does) and returns the hits.
    func hits(_ keys: [Int], capacity: UInt32, flags: UInt32) -> Int {
        var out: OpaquePointer?
        precondition(larder_core_create(capacity, flags, &out) == LARDER_OK)
        let core = out!
        defer { larder_core_destroy(core) }
        var keyOfSlot = [Int](repeating: -1, count: Int(capacity))
        var hits = 0
        for key in keys {
            let hash = mix64(UInt64(key))
            var slot = find(key, hash: hash, in: core, keyOfSlot: keyOfSlot)
            if slot != LARDER_NIL {
                hits += 1
                larder_core_touch(core, slot)
                continue
            }
            var declined = false
            while larder_core_count(core) == capacity {
                var victim = LARDER_NIL
                guard larder_core_victim_for(core, hash, 1, &victim) == LARDER_OK else {
                    declined = true
                    break
                }
                keyOfSlot[Int(victim)] = -1
                larder_core_remove(core, victim)
            }
            if declined { continue }
            precondition(larder_core_insert(core, hash, 1, &slot) == LARDER_OK)
            keyOfSlot[Int(slot)] = key
        }
        #expect(larder_core_check(core) == 0)
        return hits
    }

    /// The window's count limit after each `every` requests of `keys` (get,
    /// then insert on a miss through larder_core_replace_lru), and the hits.
    func windowLimits(_ keys: [Int], capacity: UInt32, every: Int) -> (hits: Int, limits: [UInt32]) {
        var out: OpaquePointer?
        precondition(larder_core_create(capacity, UInt32(LARDER_CORE_WTINYLFU), &out) == LARDER_OK)
        let core = out!
        defer { larder_core_destroy(core) }
        var keyOfSlot = [Int](repeating: -1, count: Int(capacity))
        var hits = 0
        var limits = [larder_core_window_limit(core)]
        for (i, key) in keys.enumerated() {
            let hash = mix64(UInt64(key))
            var slot = find(key, hash: hash, in: core, keyOfSlot: keyOfSlot)
            if slot != LARDER_NIL {
                hits += 1
                larder_core_touch(core, slot)
            } else if larder_core_count(core) < capacity {
                precondition(larder_core_insert(core, hash, 1, &slot) == LARDER_OK)
                keyOfSlot[Int(slot)] = key
            } else {
                let status = larder_core_replace_lru(core, hash, 1, .max, &slot)
                if status == LARDER_OK { keyOfSlot[Int(slot)] = key } else { #expect(status == LARDER_REJECTED) }
            }
            if i % every == every - 1 { limits.append(larder_core_window_limit(core)) }
        }
        #expect(larder_core_check(core) == 0)
        return (hits, limits)
    }

    static let lru = UInt32(LARDER_CORE_LRU), adaptive = UInt32(LARDER_CORE_WTINYLFU)
    static let fixed = UInt32(LARDER_CORE_WTINYLFU) | UInt32(LARDER_CORE_FIXED_WINDOW)

    /// Keys drawn from 160 consecutive ids that move one id on every 8 requests:
    /// each key is popular for a while, then never asked for again.
    @Test func theWindowOpensOnASlidingWorkingSet() {
        var rng = SplitMix64(seed: 7)
        let keys = (0..<60_000).map { $0 / 8 + Int(rng.next() % 160) }
        let lru = hits(keys, capacity: 200, flags: Self.lru)
        let adaptive = hits(keys, capacity: 200, flags: Self.adaptive)
        let fixed = hits(keys, capacity: 200, flags: Self.fixed)
        #expect(fixed < lru * 3 / 4, "the fixed window: \(fixed) hits, LRU \(lru)")
        #expect(adaptive >= lru * 97 / 100, "the adaptive window: \(adaptive) hits, LRU \(lru)")
    }

    /// A loop over 300 keys through 200 entries: LRU never hits; W-TinyLFU
    /// keeps most of a cache's worth, and adapting must not give that up.
    @Test func theWindowStaysSmallOnALoop() {
        let keys = (0..<60_000).map { $0 % 300 }
        let lru = hits(keys, capacity: 200, flags: Self.lru)
        let adaptive = hits(keys, capacity: 200, flags: Self.adaptive)
        let fixed = hits(keys, capacity: 200, flags: Self.fixed)
        #expect(lru == 0)
        #expect(fixed > keys.count / 2, "the fixed window: \(fixed) hits")
        #expect(adaptive >= fixed * 98 / 100, "the adaptive window: \(adaptive) hits, fixed \(fixed)")
    }

    /// Skewed keys (a key below a uniform bound below 5,000, so small keys
    /// are asked for most) with every second request from a loop of 1,000:
    /// misses find main's recent victims as well as keys that lost
    /// admission. The window may grow and shrink, but never below Caffeine's
    /// 1 % (5 of 500 entries): smaller, it only lost hits (the frequency-biased
    /// LIRS traces). Without the floor it fell to one entry here.
    @Test func theWindowNeverShrinksBelowOnePercent() throws {
        var rng = SplitMix64(seed: 1)
        let keys = (0..<60_000).map { i -> Int in
            if i % 2 == 0 { return 100_000 + (i / 2) % 1000 }
            let bound = rng.next() % 5000
            return Int(rng.next() % (bound + 1))
        }
        let (_, limits) = windowLimits(keys, capacity: 500, every: 500)
        #expect(limits.first == 5)
        #expect(limits.min() == 5, "the window's limits: \(limits)")
        #expect(Set(limits).count > 1, "the window never moved: \(limits)")
    }

    @Test func onlyWTinyLFUHasAWindow() {
        for flags in [UInt32(LARDER_CORE_LRU), UInt32(LARDER_CORE_S3FIFO)] {
            var out: OpaquePointer?
            precondition(larder_core_create(100, flags, &out) == LARDER_OK)
            #expect(larder_core_window_limit(out!) == 0)
            larder_core_destroy(out!)
        }
    }
}

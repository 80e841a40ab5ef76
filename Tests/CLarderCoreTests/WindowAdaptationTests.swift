import CLarderCore
import Larder
import Testing

/// W-TinyLFU's window adapts from the misses on recent departures
/// (larder_policy_window.c): it opens on a recency-biased workload, where
/// the fixed 1 % window of Caffeine 2.6 loses most hits to LRU, and stays
/// small on a loop, where opening it would lose W-TinyLFU's resistance.
@Suite struct WindowAdaptationTests {
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
            var cursor = larder_cursor()
            var slot = larder_core_find_first(core, hash, &cursor)
            while slot != LARDER_NIL && keyOfSlot[Int(slot)] != key { slot = larder_core_find_next(core, &cursor) }
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
}

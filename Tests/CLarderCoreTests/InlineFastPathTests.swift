import CLarderCore
import Testing

/// The header-inlined hit path (larder_core_inline.h).
@Suite struct InlineFastPathTests {
    /// Slots the tag-only lookup yields for `hash`, in probe order.
    func lookupCandidates(_ core: TestCore, _ hash: UInt64) -> [UInt32] {
        var cursor = larder_cursor()
        var result: [UInt32] = []
        var slot = larder_core_lookup_first(core.raw, hash, &cursor)
        while slot != LARDER_NIL {
            result.append(slot)
            slot = larder_core_lookup_next(core.raw, &cursor)
        }
        return result
    }

    @Test func lookupMatchesTagsWhereFindMatchesWholeHashes() {
        let core = TestCore(capacity: 8)
        // Same upper 32 bits (tag and home bucket), different lower bits.
        let a: UInt64 = 0x1234_5678_0000_0001, b: UInt64 = 0x1234_5678_0000_0002, other: UInt64 = 0x9999_0000_0000_0001
        var slotA: UInt32 = 0, slotB: UInt32 = 0, slotOther: UInt32 = 0
        #expect(larder_core_insert(core.raw, a, 1, &slotA) == LARDER_OK)
        #expect(larder_core_insert(core.raw, other, 1, &slotOther) == LARDER_OK)
        #expect(larder_core_insert(core.raw, b, 1, &slotB) == LARDER_OK)
        #expect(core.candidates(a) == [slotA])
        #expect(core.candidates(b) == [slotB])
        // The caller's key comparison tells a and b apart; the index only filters by tag.
        #expect(lookupCandidates(core, a) == [slotA, slotB])
        #expect(lookupCandidates(core, b) == [slotA, slotB])
        #expect(lookupCandidates(core, other) == [slotOther])
        #expect(lookupCandidates(core, 0x5555_0000_0000_0000).isEmpty)
        larder_core_remove(core.raw, slotA)
        #expect(lookupCandidates(core, b) == [slotB])
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func inlineTouchMovesToTheHeadAndLeavesTheHeadInPlace() {
        let core = TestCore(capacity: 4)
        var slots: [UInt32] = []
        for hash: UInt64 in [1 << 40, 2 << 40, 3 << 40] {
            var slot: UInt32 = 0
            #expect(larder_core_insert(core.raw, hash, 1, &slot) == LARDER_OK)
            slots.append(slot)
        }
        larder_core_touch_inline(core.raw, slots[0])
        #expect(core.mruToLru() == [slots[0], slots[2], slots[1]])
        larder_core_touch_inline(core.raw, slots[0])  // already the most recent
        #expect(core.mruToLru() == [slots[0], slots[2], slots[1]])
        larder_core_touch_inline(core.raw, slots[1])  // the least recent
        #expect(core.mruToLru() == [slots[1], slots[0], slots[2]])
        #expect(core.lruToMru() == [slots[2], slots[0], slots[1]])
        #expect(larder_core_check(core.raw) == 0)
    }

    /// Touches are deferred in a ring (larder_core_touch_inline); every
    /// reader of the order must see them applied, in order, across the lag,
    /// removals of touched slots, inserts and a clear.
    @Test func deferredTouchesAreInvisibleToEveryReader() {
        let capacity: UInt32 = 600
        let core = TestCore(capacity: capacity)
        var order: [UInt32] = []  // most recent first
        var rng = SplitMix64(seed: 0x7A11)
        for i in 0..<capacity {
            var slot: UInt32 = 0
            #expect(larder_core_insert(core.raw, UInt64(i + 1) << 33 | UInt64(i), 1, &slot) == LARDER_OK)
            order.insert(slot, at: 0)
        }
        func touch(_ slot: UInt32) {
            larder_core_touch_inline(core.raw, slot)
            order.removeAll { $0 == slot }
            order.insert(slot, at: 0)
        }
        // Many more touches than the ring holds, with repeats, and the check
        // passing while touches are pending.
        for step in 0..<(Int(LARDER_TOUCH_RING) * 20 + 7) {
            touch(order[Int(rng.next() % UInt64(step % 3 == 0 ? 5 : order.count))])
            #expect(larder_core_check(core.raw) == 0)
        }
        #expect(core.mruToLru() == order)
        #expect(core.lruToMru() == order.reversed())
        // Each reader alone flushes: lru, then older/newer from a pending state.
        for slot in order.suffix(10) { touch(slot) }
        #expect(larder_core_lru(core.raw) == order.last)
        for slot in order.suffix(10) { touch(slot) }
        #expect(larder_core_older(core.raw, order[0]) == order[1])
        for slot in order.suffix(10) { touch(slot) }
        #expect(larder_core_newer(core.raw, order[1]) == order[0])
        // Removing a slot with a pending touch, then reusing it for a new entry.
        let doomed = order[order.count / 2]
        touch(doomed)
        touch(order[5])
        larder_core_remove(core.raw, doomed)
        order.removeAll { $0 == doomed }
        #expect(larder_core_check(core.raw) == 0)
        var reused: UInt32 = 0
        #expect(larder_core_insert(core.raw, 0xABCD << 40, 1, &reused) == LARDER_OK)
        #expect(reused == doomed)
        order.insert(reused, at: 0)
        touch(order[3])
        var atLRU: UInt32 = 0
        larder_core_remove(core.raw, order.last!)
        order.removeLast()
        #expect(larder_core_insert_lru(core.raw, 0xBCDE << 40, 1, &atLRU) == LARDER_OK)
        order.append(atLRU)
        #expect(core.mruToLru() == order)
        #expect(larder_core_check(core.raw) == 0)
        // A clear drops pending touches along with the entries.
        touch(order[9])
        touch(order[40])
        larder_core_clear(core.raw)
        #expect(larder_core_count(core.raw) == 0)
        #expect(larder_core_check(core.raw) == 0)
        #expect(larder_core_lru(core.raw) == LARDER_NIL)
    }

    @Test func removingADatedEntryResetsItsDeadlineForTheNextOccupant() {
        let core = TestCore(capacity: 2, expiry: true)
        var slot: UInt32 = 0
        #expect(larder_core_insert(core.raw, 1 << 40, 1, &slot) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, slot, 5_000_000) == LARDER_OK)
        larder_core_remove(core.raw, slot)
        #expect(larder_core_check(core.raw) == 0)
        var reused: UInt32 = 0
        #expect(larder_core_insert(core.raw, 2 << 40, 1, &reused) == LARDER_OK)
        #expect(reused == slot)
        #expect(larder_core_deadline(core.raw, reused) == LARDER_NO_DEADLINE)
        // Cleared and set again: still reset on removal.
        #expect(larder_core_set_deadline(core.raw, reused, 7_000_000) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, reused, LARDER_NO_DEADLINE) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, reused, 9_000_000) == LARDER_OK)
        larder_core_remove(core.raw, reused)
        #expect(larder_core_check(core.raw) == 0)
    }
}

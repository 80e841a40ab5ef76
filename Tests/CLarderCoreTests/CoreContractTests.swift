import CLarderCore
import Testing

@Suite struct CoreContractTests {
    @Test(arguments: [UInt32(0), LARDER_MAX_CAPACITY + 1, UInt32.max])
    func impossibleCapacityIsRejected(capacity: UInt32) {
        for flags in [UInt32(0), UInt32(LARDER_CORE_EXPIRY)] {
            var out: OpaquePointer? = nil
            #expect(larder_core_create(capacity, flags, &out) == LARDER_ERR_CAPACITY)
            #expect(out == nil)
            #expect(larder_core_footprint(capacity, flags) == 0)
        }
    }

    @Test func unknownFlagsAreRejected() {
        var out: OpaquePointer? = nil
        #expect(larder_core_create(16, 2, &out) == LARDER_ERR_UNSUPPORTED)
        #expect(larder_core_create(16, UInt32(LARDER_CORE_EXPIRY) | 0x8000_0000, &out) == LARDER_ERR_UNSUPPORTED)
        #expect(out == nil)
        #expect(larder_core_footprint(16, 2) == 0)
    }

    @Test func theLargestCapacityHasAFootprint() {
        // Not allocated here (tens of GB); the sizes must still be computed without overflow.
        let footprint = larder_core_footprint(LARDER_MAX_CAPACITY, 0)
        #expect(footprint > 24 * Int(LARDER_MAX_CAPACITY) + 8 * 2 * Int(LARDER_MAX_CAPACITY))
        #expect(larder_core_footprint(LARDER_MAX_CAPACITY, UInt32(LARDER_CORE_EXPIRY)) - footprint
                == 16 * (Int(LARDER_MAX_CAPACITY) + 322))
    }

    @Test func newCoreIsEmpty() {
        let core = TestCore(capacity: 8, expiry: true)
        #expect(larder_core_capacity(core.raw) == 8)
        #expect(larder_core_count(core.raw) == 0)
        #expect(larder_core_total_weight(core.raw) == 0)
        #expect(larder_core_has_expiry(core.raw) != 0)
        #expect(larder_core_lru(core.raw) == LARDER_NIL)
        #expect(larder_core_mru(core.raw) == LARDER_NIL)
        #expect(core.candidates(42).isEmpty)
        #expect(core.expireAll(now: 1 << 40, max: 4).isEmpty)
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func fullInsertFailsAndChangesNothing() {
        let core = TestCore(capacity: 3)
        var slots: [UInt32] = []
        for key in 0..<3 {
            var slot = LARDER_NIL
            #expect(larder_core_insert(core.raw, mix64(UInt64(key)), UInt64(key + 1), &slot) == LARDER_OK)
            slots.append(slot)
        }
        let order = core.mruToLru()
        var slot: UInt32 = 77
        #expect(larder_core_insert(core.raw, 99, 5, &slot) == LARDER_ERR_FULL)
        #expect(larder_core_insert_lru(core.raw, 99, 5, &slot) == LARDER_ERR_FULL)
        #expect(slot == 77)
        #expect(larder_core_count(core.raw) == 3)
        #expect(larder_core_total_weight(core.raw) == 6)
        #expect(core.mruToLru() == order)
        #expect(core.candidates(99).isEmpty)
        #expect(larder_core_check(core.raw) == 0)
        // Evicting the least recent makes room again.
        larder_core_remove(core.raw, larder_core_lru(core.raw))
        #expect(larder_core_insert(core.raw, 99, 5, &slot) == LARDER_OK)
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func weightLimitIsEnforced() {
        let core = TestCore(capacity: 4)
        var slot = LARDER_NIL
        #expect(larder_core_insert(core.raw, 1, LARDER_MAX_WEIGHT + 1, &slot) == LARDER_ERR_WEIGHT)
        #expect(larder_core_insert(core.raw, 1, UInt64.max, &slot) == LARDER_ERR_WEIGHT)
        #expect(larder_core_count(core.raw) == 0 && slot == LARDER_NIL)
        #expect(larder_core_insert(core.raw, 1, LARDER_MAX_WEIGHT, &slot) == LARDER_OK)
        #expect(larder_core_weight(core.raw, slot) == LARDER_MAX_WEIGHT)
        #expect(larder_core_total_weight(core.raw) == LARDER_MAX_WEIGHT)
        #expect(larder_core_set_weight(core.raw, slot, LARDER_MAX_WEIGHT + 1) == LARDER_ERR_WEIGHT)
        #expect(larder_core_weight(core.raw, slot) == LARDER_MAX_WEIGHT)
        #expect(larder_core_set_weight(core.raw, slot, 7) == LARDER_OK)
        #expect(larder_core_total_weight(core.raw) == 7)
        #expect(larder_core_hash(core.raw, slot) == 1)
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func deadlinesNeedAnExpiryCore() {
        let core = TestCore(capacity: 4)
        var slot = LARDER_NIL
        #expect(larder_core_has_expiry(core.raw) == 0)
        #expect(larder_core_insert(core.raw, 1, 1, &slot) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, slot, 10) == LARDER_ERR_UNSUPPORTED)
        #expect(larder_core_deadline(core.raw, slot) == LARDER_NO_DEADLINE)
        var out = [UInt32](repeating: 0, count: 4)
        #expect(larder_core_expire(core.raw, 1 << 50, &out, 4) == 0)
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func insertAtLeastRecentEndRebuildsAnOrder() {
        let core = TestCore(capacity: 4)
        var slots: [UInt32] = []
        for key in 0..<4 {  // most recent first, as a recovery reads them
            var slot = LARDER_NIL
            #expect(larder_core_insert_lru(core.raw, mix64(UInt64(key)), 1, &slot) == LARDER_OK)
            slots.append(slot)
        }
        #expect(core.mruToLru() == slots)
        #expect(core.lruToMru() == slots.reversed())
        larder_core_touch(core.raw, slots[2])
        #expect(core.mruToLru() == [slots[2], slots[0], slots[1], slots[3]])
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func clearEmptiesEverything() {
        let core = TestCore(capacity: 5, expiry: true)
        for key in 0..<5 {
            var slot = LARDER_NIL
            #expect(larder_core_insert(core.raw, 7, UInt64(key), &slot) == LARDER_OK)
            #expect(larder_core_set_deadline(core.raw, slot, 1_000 * UInt64(key)) == LARDER_OK)
        }
        larder_core_clear(core.raw)
        #expect(larder_core_count(core.raw) == 0)
        #expect(larder_core_total_weight(core.raw) == 0)
        #expect(core.candidates(7).isEmpty)
        #expect(core.expireAll(now: 1 << 40, max: 8).isEmpty)
        #expect(larder_core_check(core.raw) == 0)
        var slot = LARDER_NIL
        #expect(larder_core_insert(core.raw, 7, 1, &slot) == LARDER_OK)
        #expect(core.candidates(7) == [slot])
    }

    @Test func lookupYieldsEveryCandidateOfAHash() {
        let core = TestCore(capacity: 16)
        var sameHash: [UInt32] = []
        for key in 0..<16 {
            var slot = LARDER_NIL
            // Even keys share one full hash; odd keys share its tag but not its low bits.
            let hash: UInt64 = key % 2 == 0 ? 0xAAAA_BBBB_0000_0001 : 0xAAAA_BBBB_0000_0000 | UInt64(key) << 8
            #expect(larder_core_insert(core.raw, hash, 1, &slot) == LARDER_OK)
            if key % 2 == 0 { sameHash.append(slot) }
        }
        #expect(Set(core.candidates(0xAAAA_BBBB_0000_0001)) == Set(sameHash))
        #expect(core.candidates(0xAAAA_BBBB_0000_0001).count == 8)
        #expect(core.candidates(0xAAAA_BBBB_0000_0300).count == 1)
        #expect(core.candidates(0xAAAA_BBBB_0000_0002).isEmpty)
        for slot in sameHash.prefix(5) { larder_core_remove(core.raw, slot) }
        #expect(Set(core.candidates(0xAAAA_BBBB_0000_0001)) == Set(sameHash.suffix(3)))
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func footprintIsExactAndExpiryCostsSixteenBytesPerSlot() {
        let plain = UInt32(0), expiry = UInt32(LARDER_CORE_EXPIRY)
        // Between capacities 1000 and 2000 the buckets go from 2048 to 4096
        // (and LRU's byte of mark per slot, larder_core_slot_state_bytes).
        #expect(larder_core_footprint(2000, plain) - larder_core_footprint(1000, plain) == 1000 * 25 + 2048 * 8)
        // Capacities with the same bucket count differ by the node size only.
        #expect(larder_core_footprint(1024, plain) - larder_core_footprint(1000, plain) == 24 * 25)
        for capacity: UInt32 in [1, 100, 1000, 1_000_000] {
            let extra = larder_core_footprint(capacity, expiry) - larder_core_footprint(capacity, plain)
            #expect(extra == 16 * (Int(capacity) + 322))  // + the wheel's bucket sentinels
        }
        // About 42 bytes per slot at a million (24 node + 16.8 index + 1 mark), 58 with
        // expiry; plus the header and the deferred-touch ring.
        let million = larder_core_footprint(1_000_000, plain)
        let fixed = 24 * 1_000_001 + 8 * 2_097_152 + 4 * Int(LARDER_TOUCH_RING) + 1_000_000
        #expect(million > fixed && million < fixed + 256)
    }
}

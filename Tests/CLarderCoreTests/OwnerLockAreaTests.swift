import CLarderCore
import Testing

/// The bytes a core keeps for its owner's lock (larder_core_lock_offset):
/// Cache keeps each shard's mutex there, so a core that wrote them, on any
/// path, would corrupt a held lock.
@Suite struct OwnerLockAreaTests {
    @Test func theAreaIsInsideTheHeaderAndAligned() {
        let offset = larder_core_lock_offset()
        #expect(offset % 8 == 0)
        // On the header's second line, the one writes move (the first is read-only after creation).
        #expect(offset >= 64 && offset + Int(LARDER_CORE_LOCK_BYTES) <= 128)
    }

    @Test(arguments: [UInt32(LARDER_CORE_LRU), UInt32(LARDER_CORE_WTINYLFU), UInt32(LARDER_CORE_S3FIFO)])
    func everyOperationLeavesTheAreaAlone(policy: UInt32) throws {
        var out: OpaquePointer?
        try #require(larder_core_create(64, UInt32(LARDER_CORE_EXPIRY) | policy, &out) == LARDER_OK)
        let core = try #require(out)
        defer { larder_core_destroy(core) }
        let area = UnsafeMutableRawPointer(core).advanced(by: larder_core_lock_offset())
            .bindMemory(to: UInt8.self, capacity: Int(LARDER_CORE_LOCK_BYTES))
        let bytes = UnsafeMutableBufferPointer(start: area, count: Int(LARDER_CORE_LOCK_BYTES))
        #expect(bytes.allSatisfy { $0 == 0 }, "a new core's area is zero")
        for i in bytes.indices { bytes[i] = UInt8(0xA5 ^ i) }

        // Fill past capacity (evictions), hit, reweigh, date, expire, remove,
        // change the maximum, clear, and fill again.
        var slots: [UInt32] = []
        for round in 0..<2 {
            for key in 0..<200 {
                let hash = mix64(UInt64(key + round * 1_000))
                var slot = LARDER_NIL
                var status = larder_core_insert(core, hash, 1, &slot)
                if status == LARDER_ERR_FULL { status = larder_core_replace_lru(core, hash, 1, UInt64.max, &slot) }
                guard status == LARDER_OK else { continue }
                slots.append(slot)
                if key % 3 == 0 { larder_core_touch(core, slot) }
                if key % 7 == 0 { _ = larder_core_set_weight(core, slot, 2) }
                if key % 5 == 0 { _ = larder_core_set_deadline(core, slot, UInt64(1_000 + key)) }
            }
            var expired = [UInt32](repeating: 0, count: 64)
            let due = larder_core_expire(core, 1_100, &expired, 64)
            for slot in expired.prefix(Int(due)) { larder_core_remove(core, slot) }
            let victim = larder_core_lru(core)
            if victim != LARDER_NIL { larder_core_remove(core, victim) }
            larder_core_set_maximum(core, 50)
            while larder_core_total_weight(core) > 50 { larder_core_remove(core, larder_core_victim(core)) }
            larder_core_set_maximum(core, UInt64.max)
            #expect(larder_core_check(core) == 0)
            larder_core_clear(core)
        }
        #expect(!slots.isEmpty)
        for i in bytes.indices { #expect(bytes[i] == UInt8(0xA5 ^ i), "byte \(i) of the owner's lock was written") }
    }
}

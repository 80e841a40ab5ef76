import CLarderCore
import Testing

/// The bytes a core keeps for its owner: the lock area (larder_core_lock_offset)
/// and the owner words (larder_core_owner_words). Cache keeps each shard's
/// mutex in the first and its optimistic readers' sequence and counters in the
/// second, so a core that wrote them, on any path, would corrupt a held lock
/// or let a reader keep a torn read.
@Suite struct OwnerLockAreaTests {
    @Test func theAreaIsInsideTheHeaderAndAligned() {
        let offset = larder_core_lock_offset()
        #expect(offset % 8 == 0)
        // On the header's second line, the one writes move (the first is read-only after creation).
        #expect(offset >= 64 && offset + Int(LARDER_CORE_LOCK_BYTES) <= 128)
    }

    @Test(arguments: [UInt32(LARDER_CORE_LRU), UInt32(LARDER_CORE_WTINYLFU), UInt32(LARDER_CORE_S3FIFO)],
          [UInt32(61), 64, 200])
    func theOwnerWordsShareTheSentinelsLine(policy: UInt32, capacity: UInt32) throws {
        let flags = UInt32(LARDER_CORE_EXPIRY) | policy
        let bytes = larder_core_footprint(capacity, flags)
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { block.deallocate() }
        var out: OpaquePointer?
        try #require(larder_core_init(block, bytes, capacity, flags, &out) == LARDER_OK)
        let core = try #require(out)
        let words = UnsafeMutableRawPointer(try #require(larder_core_owner_words(core)))
        let sentinel = UnsafeMutableRawPointer(larder_core_view_of_(core)!.pointee.nodes!).advanced(by: Int(capacity) * 8)
        #expect(Int(bitPattern: sentinel) % 64 == 0, "the first sentinel opens a line")
        #expect(words - sentinel >= 8 * 3 && words - sentinel + 8 * Int(LARDER_CORE_OWNER_WORDS) <= 64)
        let range = UnsafeMutableRawBufferPointer(start: block, count: bytes)
        #expect(words >= block && words + 8 * Int(LARDER_CORE_OWNER_WORDS) <= range.baseAddress! + range.count)
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
        let words = UnsafeMutableBufferPointer(start: try #require(larder_core_owner_words(core)),
                                               count: Int(LARDER_CORE_OWNER_WORDS))
        #expect(words.allSatisfy { $0 == 0 }, "a new core's owner words are zero")
        for i in words.indices { words[i] = 0x5A5A_0000_0000_0000 | UInt64(i) }

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
        for i in words.indices { #expect(words[i] == 0x5A5A_0000_0000_0000 | UInt64(i), "owner word \(i) was written") }
    }
}

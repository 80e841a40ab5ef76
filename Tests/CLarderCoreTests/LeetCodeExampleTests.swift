import CLarderCore
import Testing

/// LeetCode 146 (LRU cache, capacity 2) driven through the core, with keys and
/// values in a Swift slot array as the Larder cache keeps them.
@Test func leetCode146Example() throws {
    let core = TestCore(capacity: 2)
    var keys = [Int?](repeating: nil, count: 2)
    var values = [Int](repeating: 0, count: 2)

    func hash(_ key: Int) -> UInt64 { mix64(UInt64(key)) }
    func find(_ key: Int) -> UInt32? {
        var cursor = larder_cursor()
        var slot = larder_core_find_first(core.raw, hash(key), &cursor)
        while slot != LARDER_NIL {
            if keys[Int(slot)] == key { return slot }
            slot = larder_core_find_next(core.raw, &cursor)
        }
        return nil
    }
    func get(_ key: Int) -> Int? {
        guard let slot = find(key) else { return nil }
        larder_core_touch(core.raw, slot)
        return values[Int(slot)]
    }
    /// Returns the evicted key, if any.
    func put(_ key: Int, _ value: Int) -> Int? {
        if let slot = find(key) {
            values[Int(slot)] = value
            larder_core_touch(core.raw, slot)
            return nil
        }
        var evicted: Int?
        if larder_core_count(core.raw) == larder_core_capacity(core.raw) {
            let victim = larder_core_lru(core.raw)
            evicted = keys[Int(victim)]
            keys[Int(victim)] = nil
            larder_core_remove(core.raw, victim)
        }
        var slot: UInt32 = LARDER_NIL
        #expect(larder_core_insert(core.raw, hash(key), 1, &slot) == LARDER_OK)
        keys[Int(slot)] = key
        values[Int(slot)] = value
        return evicted
    }

    #expect(put(1, 1) == nil)
    #expect(put(2, 2) == nil)
    #expect(get(1) == 1)
    #expect(put(3, 3) == 2)  // 2 is least recent after get(1)
    #expect(get(2) == nil)
    #expect(put(4, 4) == 1)
    #expect(get(1) == nil)
    #expect(get(3) == 3)
    #expect(get(4) == 4)
    #expect(larder_core_count(core.raw) == 2)
    #expect(core.mruToLru().map { keys[Int($0)] } == [4, 3])
    #expect(larder_core_check(core.raw) == 0)
}

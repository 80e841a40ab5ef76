import CLarderCore
import Testing

/// How the differential test derives a key's 64-bit hash: each shape forces one
/// kind of collision in the index.
enum HashShape: String, CaseIterable, Sendable {
    /// Every key has the same 64-bit hash: one probe run, key equality decides.
    case identical
    /// Same upper 32 bits (the tag), different lower bits: only the full hash separates them.
    case sameTag
    /// Different tags that all map to one home bucket.
    case sameHome
    /// Eight tags on neighbouring home buckets: runs from different homes overlap,
    /// which is what backward-shift deletion must get right.
    case adjacentHomes
    /// Homes around the end of the table, so probe runs wrap to bucket 0.
    case wrapping
    /// Well-mixed hashes.
    case random

    func hash(key: Int, capacity: UInt32) -> UInt64 {
        let m = mix64(UInt64(key) &+ 0xC0FFEE)
        let low = m & 0xFFFF_FFFF
        let buckets = bucketCount(capacity: capacity)
        let tag: UInt64
        switch self {
        case .identical: return 0x5EED_1234_0BAD_CAFE
        case .sameTag: return 0xABCD_EF01 << 32 | low
        case .sameHome:
            let bits = UInt64(buckets.trailingZeroBitCount)
            tag = ((m >> 40) << bits | (5 & (buckets - 1))) & 0xFFFF_FFFF
        case .adjacentHomes: tag = m >> 61
        case .wrapping: tag = (buckets &- 3 &+ (m >> 61)) & (buckets - 1)
        case .random: return m
        }
        return tag << 32 | low
    }
}

/// Operations per capacity, spread over every hash shape, with and without expiry.
/// Large capacities get fewer steps: the per-step consistency check is O(capacity).
let differentialPlan: [UInt32: Int] = [
    1: 130_000, 2: 130_000, 3: 130_000, 5: 130_000,
    16: 200_000, 100: 200_000, 1000: 120_000, 4096: 48_000,
]

/// Every capacity runs each hash shape with and without expiry.
let differentialRuns = HashShape.allCases.flatMap { shape in [false, true].map { (shape, $0) } }

@Test func differentialPlanCoversOneMillionOperations() {
    let executed = differentialPlan.values.map { $0 / differentialRuns.count * differentialRuns.count }
    #expect(executed.reduce(0, +) >= 1_000_000)
    #expect(differentialPlan.keys.min() == 1 && differentialPlan.keys.max() == 4096)
}

@Test(arguments: differentialPlan.keys.sorted())
func differentialAgainstModel(capacity: UInt32) throws {
    let steps = differentialPlan[capacity]! / differentialRuns.count
    for (index, (shape, expiry)) in differentialRuns.enumerated() {
        let seed = UInt64(capacity) << 32 | UInt64(index)
        let run = DifferentialRun(capacity: capacity, shape: shape, expiry: expiry, seed: seed)
        do {
            try run.run(steps: steps)
        } catch {
            Issue.record("capacity \(capacity), \(shape), expiry \(expiry), seed \(seed), step \(run.step): \(error)")
            return
        }
    }
}

struct ModelEntry {
    var slot: UInt32
    var hash: UInt64
    var weight: UInt64
    var deadline: UInt64 = LARDER_NO_DEADLINE
    /// In the wheel or the expired list (not yet handed out by expire).
    var filed = false
}

/// The core next to a plain model: an order list (least recent first) and a map.
final class DifferentialRun {
    let capacity: UInt32
    let shape: HashShape
    let expiry: Bool
    let core: TestCore
    var rng: SplitMix64
    var keyOfSlot: [Int]
    var entries: [Int: ModelEntry] = [:]
    var order: KeyOrder
    /// Keys whose hit was recorded as a mark (larder_core_mark_batch): they
    /// stay in place until an eviction reaches them and gives them a second chance.
    var marked: Set<Int> = []
    var totalWeight: UInt64 = 0
    var hashCount: [UInt64: Int] = [:]
    var now: UInt64 = 0
    var step = 0
    let keyUniverse: Int
    var evictions = 0
    var expirations = 0

    init(capacity: UInt32, shape: HashShape, expiry: Bool, seed: UInt64) {
        self.capacity = capacity
        self.shape = shape
        self.expiry = expiry
        core = TestCore(capacity: capacity, expiry: expiry)
        rng = SplitMix64(seed: seed)
        keyOfSlot = [Int](repeating: -1, count: Int(capacity))
        keyUniverse = Int(capacity) * 3 + 2
        order = KeyOrder(keyCount: keyUniverse)
    }

    var raw: OpaquePointer { core.raw }
    var isFull: Bool { entries.count == Int(capacity) }

    func random(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
    func randomKey() -> Int { random(keyUniverse) }
    func randomLiveKey() -> Int? {
        // Keys are small integers: probe a few at random, then fall back to the order's ends.
        if entries.isEmpty { return nil }
        for _ in 0..<8 {
            let key = randomKey()
            if entries[key] != nil { return key }
        }
        return random(2) == 0 ? order.first : order.last
    }
    func randomWeight() -> UInt64 { rng.next() & ((1 << 40) - 1) }

    func run(steps: Int) throws {
        // Large cores start full, so that their few steps still reach eviction.
        if capacity >= 100 {
            for key in 0..<Int(capacity) { try insertOrUpdate(key) }
            try verify(full: true)
        }
        let phaseLength = max(50, min(Int(capacity) * 2, steps / 4))
        let fullCheckEvery = capacity <= 16 ? 1 : 16
        while step < steps {
            let phase = (step / phaseLength) % 4  // 0, 1: mixed; 2: drain; 3: fill
            var r = random(100)
            if phase == 2 && (30..<60).contains(r) { r = 60 }
            if phase == 3 && (60..<68).contains(r) { r = 30 }
            // At full, new keys (2/3 of inserts) outpace removals and expirations, so cores evict.
            switch r {
            case 0..<30, 89..<100: try lookup(random(2) == 0 ? randomLiveKey() ?? randomKey() : randomKey())
            case 30..<60:
                // The fill phase inserts in bursts, so large cores refill and evict within their few steps.
                for _ in 0..<(phase == 3 ? Int(capacity) / 100 + 1 : 1) { try insertOrUpdate(randomKey()) }
            case 60..<68: if let key = randomLiveKey() { try remove(key) }
            case 68..<74: try setWeight()
            case 74..<81: try setDeadline()
            case 81..<87: try advanceAndExpire()
            default: try rejectedInserts()
            }
            if random(3000) == 0 { clear() }
            try verify(full: step % fullCheckEvery == 0)
            step += 1
        }
        try verify(full: true)
        // The run must have exercised eviction and, with expiry, handed entries out.
        try ensure(evictions > 0, "no eviction in \(steps) steps")
        try ensure(!expiry || expirations > 0, "nothing expired in \(steps) steps")
    }

    // MARK: Operations

    /// Looks `key` up as a caller does (candidates by hash, then key equality), walking
    /// the whole probe sequence to check that it yields exactly the live keys with that hash.
    func find(_ key: Int) throws -> UInt32? {
        let hash = shape.hash(key: key, capacity: capacity)
        let checkHashes = step % 8 == 0
        var cursor = larder_cursor()
        var candidates = 0
        var found: UInt32?
        var slot = larder_core_find_first(raw, hash, &cursor)
        while slot != LARDER_NIL {
            candidates += 1
            try ensure(slot < capacity && keyOfSlot[Int(slot)] >= 0, "candidate \(slot) is not live")
            if checkHashes { try ensure(larder_core_hash(raw, slot) == hash, "candidate \(slot) has another hash") }
            if keyOfSlot[Int(slot)] == key {
                try ensure(found == nil, "key \(key) indexed twice")
                found = slot
            }
            slot = larder_core_find_next(raw, &cursor)
        }
        try ensure(larder_core_find_next(raw, &cursor) == LARDER_NIL, "find_next after the end")
        try ensure(candidates == hashCount[hash, default: 0],
                   "\(candidates) candidates for a hash \(hashCount[hash, default: 0]) live keys carry")
        try ensure(found == entries[key]?.slot, "key \(key): core finds \(String(describing: found)), model \(String(describing: entries[key]?.slot))")
        return found
    }

    func moveToMostRecent(_ key: Int) {
        order.remove(key)
        order.append(key)
    }

    func lookup(_ key: Int) throws {
        guard let slot = try find(key) else { return }
        let entry = entries[key]!
        try ensure(larder_core_weight(raw, slot) == entry.weight, "weight of \(key)")
        try ensure(larder_core_deadline(raw, slot) == entry.deadline, "deadline of \(key)")
        if random(4) == 0 {
            // A hit recorded as a mark: nothing moves now.
            var marking = slot
            larder_core_mark_batch(raw, &marking, 1)
            marked.insert(key)
        } else {
            larder_core_touch(raw, slot)
            moveToMostRecent(key)
        }
    }

    /// What an eviction does before it names its victim: the least recent keys
    /// hit since their last pass become most recent, unmarked.
    func giveSecondChances() {
        while let key = order.first, marked.remove(key) != nil { moveToMostRecent(key) }
    }

    func insertOrUpdate(_ key: Int) throws {
        let weight = randomWeight()
        // A caller looks the key up first; a sample of inserts does so here too (a lookup
        // on the identical-hash shape walks every entry, too slow for each insert at 4096).
        let existing = capacity <= 100 || random(8) == 0 ? try find(key) : entries[key]?.slot
        if let slot = existing {
            try ensure(larder_core_set_weight(raw, slot, weight) == LARDER_OK, "set_weight")
            totalWeight = totalWeight - entries[key]!.weight + weight
            entries[key]!.weight = weight
            larder_core_touch(raw, slot)
            moveToMostRecent(key)
            return
        }
        let hash = shape.hash(key: key, capacity: capacity)
        if isFull && random(2) == 0 { return try replaceLeastRecent(with: key, hash: hash, weight: weight) }
        if isFull {
            // The policy's victim passes marked keys; the least recent entry is the list's end.
            let asksPolicy = random(2) == 0
            if asksPolicy { giveSecondChances() }
            let victim = asksPolicy ? larder_core_victim(raw) : larder_core_lru(raw)
            try ensure(victim != LARDER_NIL && keyOfSlot[Int(victim)] == order.first!,
                       "victim \(victim) is not the model's least recent key \(order.first!)")
            try remove(order.first!)
            evictions += 1
        }
        let atLRU = random(10) == 0
        var slot = LARDER_NIL
        let status = atLRU ? larder_core_insert_lru(raw, hash, weight, &slot) : larder_core_insert(raw, hash, weight, &slot)
        try ensure(status == LARDER_OK, "insert returned \(status)")
        try ensure(slot < capacity && keyOfSlot[Int(slot)] == -1, "insert reused live slot \(slot)")
        keyOfSlot[Int(slot)] = key
        entries[key] = ModelEntry(slot: slot, hash: hash, weight: weight)
        hashCount[hash, default: 0] += 1
        totalWeight += weight
        if atLRU { order.prepend(key) } else { order.append(key) }
        if expiry && random(3) == 0 { try setDeadline(key: key) }
    }

    /// A full core's eviction and insert in one call: the new key must take
    /// the least-recent key's slot, at the most-recent end. A weight limit
    /// that one eviction cannot meet must evict and insert nothing.
    func replaceLeastRecent(with key: Int, hash: UInt64, weight: UInt64) throws {
        // Second chances come first, even in a call then refused for its weight.
        giveSecondChances()
        let victimKey = order.first!
        let victim = entries[victimKey]!
        var slot: UInt32 = 12345
        let rest = totalWeight - victim.weight
        if rest + weight > 0 && random(4) == 0 {
            let tooTight = rest + weight - 1
            try ensure(larder_core_replace_lru(raw, hash, weight, tooTight, &slot) == LARDER_ERR_FULL,
                       "replace_lru under a limit one eviction cannot meet")
            try ensure(slot == 12345 && larder_core_total_weight(raw) == totalWeight && larder_core_lru(raw) == victim.slot,
                       "a refused replace_lru changed the core")
        }
        try ensure(larder_core_replace_lru(raw, hash, LARDER_MAX_WEIGHT + 1, .max, &slot) == LARDER_ERR_WEIGHT,
                   "overweight replace_lru")
        let limit = random(2) == 0 ? UInt64.max : rest + weight
        try ensure(larder_core_replace_lru(raw, hash, weight, limit, &slot) == LARDER_OK, "replace_lru")
        try ensure(slot == victim.slot, "replace_lru used slot \(slot), not the victim's \(victim.slot)")
        entries[victimKey] = nil
        marked.remove(victimKey)
        hashCount[victim.hash]! -= 1
        if hashCount[victim.hash] == 0 { hashCount[victim.hash] = nil }
        order.remove(victimKey)
        evictions += 1
        keyOfSlot[Int(slot)] = key
        entries[key] = ModelEntry(slot: slot, hash: hash, weight: weight)
        hashCount[hash, default: 0] += 1
        totalWeight = rest + weight
        order.append(key)
        if expiry && random(3) == 0 { try setDeadline(key: key) }
    }

    func remove(_ key: Int) throws {
        let entry = entries.removeValue(forKey: key)!
        larder_core_remove(raw, entry.slot)
        keyOfSlot[Int(entry.slot)] = -1
        hashCount[entry.hash]! -= 1
        if hashCount[entry.hash] == 0 { hashCount[entry.hash] = nil }
        totalWeight -= entry.weight
        order.remove(key)
        marked.remove(key)
    }

    func setWeight() throws {
        guard let key = randomLiveKey() else { return }
        let weight = random(4) == 0 ? 0 : randomWeight()
        let slot = entries[key]!.slot
        try ensure(larder_core_set_weight(raw, slot, weight) == LARDER_OK, "set_weight")
        totalWeight = totalWeight - entries[key]!.weight + weight
        entries[key]!.weight = weight
    }

    func randomDeadline() -> UInt64 {
        let r = random(100)
        if r < 8 { return LARDER_NO_DEADLINE }
        if r < 18 { return now - UInt64(random(Int(min(now, 1 << 30)) + 1)) }  // due already
        let bits = [10, 20, 24, 26, 30, 32, 38, 44, 50, 53][random(10)]
        return now + 1 + rng.next() % (1 << UInt64(bits))
    }

    func setDeadline() throws {
        guard let key = randomLiveKey() else { return }
        try setDeadline(key: key)
    }

    func setDeadline(key: Int) throws {
        let deadline = randomDeadline()
        let slot = entries[key]!.slot
        let status = larder_core_set_deadline(raw, slot, deadline)
        if expiry {
            try ensure(status == LARDER_OK, "set_deadline returned \(status)")
            entries[key]!.deadline = deadline
            entries[key]!.filed = deadline != LARDER_NO_DEADLINE
        } else {
            try ensure(status == LARDER_ERR_UNSUPPORTED, "set_deadline without expiry returned \(status)")
            try ensure(larder_core_deadline(raw, slot) == LARDER_NO_DEADLINE, "deadline without expiry")
        }
    }

    func advanceAndExpire() throws {
        var asked = now
        let r = random(100)
        if r < 10 {
            asked = now - UInt64(random(Int(min(now, 1 << 20)) + 1))  // earlier than before: clamped
        } else if r >= 20 {
            let bits: UInt64 = r < 45 ? 20 : r < 65 ? 26 : r < 80 ? 32 : r < 90 ? 38 : r < 96 ? 44 : r < 99 ? 50 : 52
            let limit: UInt64 = now < 1 << 61 ? 1 << bits : 1 << 20
            asked = now + rng.next() % limit
        }
        now = max(now, asked)
        let batch = UInt32(1 + random(random(4) == 0 ? 1 : 8))
        let handed = core.expireAll(now: asked, max: batch)
        guard expiry else {
            try ensure(handed.isEmpty, "expire on a core without expiry handed out \(handed.count)")
            return
        }
        let due = Set(entries.filter { $0.value.filed && $0.value.deadline <= now }.map(\.key))
        let handedKeys = handed.map { keyOfSlot[Int($0)] }
        try ensure(handedKeys.count == due.count && Set(handedKeys) == due,
                   "at \(now) expire handed out \(handedKeys.sorted()), model due \(due.sorted())")
        expirations += handedKeys.count
        for key in handedKeys {
            entries[key]!.filed = false
            try ensure(larder_core_deadline(raw, entries[key]!.slot) == entries[key]!.deadline, "deadline kept")
            switch random(100) {
            case 0..<70: try remove(key)
            case 70..<85: try setDeadline(key: key)
            default: break  // stays live, unfiled
            }
        }
    }

    /// Inserts that must fail leave the core as it was.
    func rejectedInserts() throws {
        var slot: UInt32 = 12345
        let hash = shape.hash(key: randomKey(), capacity: capacity)
        if isFull {
            try ensure(larder_core_insert(raw, hash, 1, &slot) == LARDER_ERR_FULL, "insert into a full core")
            try ensure(larder_core_insert_lru(raw, hash, 1, &slot) == LARDER_ERR_FULL, "insert_lru into a full core")
        } else {
            try ensure(larder_core_insert(raw, hash, LARDER_MAX_WEIGHT + 1, &slot) == LARDER_ERR_WEIGHT, "overweight insert")
        }
        try ensure(slot == 12345, "a failed insert wrote its slot")
        if let key = randomLiveKey() {
            let entry = entries[key]!
            try ensure(larder_core_set_weight(raw, entry.slot, LARDER_MAX_WEIGHT + 1) == LARDER_ERR_WEIGHT, "overweight update")
            try ensure(larder_core_weight(raw, entry.slot) == entry.weight, "a failed set_weight changed the weight")
        }
    }

    func clear() {
        larder_core_clear(raw)
        for i in keyOfSlot.indices { keyOfSlot[i] = -1 }
        entries = [:]
        order = KeyOrder(keyCount: keyUniverse)
        marked = []
        totalWeight = 0
        hashCount = [:]
    }

    // MARK: Agreement

    func verify(full: Bool) throws {
        let code = larder_core_check(raw)
        try ensure(code == 0, "larder_core_check returned \(code)")
        try ensure(larder_core_count(raw) == UInt32(entries.count), "count \(larder_core_count(raw)) vs \(entries.count)")
        try ensure(larder_core_total_weight(raw) == totalWeight, "total weight")
        let lru = larder_core_lru(raw), mru = larder_core_mru(raw)
        if entries.isEmpty {
            try ensure(lru == LARDER_NIL && mru == LARDER_NIL, "an empty core has an lru or mru")
        } else {
            try ensure(lru != LARDER_NIL && keyOfSlot[Int(lru)] == order.first!, "lru is not \(order.first!)")
            try ensure(mru != LARDER_NIL && keyOfSlot[Int(mru)] == order.last!, "mru is not \(order.last!)")
        }
        if full {
            let keys = order.keys()
            try ensure(core.lruToMru().map { keyOfSlot[Int($0)] } == keys, "order, least recent first")
            try ensure(core.mruToLru().map { keyOfSlot[Int($0)] } == keys.reversed(), "order, most recent first")
        }
    }
}

/// The model's recency order: a doubly linked list over small integer keys,
/// least recent first (O(1) per operation, unlike searching an array).
struct KeyOrder {
    private var prev: [Int]
    private var next: [Int]
    private(set) var first: Int?
    private(set) var last: Int?

    init(keyCount: Int) {
        prev = [Int](repeating: -1, count: keyCount)
        next = [Int](repeating: -1, count: keyCount)
    }

    /// Adds `key` as the most recent.
    mutating func append(_ key: Int) {
        prev[key] = last ?? -1
        next[key] = -1
        if let last { next[last] = key } else { first = key }
        last = key
    }

    /// Adds `key` as the least recent.
    mutating func prepend(_ key: Int) {
        next[key] = first ?? -1
        prev[key] = -1
        if let first { prev[first] = key } else { last = key }
        first = key
    }

    mutating func remove(_ key: Int) {
        let p = prev[key], n = next[key]
        if p >= 0 { next[p] = n } else { first = n >= 0 ? n : nil }
        if n >= 0 { prev[n] = p } else { last = p >= 0 ? p : nil }
    }

    /// Least recent first.
    func keys() -> [Int] {
        var result: [Int] = []
        var key = first ?? -1
        while key >= 0 {
            result.append(key)
            key = next[key]
        }
        return result
    }
}

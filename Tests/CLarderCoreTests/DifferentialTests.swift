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
        var run = DifferentialRun(capacity: capacity, shape: shape, expiry: expiry, seed: seed)
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
struct DifferentialRun {
    let capacity: UInt32
    let shape: HashShape
    let expiry: Bool
    let core: TestCore
    var rng: SplitMix64
    var keyOfSlot: [Int]
    var entries: [Int: ModelEntry] = [:]
    var order: [Int] = []
    var totalWeight: UInt64 = 0
    var hashCount: [UInt64: Int] = [:]
    var now: UInt64 = 0
    var step = 0
    let keyUniverse: Int

    init(capacity: UInt32, shape: HashShape, expiry: Bool, seed: UInt64) {
        self.capacity = capacity
        self.shape = shape
        self.expiry = expiry
        core = TestCore(capacity: capacity, expiry: expiry)
        rng = SplitMix64(seed: seed)
        keyOfSlot = [Int](repeating: -1, count: Int(capacity))
        keyUniverse = Int(capacity) * 3 / 2 + 2
    }

    var raw: OpaquePointer { core.raw }
    var isFull: Bool { entries.count == Int(capacity) }

    mutating func random(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
    mutating func randomKey() -> Int { random(keyUniverse) }
    mutating func randomLiveKey() -> Int? { order.isEmpty ? nil : order[random(order.count)] }
    mutating func randomWeight() -> UInt64 { rng.next() & ((1 << 40) - 1) }

    mutating func run(steps: Int) throws {
        let phaseLength = max(50, Int(capacity) * 2)
        let fullCheckEvery = capacity <= 16 ? 1 : 16
        while step < steps {
            let phase = (step / phaseLength) % 4  // 0, 1: mixed; 2: drain; 3: fill
            var r = random(100)
            if phase == 2 && (30..<55).contains(r) { r = 60 }
            if phase == 3 && (55..<67).contains(r) { r = 40 }
            switch r {
            case 0..<30, 98..<100: try lookup(randomKey())
            case 30..<55: try insertOrUpdate(randomKey())
            case 55..<67: if let key = randomLiveKey() { try remove(key) }
            case 67..<74: try setWeight()
            case 74..<86: try setDeadline()
            case 86..<96: try advanceAndExpire()
            default: try rejectedInserts()
            }
            if random(3000) == 0 { clear() }
            try verify(full: step % fullCheckEvery == 0)
            step += 1
        }
        try verify(full: true)
    }

    // MARK: Operations

    mutating func find(_ key: Int) throws -> UInt32? {
        let hash = shape.hash(key: key, capacity: capacity)
        let candidates = core.candidates(hash)
        try ensure(candidates.count == hashCount[hash, default: 0],
                   "\(candidates.count) candidates for a hash \(hashCount[hash, default: 0]) live keys carry")
        var found: UInt32?
        for slot in candidates {
            try ensure(slot < capacity && keyOfSlot[Int(slot)] >= 0, "candidate \(slot) is not live")
            try ensure(larder_core_hash(raw, slot) == hash, "candidate \(slot) has another hash")
            if keyOfSlot[Int(slot)] == key {
                try ensure(found == nil, "key \(key) indexed twice")
                found = slot
            }
        }
        try ensure(found == entries[key]?.slot, "key \(key): core finds \(String(describing: found)), model \(String(describing: entries[key]?.slot))")
        return found
    }

    mutating func moveToMostRecent(_ key: Int) {
        order.remove(at: order.lastIndex(of: key)!)
        order.append(key)
    }

    mutating func lookup(_ key: Int) throws {
        guard let slot = try find(key) else { return }
        let entry = entries[key]!
        try ensure(larder_core_weight(raw, slot) == entry.weight, "weight of \(key)")
        try ensure(larder_core_deadline(raw, slot) == entry.deadline, "deadline of \(key)")
        larder_core_touch(raw, slot)
        moveToMostRecent(key)
    }

    mutating func insertOrUpdate(_ key: Int) throws {
        let weight = randomWeight()
        if let slot = try find(key) {
            try ensure(larder_core_set_weight(raw, slot, weight) == LARDER_OK, "set_weight")
            totalWeight = totalWeight - entries[key]!.weight + weight
            entries[key]!.weight = weight
            larder_core_touch(raw, slot)
            moveToMostRecent(key)
            return
        }
        if isFull {
            let victim = larder_core_lru(raw)
            try ensure(victim != LARDER_NIL && keyOfSlot[Int(victim)] == order.first!,
                       "victim \(victim) is not the model's least recent key \(order.first!)")
            try remove(order.first!)
        }
        let atLRU = random(10) == 0
        let hash = shape.hash(key: key, capacity: capacity)
        var slot = LARDER_NIL
        let status = atLRU ? larder_core_insert_lru(raw, hash, weight, &slot) : larder_core_insert(raw, hash, weight, &slot)
        try ensure(status == LARDER_OK, "insert returned \(status)")
        try ensure(slot < capacity && keyOfSlot[Int(slot)] == -1, "insert reused live slot \(slot)")
        keyOfSlot[Int(slot)] = key
        entries[key] = ModelEntry(slot: slot, hash: hash, weight: weight)
        hashCount[hash, default: 0] += 1
        totalWeight += weight
        if atLRU { order.insert(key, at: 0) } else { order.append(key) }
        if expiry && random(3) == 0 { try setDeadline(key: key) }
    }

    mutating func remove(_ key: Int) throws {
        let entry = entries.removeValue(forKey: key)!
        larder_core_remove(raw, entry.slot)
        keyOfSlot[Int(entry.slot)] = -1
        hashCount[entry.hash]! -= 1
        if hashCount[entry.hash] == 0 { hashCount[entry.hash] = nil }
        totalWeight -= entry.weight
        order.remove(at: order.lastIndex(of: key)!)
    }

    mutating func setWeight() throws {
        guard let key = randomLiveKey() else { return }
        let weight = random(4) == 0 ? 0 : randomWeight()
        let slot = entries[key]!.slot
        try ensure(larder_core_set_weight(raw, slot, weight) == LARDER_OK, "set_weight")
        totalWeight = totalWeight - entries[key]!.weight + weight
        entries[key]!.weight = weight
    }

    mutating func randomDeadline() -> UInt64 {
        let r = random(100)
        if r < 8 { return LARDER_NO_DEADLINE }
        if r < 18 { return now - UInt64(random(Int(min(now, 1 << 30)) + 1)) }  // due already
        let bits = [10, 20, 24, 26, 30, 32, 38, 44, 50, 53][random(10)]
        return now + 1 + rng.next() % (1 << UInt64(bits))
    }

    mutating func setDeadline() throws {
        guard let key = randomLiveKey() else { return }
        try setDeadline(key: key)
    }

    mutating func setDeadline(key: Int) throws {
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

    mutating func advanceAndExpire() throws {
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
    mutating func rejectedInserts() throws {
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

    mutating func clear() {
        larder_core_clear(raw)
        for i in keyOfSlot.indices { keyOfSlot[i] = -1 }
        entries = [:]
        order = []
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
        if order.isEmpty {
            try ensure(lru == LARDER_NIL && mru == LARDER_NIL, "an empty core has an lru or mru")
        } else {
            try ensure(lru != LARDER_NIL && keyOfSlot[Int(lru)] == order.first!, "lru is not \(order.first!)")
            try ensure(mru != LARDER_NIL && keyOfSlot[Int(mru)] == order.last!, "mru is not \(order.last!)")
        }
        if full {
            try ensure(core.lruToMru().map { keyOfSlot[Int($0)] } == order, "order, least recent first")
            try ensure(core.mruToLru().map { keyOfSlot[Int($0)] } == order.reversed(), "order, most recent first")
        }
    }
}

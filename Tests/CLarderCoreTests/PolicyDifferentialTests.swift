import CLarderCore
import Foundation
import Testing

/// W-TinyLFU and S3-FIFO against their plain models (WTinyLFUModel,
/// S3FIFOModel): randomized sets, gets (single, inline and batched touches),
/// updates, removals, pressure evictions, budget changes, deadlines and
/// expiry under an injected clock, removeAll, with larder_core_check after
/// every step, weighted entries, and every hash shape of the LRU test
/// (DifferentialTests.swift), which forces collisions in the index, the
/// sketch and the ghost.
enum PolicyUnderTest: String, CaseIterable, Sendable {
    case wtinylfu, fixedWindow, s3fifo

    var flags: UInt32 {
        switch self {
        case .wtinylfu: UInt32(LARDER_CORE_WTINYLFU)
        case .fixedWindow: UInt32(LARDER_CORE_WTINYLFU) | UInt32(LARDER_CORE_FIXED_WINDOW)
        case .s3fifo: UInt32(LARDER_CORE_S3FIFO)
        }
    }
}

/// Operations per policy and capacity, spread over every hash shape, with and
/// without expiry and a weight budget. `LARDER_POLICY_TEST_SCALE` multiplies
/// them (for a longer soak); the default runs one million operations per
/// policy. Large capacities get fewer: the per-step check is O(capacity).
let policyPlan: [UInt32: Int] = [
    1: 80_000, 2: 80_000, 3: 100_000, 5: 120_000, 16: 250_000, 100: 250_000, 1000: 120_000, 4096: 24_000,
]

let policyScale = Int(ProcessInfo.processInfo.environment["LARDER_POLICY_TEST_SCALE"] ?? "") ?? 1

/// Each capacity runs every hash shape with and without expiry, with and without a budget.
let policyRuns = HashShape.allCases.flatMap { shape in
    [(false, false), (true, false), (false, true), (true, true)].map { (shape, $0.0, $0.1) }
}

@Test func policyPlanCoversOneMillionOperationsPerPolicy() {
    let executed = policyPlan.values.map { $0 / policyRuns.count * policyRuns.count }
    #expect(executed.reduce(0, +) >= 1_000_000)
}

@Test(arguments: PolicyUnderTest.allCases, policyPlan.keys.sorted())
func policyAgainstModel(policy: PolicyUnderTest, capacity: UInt32) throws {
    let steps = policyPlan[capacity]! * policyScale / policyRuns.count
    for (index, (shape, expiry, budget)) in policyRuns.enumerated() {
        let seed = UInt64(capacity) << 32 | UInt64(index) << 8 | UInt64(PolicyUnderTest.allCases.firstIndex(of: policy)!)
        let run = PolicyRun(policy: policy, capacity: capacity, shape: shape, expiry: expiry, budget: budget, seed: seed)
        do {
            try run.run(steps: steps)
        } catch {
            Issue.record("\(policy) capacity \(capacity), \(shape), expiry \(expiry), budget \(budget), seed \(seed), step \(run.step): \(error)")
            return
        }
    }
}

final class PolicyRun {
    let policy: PolicyUnderTest
    let capacity: UInt32
    let shape: HashShape
    let expiry: Bool
    let core: OpaquePointer
    /// The model of the policy under test (the other is nil); mutated in place.
    var wt: WTinyLFUModel?
    var s3: S3FIFOModel?
    var rng: SplitMix64
    var keyOfSlot: [Int]
    var entries: [Int: ModelEntry] = [:]
    var now: UInt64 = 0
    var step = 0
    let keyUniverse: Int
    /// The caller's weight budget (larder_core_set_maximum), if any.
    var budget: UInt64?
    let budgeted: Bool
    var totalWeight: UInt64 = 0
    var evictions = 0, rejections = 0, expirations = 0

    init(policy: PolicyUnderTest, capacity: UInt32, shape: HashShape, expiry: Bool, budget: Bool, seed: UInt64) {
        self.policy = policy
        self.capacity = capacity
        self.shape = shape
        self.expiry = expiry
        budgeted = budget
        var out: OpaquePointer?
        let status = larder_core_create(capacity, policy.flags | (expiry ? UInt32(LARDER_CORE_EXPIRY) : 0), &out)
        precondition(status == LARDER_OK)
        core = out!
        rng = SplitMix64(seed: seed)
        keyOfSlot = [Int](repeating: -1, count: Int(capacity))
        keyUniverse = Int(capacity) * 3 + 2
        switch policy {
        case .wtinylfu, .fixedWindow:
            wt = WTinyLFUModel(capacity: capacity, keyCount: keyUniverse, adapts: policy == .wtinylfu)
        case .s3fifo:
            s3 = S3FIFOModel(capacity: capacity, keyCount: keyUniverse)
        }
        if budget { setBudget(UInt64(capacity) * 64) }
    }

    deinit { larder_core_destroy(core) }

    func random(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
    func randomKey() -> Int { random(keyUniverse) }
    func randomLiveKey() -> Int? {
        if entries.isEmpty { return nil }
        for _ in 0..<8 {
            let key = randomKey()
            if entries[key] != nil { return key }
        }
        return entries.first!.key
    }

    /// Weights: under a budget, mostly small against it with some heavier
    /// than the window or small queue, and zeros; without one, anything.
    func randomWeight() -> UInt64 {
        guard let budget else { return rng.next() & ((1 << 40) - 1) }
        switch random(20) {
        case 0: return 0
        case 1: return UInt64(random(Int(budget / 4) + 1))
        default: return UInt64(1 + random(128))
        }
    }

    func run(steps: Int) throws {
        if capacity >= 100 {  // large cores start full, so that their few steps reach eviction
            for key in 0..<Int(capacity) { try set(key) }
            try verify(full: true)
        }
        let fullEvery = capacity <= 16 ? 1 : capacity <= 100 ? 8 : 64
        while step < steps {
            switch random(100) {
            case 0..<28: try lookup(randomLiveKey() ?? randomKey())
            case 28..<34: try lookupBatch()
            case 34..<62: try set(random(3) == 0 ? randomLiveKey() ?? randomKey() : randomKey())
            case 62..<68: if let key = randomLiveKey() { try remove(key) }
            case 68..<73: try setWeight()
            case 73..<79: try setDeadline()
            case 79..<85: try advanceAndExpire()
            case 85..<92: try pressure()
            case 92..<94: if budgeted { setBudget(UInt64(capacity) * UInt64([16, 64, 256][random(3)])) }
            default: try lookup(randomKey())
            }
            if random(3000) == 0 { clear() }
            try verify(full: step % fullEvery == 0)
            step += 1
        }
        try verify(full: true)
        try ensure(evictions > 0, "no eviction in \(steps) steps")
        try ensure(!expiry || expirations > 0, "nothing expired in \(steps) steps")
    }

    // MARK: Operations

    func find(_ key: Int) -> UInt32? {
        let hash = shape.hash(key: key, capacity: capacity)
        var cursor = larder_cursor()
        var slot = larder_core_find_first(core, hash, &cursor)
        while slot != LARDER_NIL {
            if keyOfSlot[Int(slot)] == key { return slot }
            slot = larder_core_find_next(core, &cursor)
        }
        return nil
    }

    func lookup(_ key: Int) throws {
        let slot = find(key)
        try ensure(slot == entries[key]?.slot, "key \(key): core finds \(String(describing: slot)), model \(String(describing: entries[key]?.slot))")
        guard let slot else { return }
        if random(2) == 0 { larder_core_touch(core, slot) } else { larder_core_touch_inline(core, slot) }
        wt?.touch(key); s3?.touch(key)
    }

    /// Hits recorded elsewhere and applied together (larder_core_touch_batch, or
    /// larder_core_mark_batch, the same under these policies).
    func lookupBatch() throws {
        let keys = (0..<(1 + random(4))).compactMap { _ in randomLiveKey() }
        let slots = keys.map { entries[$0]!.slot }
        let marks = random(2) == 0
        slots.withUnsafeBufferPointer {
            if marks {
                larder_core_mark_batch(core, $0.baseAddress, UInt32($0.count))
            } else {
                larder_core_touch_batch(core, $0.baseAddress, UInt32($0.count))
            }
        }
        for key in keys { wt?.touch(key); s3?.touch(key) }
    }

    func overBudget(plus weight: UInt64, less: UInt64 = 0) -> Bool {
        guard let budget else { return false }
        return totalWeight - less + weight > budget
    }

    /// Asks both for the victim for `newcomer` (or none) and checks they agree.
    func victim(newcomer: (hash: UInt64, weight: UInt64)?) throws -> Int? {
        let expected: ModelVictim
        var slot: UInt32 = LARDER_NIL
        if let newcomer {
            expected = wt?.victim(newcomer: newcomer) ?? s3!.victim()
            let status = larder_core_victim_for(core, newcomer.hash, newcomer.weight, &slot)
            try ensure(status == LARDER_OK || status == LARDER_REJECTED, "victim_for returned \(status)")
            if status == LARDER_REJECTED { slot = LARDER_NIL }
        } else {
            expected = wt?.victim(newcomer: nil) ?? s3!.victim()
            slot = larder_core_victim(core)
        }
        let actual: ModelVictim = slot == LARDER_NIL ? .rejected : .key(keyOfSlot[Int(slot)])
        try ensure(actual == expected, "victim: core \(actual), model \(expected)")
        if slot != LARDER_NIL && random(4) == 0 {  // asking again names the same victim
            try ensure(larder_core_victim(core) == slot, "a second victim call named another entry")
        }
        return slot == LARDER_NIL ? nil : keyOfSlot[Int(slot)]
    }

    func set(_ key: Int) throws {
        let weight = randomWeight()
        if let entry = entries[key] {
            // An update: marked used first, then room is made for its new weight.
            larder_core_touch_inline(core, entry.slot)
            wt?.touch(key); s3?.touch(key)
            while overBudget(plus: weight, less: entry.weight), let victim = try victim(newcomer: nil), victim != key {
                try remove(victim)
                evictions += 1
            }
            try ensure(larder_core_set_weight(core, entry.slot, weight) == LARDER_OK, "set_weight")
            wt?.setWeight(key, weight); s3?.setWeight(key, weight)
            totalWeight = totalWeight - entry.weight + weight
            entries[key]!.weight = weight
            return
        }
        if let budget, weight > budget { return }  // the cache refuses it before the core sees it
        let hash = shape.hash(key: key, capacity: capacity)
        if entries.count == Int(capacity) && random(3) == 0 {
            if try replace(key, hash: hash, weight: weight) { return }
        }
        while entries.count == Int(capacity) || overBudget(plus: weight) {
            guard let victim = try victim(newcomer: (hash, weight)) else {
                rejections += 1
                return
            }
            try remove(victim)
            evictions += 1
        }
        let atBack = random(10) == 0
        var slot = LARDER_NIL
        let status = atBack ? larder_core_insert_lru(core, hash, weight, &slot) : larder_core_insert(core, hash, weight, &slot)
        try ensure(status == LARDER_OK && slot < capacity && keyOfSlot[Int(slot)] == -1, "insert: \(status), slot \(slot)")
        added(key, slot: slot, hash: hash, weight: weight, atBack: atBack)
        if expiry && random(3) == 0 { try setDeadline(key: key) }
    }

    func added(_ key: Int, slot: UInt32, hash: UInt64, weight: UInt64, atBack: Bool) {
        keyOfSlot[Int(slot)] = key
        entries[key] = ModelEntry(slot: slot, hash: hash, weight: weight)
        totalWeight += weight
        wt?.insert(key, hash: hash, weight: weight, atBack: atBack, slot: slot)
        s3?.insert(key, hash: hash, weight: weight, atBack: atBack)
    }

    /// larder_core_replace_lru: one eviction and the insert in one call.
    /// Returns false when the core refused (the caller evicts in a loop).
    func replace(_ key: Int, hash: UInt64, weight: UInt64) throws -> Bool {
        let limit = budget ?? .max
        let expected = wt?.victim(newcomer: (hash, weight)) ?? s3!.victim()
        var slot = LARDER_NIL
        let status = larder_core_replace_lru(core, hash, weight, limit, &slot)
        switch expected {
        case .rejected:
            try ensure(status == LARDER_REJECTED, "replace: \(status), model rejects")
            rejections += 1
            return true
        case .key(let victim):
            let fits = !overBudget(plus: weight, less: entries[victim]!.weight)
            guard fits else {
                try ensure(status == LARDER_ERR_FULL, "replace under a budget one eviction cannot meet: \(status)")
                return false
            }
            try ensure(status == LARDER_OK && slot == entries[victim]!.slot, "replace: \(status) slot \(slot), model's victim \(victim)")
            try remove(victim, inCore: false)
            evictions += 1
            added(key, slot: slot, hash: hash, weight: weight, atBack: false)
            return true
        }
    }

    func remove(_ key: Int, inCore: Bool = true) throws {
        let entry = entries.removeValue(forKey: key)!
        if inCore { larder_core_remove(core, entry.slot) }
        keyOfSlot[Int(entry.slot)] = -1
        totalWeight -= entry.weight
        wt?.remove(key); s3?.remove(key)
    }

    /// The governor's pressure eviction: the least valuable entry leaves.
    func pressure() throws {
        guard let victim = try victim(newcomer: nil) else { return try ensure(entries.isEmpty, "no victim in a non-empty core") }
        if random(4) != 0 {
            try remove(victim)
            evictions += 1
        }
    }

    func setBudget(_ value: UInt64) {
        budget = value
        larder_core_set_maximum(core, value)
        wt?.setMaximum(value); s3?.setMaximum(value)
    }

    func setWeight() throws {
        guard let key = randomLiveKey() else { return }
        let weight = min(randomWeight(), budget.map { $0 / 8 } ?? .max)
        try ensure(larder_core_set_weight(core, entries[key]!.slot, weight) == LARDER_OK, "set_weight")
        wt?.setWeight(key, weight); s3?.setWeight(key, weight)
        totalWeight = totalWeight - entries[key]!.weight + weight
        entries[key]!.weight = weight
    }

    func setDeadline() throws {
        guard let key = randomLiveKey() else { return }
        try setDeadline(key: key)
    }

    func setDeadline(key: Int) throws {
        let deadline = random(10) == 0 ? LARDER_NO_DEADLINE : now + 1 + rng.next() % (1 << UInt64([16, 20, 24, 30][random(4)]))
        let status = larder_core_set_deadline(core, entries[key]!.slot, deadline)
        try ensure(status == (expiry ? LARDER_OK : LARDER_ERR_UNSUPPORTED), "set_deadline returned \(status)")
        if expiry {
            entries[key]!.deadline = deadline
            entries[key]!.filed = deadline != LARDER_NO_DEADLINE
        }
    }

    func advanceAndExpire() throws {
        now += rng.next() % (1 << UInt64([16, 20, 24][random(3)]))
        var out = [UInt32](repeating: 0, count: 8)
        var handed: [UInt32] = []
        while true {
            let n = out.withUnsafeMutableBufferPointer { larder_core_expire(core, now, $0.baseAddress, 8) }
            handed += out[0..<Int(n)]
            if n < 8 { break }
        }
        let due = Set(entries.filter { $0.value.filed && $0.value.deadline <= now }.map(\.key))
        let handedKeys = handed.map { keyOfSlot[Int($0)] }
        try ensure(Set(handedKeys) == due && handedKeys.count == due.count, "expire handed \(handedKeys.sorted()), due \(due.sorted())")
        expirations += handedKeys.count
        for key in handedKeys {
            entries[key]!.filed = false
            if random(10) < 8 { try remove(key) } else { try setDeadline(key: key) }
        }
    }

    func clear() {
        larder_core_clear(core)
        for i in keyOfSlot.indices { keyOfSlot[i] = -1 }
        entries = [:]
        totalWeight = 0
        wt?.clear(); s3?.clear()
    }

    // MARK: Agreement

    func walk() -> [Int] {
        var result: [Int] = []
        var slot = larder_core_mru(core)
        while slot != LARDER_NIL {
            result.append(keyOfSlot[Int(slot)])
            slot = larder_core_older(core, slot)
        }
        return result
    }

    func walkBack() -> [Int] {
        var result: [Int] = []
        var slot = larder_core_lru(core)
        while slot != LARDER_NIL {
            result.append(keyOfSlot[Int(slot)])
            slot = larder_core_newer(core, slot)
        }
        return result
    }

    func verify(full: Bool) throws {
        let code = larder_core_check(core)
        try ensure(code == 0, "larder_core_check returned \(code)")
        try ensure(larder_core_count(core) == UInt32(entries.count), "count")
        try ensure(larder_core_total_weight(core) == totalWeight, "total weight")
        let least = wt.map { $0.leastValuable } ?? s3!.leastValuable
        let most = wt.map { $0.mostValuable } ?? s3!.mostValuable
        let lru = larder_core_lru(core), mru = larder_core_mru(core)
        try ensure((lru == LARDER_NIL ? nil : keyOfSlot[Int(lru)]) == least, "least valuable")
        try ensure((mru == LARDER_NIL ? nil : keyOfSlot[Int(mru)]) == most, "most valuable")
        if full {
            let order = wt?.order() ?? s3!.order()
            try ensure(walk() == order, "order, most valuable first: core \(walk()), model \(order)")
            try ensure(walkBack() == order.reversed(), "order, least valuable first")
            if let m = wt {
                for region in 0..<3 {
                    try ensure(m.lists[region].count == Int(m.regions[region].count), "model region \(region) count")
                }
            }
        }
    }
}

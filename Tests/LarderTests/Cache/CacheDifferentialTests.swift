import Foundation
import Testing
@testable import Larder

/// The reference: exact LRU as an array, least recent first. Obviously
/// correct and slow (linear scans), which is fine for small capacities.
struct ReferenceLRU {
    struct Entry {
        var key: Int
        var value: Int
        var deadline: UInt64?
        var weight: Int
    }
    let capacity: Int
    let byteBudget: Int
    var entries: [Entry] = []
    var hits = 0, misses = 0, evictions = 0, expiredRemovals = 0
    var evicted: [Int] = []

    var totalWeight: Int { entries.reduce(0) { $0 + $1.weight } }

    func index(of key: Int) -> Int? { entries.firstIndex { $0.key == key } }

    static func isExpired(_ entry: Entry, now: UInt64) -> Bool {
        entry.deadline.map { now >= $0 } ?? false
    }

    /// false: too large, nothing changed.
    mutating func set(_ key: Int, _ value: Int, deadline: UInt64?, weight: Int) -> Bool {
        guard weight <= byteBudget else { return false }
        if let index = index(of: key) {
            var entry = entries.remove(at: index)
            entry.value = value
            entry.deadline = deadline
            entry.weight = weight
            entries.append(entry)
            while totalWeight > byteBudget { evictFirst() }
        } else {
            while entries.count == capacity || totalWeight + weight > byteBudget { evictFirst() }
            entries.append(Entry(key: key, value: value, deadline: deadline, weight: weight))
        }
        return true
    }

    mutating func evictFirst() {
        evicted.append(entries.removeFirst().key)
        evictions += 1
    }

    mutating func get(_ key: Int, now: UInt64) -> Int? {
        guard let index = index(of: key) else { misses += 1; return nil }
        if Self.isExpired(entries[index], now: now) {
            entries.remove(at: index)
            expiredRemovals += 1
            misses += 1
            return nil
        }
        let entry = entries.remove(at: index)
        entries.append(entry)
        hits += 1
        return entry.value
    }

    mutating func contains(_ key: Int, now: UInt64) -> Bool {
        guard let index = index(of: key) else { return false }
        if Self.isExpired(entries[index], now: now) {
            entries.remove(at: index)
            expiredRemovals += 1
            return false
        }
        return true
    }

    mutating func remove(_ key: Int, now: UInt64) -> Int? {
        guard let index = index(of: key) else { return nil }
        let entry = entries.remove(at: index)
        if Self.isExpired(entry, now: now) { expiredRemovals += 1; return nil }
        return entry.value
    }

    mutating func sweep(now: UInt64) -> Int {
        let before = entries.count
        entries.removeAll { Self.isExpired($0, now: now) }
        expiredRemovals += before - entries.count
        return before - entries.count
    }
}

@Suite("Cache exact LRU against a reference model")
struct CacheDifferentialTests {
    /// One shard, a randomized mix of every operation; after each operation
    /// the returned value, the evicted keys (in order) and the count equal the
    /// model's, and statistics and the C core's invariants are checked along
    /// the way. `withBytes` adds a byte budget with explicit costs (including
    /// entries too large to store), so byte evictions are compared too.
    @Test("1 shard equals exact LRU over 1,000,000 mixed operations (500,000 more with a byte budget)",
          arguments: [false, true])
    func matchesReferenceLRU(withBytes: Bool) throws {
        let capacity = 48
        let budget = 1_500
        let keySpace = 128
        // LARDER_LONG_TESTS=1 runs twenty times as many.
        let scale = ProcessInfo.processInfo.environment["LARDER_LONG_TESTS"] == "1" ? 20 : 1
        let operations = (withBytes ? 500_000 : 1_000_000) * scale
        let clock = ManualCacheClock(monotonic: 1_000)
        let evictedKeys = LockedList<Int>()
        let cache = try Cache<Int, Int>(
            configuration: .init(maxCount: capacity, maxBytes: withBytes ? budget : nil, sweepInterval: nil),
            clock: clock, tier: nil, hooks: CacheHooks(onEvict: { evictedKeys.append($0) }))
        var model = ReferenceLRU(capacity: capacity, byteBudget: withBytes ? budget : .max)
        var random = SplitMix64(seed: withBytes ? 42 : 7)
        var failure: String? = nil

        for step in 0..<operations {
            let key = Int(random.next() % UInt64(keySpace))
            let roll = random.next() % 1000
            let now = clock.monotonicNanoseconds()
            switch roll {
            case 0..<350:
                let got = cache.value(forKey: key)
                let want = model.get(key, now: now)
                if got != want { failure = "step \(step): value(forKey: \(key)) = \(String(describing: got)), model \(String(describing: want))" }
            case 350..<650:
                let value = Int(random.next() % 1_000_000)
                let ttlNanoseconds: UInt64? = random.next() % 3 == 0 ? 1 + random.next() % 40 : nil
                let ttl = ttlNanoseconds.map { Duration.nanoseconds(Int64($0)) }
                let deadline = ttlNanoseconds.map { now + $0 }
                if withBytes {
                    // Mostly small costs; 1 in 50 heavier than the whole budget.
                    let cost = random.next() % 50 == 0 ? budget + 1 + Int(random.next() % 100) : 1 + Int(random.next() % 120)
                    var stored = true
                    do throws(CacheError) {
                        try cache.setValue(value, forKey: key, ttl: ttl, cost: cost)
                    } catch {
                        stored = false
                        if error.code != .valueTooLarge { failure = "step \(step): unexpected \(error)" }
                    }
                    let modelStored = model.set(key, value, deadline: deadline, weight: cost)
                    if stored != modelStored { failure = "step \(step): set cost \(cost) stored \(stored), model \(modelStored)" }
                } else {
                    try cache.setValue(value, forKey: key, ttl: ttl)
                    _ = model.set(key, value, deadline: deadline, weight: 0)
                }
            case 650..<750:
                let got = cache.contains(key)
                let want = model.contains(key, now: now)
                if got != want { failure = "step \(step): contains(\(key)) = \(got), model \(want)" }
            case 750..<850:
                let got = cache.removeValue(forKey: key)
                let want = model.remove(key, now: now)
                if got != want { failure = "step \(step): removeValue(\(key)) = \(String(describing: got)), model \(String(describing: want))" }
            case 850..<950:
                clock.advance(by: .nanoseconds(Int64(random.next() % 6)))
            case 950..<999:
                let got = cache.sweepExpired()
                let want = model.sweep(now: now)
                if got != want { failure = "step \(step): sweepExpired() = \(got), model \(want)" }
            default:
                if random.next() % 20 == 0 {
                    cache.removeAll()
                    model.entries.removeAll()
                }
            }
            let evicted = evictedKeys.take()
            if evicted != model.evicted {
                failure = "step \(step): evicted \(evicted), model \(model.evicted)"
            }
            model.evicted.removeAll(keepingCapacity: true)
            if cache.count != model.entries.count {
                failure = "step \(step): count \(cache.count), model \(model.entries.count)"
            }
            if withBytes && cache.totalBytes != model.totalWeight {
                failure = "step \(step): totalBytes \(cache.totalBytes), model \(model.totalWeight)"
            }
            if step % 50_000 == 0 {
                let code = cache.checkInvariants()
                if code != 0 { failure = "step \(step): invariant check failed with code \(code)" }
            }
            if failure != nil { break }
        }
        #expect(failure == nil, "\(failure ?? "")")
        let statistics = cache.statistics
        #expect(statistics.hits == model.hits)
        #expect(statistics.misses == model.misses)
        #expect(statistics.evictions == model.evictions)
        #expect(statistics.expiredRemovals == model.expiredRemovals)
        #expect(statistics.currentSize == model.entries.count)
        #expect(statistics.hits > 10_000 && statistics.evictions > 10_000 && statistics.expiredRemovals > 1_000,
                "the mix must exercise hits, evictions and expiry: \(statistics)")
        // The survivors, least recent first, are the model's.
        #expect(cache.keysByRecency() == [model.entries.map(\.key)])
        #expect(cache.checkInvariants() == 0)
    }
}

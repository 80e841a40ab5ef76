import CLarderCore
import CLarderSystem
import Foundation
import Synchronization
import Testing
@testable import Larder

@Suite("Cache under concurrent use")
struct CacheConcurrencyTests {
    /// 8 threads, a fixed number of mixed operations each on 256 shared keys
    /// (bounded by count, not time), including removeAll, sweeps, clock
    /// advances, pressure evictions and get-or-compute (the shards, shared,
    /// read without their locks). Afterwards: count <= maxCount, bytes <=
    /// maxBytes, every read counted exactly once, the cores consistent.
    @Test("8 threads of mixed operations", arguments: [1, 4], EvictionPolicy.all)
    func mixedOperations(shardCount: Int, policy: EvictionPolicy) throws {
        let clock = ManualCacheClock()
        let maxCount = 100
        let maxBytes = 100 * 120
        let cache = try Cache<Int, Int>(
            configuration: .init(maxCount: maxCount, maxBytes: maxBytes, shardCount: shardCount,
                                 sweepInterval: .milliseconds(1), policy: policy),
            clock: clock)
        let reads = Counter()
        let wrongValues = Counter()
        let operationsPerThread = 20_000
        runOnThreads(8) { thread in
            var random = SplitMix64(seed: UInt64(thread + 1) &* 0x1234_5678)
            var myReads = 0
            for _ in 0..<operationsPerThread {
                let key = Int(random.next() % 256)
                switch random.next() % 1000 {
                case 0..<400:
                    myReads += 1
                    // Values are always key * 10 + something < 10.
                    if let value = cache.value(forKey: key), value / 10 != key { wrongValues.add() }
                case 400..<650:
                    let ttl: Duration? = random.next() % 2 == 0 ? .milliseconds(Int64(1 + random.next() % 50)) : nil
                    try? cache.setValue(key * 10 + Int(random.next() % 10), forKey: key, ttl: ttl,
                                        cost: 1 + Int(random.next() % 200))
                case 650..<750:
                    _ = cache.contains(key)
                case 750..<850:
                    if let value = cache.removeValue(forKey: key), value / 10 != key { wrongValues.add() }
                case 850..<920:
                    myReads += 1
                    let value = try? cache.value(forKey: key) { key * 10 }
                    if let value, value / 10 != key { wrongValues.add() }
                case 920..<960:
                    clock.advance(by: .milliseconds(1))
                case 960..<990:
                    cache.sweepExpired()
                case 990..<994:
                    // Memory pressure, as the governor applies it.
                    cache.setPressureBudget(random.next() % 2 == 0 ? nil : maxBytes / 2)
                    cache.evictTowardBudget(maxEntries: 50)
                case 994..<998:
                    _ = cache.statistics
                default:
                    cache.removeAll()
                }
            }
            reads.add(myReads)
        }
        cache.close()
        let statistics = cache.statistics
        #expect(cache.count <= maxCount)
        #expect(cache.totalBytes <= maxBytes)
        #expect(statistics.currentSize == cache.count)
        #expect(statistics.hits + statistics.misses == statistics.totalRequests)
        #expect(statistics.totalRequests == reads.count)
        #expect(statistics.hits > 0 && statistics.misses > 0 && statistics.evictions > 0)
        #expect(statistics.pressureEvictions > 0)
        #expect(cache.shards.contains { $0.stripeCounts.hits > 0 }, "no read took the optimistic path")
        #expect(wrongValues.count == 0)
        #expect(cache.checkInvariants() == 0)
        // Still a working cache.
        cache.removeAll()
        #expect(cache.count == 0 && cache.totalBytes == 0)
        try cache.setValue(1, forKey: 1)
        #expect(cache.value(forKey: 1) == 1)
    }

    @Test("removeAll racing with sets leaves a consistent cache")
    func removeAllRacingSets() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1000, shardCount: 4, sweepInterval: nil))
        runOnThreads(8) { thread in
            for index in 0..<5_000 {
                if thread == 0 && index % 100 == 0 {
                    cache.removeAll()
                } else {
                    try? cache.setValue(index, forKey: thread * 10_000 + index)
                }
            }
        }
        #expect(cache.count <= 1000)
        #expect(cache.checkInvariants() == 0)
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.checkInvariants() == 0)
    }

    /// The shard lock's bias (larder_mutex.h) inside the cache: a cache used by
    /// one thread gets it; threads that take turns in bursts (a streak of 8
    /// here, so the bias is granted and revoked over and over) still see every
    /// operation serialized.
    @Test("the shard lock's bias: granted to a lone thread, revoked safely by others")
    func biasedShardLock() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 100, sweepInterval: nil))
        let mutex = cache.shards[0].mutex.pointer
        for key in 0..<Int(LARDER_MUTEX_BIAS_STREAK) + 10 {
            if cache.value(forKey: key % 150) == nil { try cache.setValue(key % 150 * 10, forKey: key % 150) }
        }
        #expect(larder_mutex_is_biased_to_caller(mutex) != 0)

        larder_mutex_init_streak(mutex, 8)  // unlocked and idle: safe to reset
        let reads = Counter()
        let wrongValues = Counter()
        runOnThreads(8) { thread in
            var random = SplitMix64(seed: UInt64(thread + 1) &* 0x9E37_79B9)
            var myReads = 0
            for _ in 0..<200 {
                for _ in 0..<32 {
                    let key = Int(random.next() % 150)
                    switch random.next() % 10 {
                    case 0..<6:
                        myReads += 1
                        if let value = cache.value(forKey: key), value / 10 != key { wrongValues.add() }
                    case 6..<9:
                        try? cache.setValue(key * 10 + Int(random.next() % 10), forKey: key)
                    default:
                        if let value = cache.removeValue(forKey: key), value / 10 != key { wrongValues.add() }
                    }
                }
                sched_yield()
            }
            reads.add(myReads)
        }
        let statistics = cache.statistics
        #expect(mutex.pointee.revocations > 0, "no bias was revoked: the test did not exercise the hand-over")
        #expect(mutex.pointee.state == 0 && mutex.pointee.inside == 0)
        #expect(cache.count <= 100)
        #expect(statistics.hits + statistics.misses == statistics.totalRequests)
        #expect(statistics.totalRequests == reads.count + Int(LARDER_MUTEX_BIAS_STREAK) + 10)
        #expect(wrongValues.count == 0)
        #expect(cache.checkInvariants() == 0)
    }
}

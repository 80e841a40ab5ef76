import CLarderCore
import CLarderSystem
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Larder

/// Reads without the lock (CacheShard+OptimisticReads.swift): taken by shards that
/// threads share, for trivial keys and values; validated by the shard's sequence.
@Suite("Cache: optimistic reads of shared shards")
struct CacheOptimisticReadTests {
    /// Two words that a torn copy would tell apart.
    struct Pair: Hashable, Sendable {
        var a: Int
        var b: Int
    }

    /// A one-shard cache whose shard counts as shared from the start.
    func sharedCache<K: Hashable & Sendable, V: Sendable>(_ k: K.Type, _ v: V.Type, maxCount: Int) throws -> Cache<K, V> {
        let cache = try Cache<K, V>(configuration: .init(maxCount: maxCount, sweepInterval: nil))
        cache.shards[0].threadsShare.store(true, ordering: .relaxed)
        return cache
    }

    @Test("trivial keys and values read optimistically, others do not")
    func eligibility() {
        #expect(CacheShard<Int, Int>.readsOptimistically)
        #expect(CacheShard<Int, Pair>.readsOptimistically)
        #expect(!CacheShard<String, Int>.readsOptimistically)
        #expect(!CacheShard<Int, [UInt8]>.readsOptimistically)
    }

    @Test("a hit recorded without the lock counts before the same thread's next eviction")
    func recordedHitsApplyBeforeTheNextWrite() throws {
        let cache = try sharedCache(Int.self, Int.self, maxCount: 3)
        for key in 1...3 { try cache.setValue(key * 10, forKey: key) }
        #expect(cache.value(forKey: 1) == 10)
        // The hit went through the stripe, not the lock ...
        #expect(cache.shards[0].stripeCounts.hits == 1)
        #expect(cache.statistics.hits == 1)
        // ... and still made 1 more recent than 2 before this set evicts.
        try cache.setValue(40, forKey: 4)
        #expect(cache.contains(1))
        #expect(!cache.contains(2))
        #expect(cache.keysByRecency() == [[3, 1, 4]])
        #expect(cache.checkInvariants() == 0)
    }

    @Test("hits recorded before the lock that finds the shard alone still count before that lock's eviction")
    func recordedHitsApplyAtTheLockThatEndsSharing() throws {
        let cache = try sharedCache(Int.self, Int.self, maxCount: 3)
        for key in 1...3 { try cache.setValue(key * 10, forKey: key) }
        let shard = cache.shards[0]
        #expect(cache.value(forKey: 1) == 10)
        #expect(larder_read_stripe_pending(shard.stripe) != 0)
        // The next lock by this thread is the one that counts the shard as used alone.
        let mutex = shard.mutex.pointer
        #expect(mutex.pointee.streak_owner == larder_thread_token())
        mutex.pointee.streak = CacheShard<Int, Int>.soloStreak - 1
        try cache.setValue(40, forKey: 4)
        let shared = shard.threadsShare.load(ordering: .relaxed)
        #expect(!shared)
        #expect(cache.keysByRecency() == [[3, 1, 4]])
        #expect(larder_read_stripe_pending(shard.stripe) == 0)
    }

    @Test("a lock by the thread that uses the shard alone leaves its stripe unread")
    func aLoneLockerSkipsItsStripe() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 3, shardCount: 1, sweepInterval: nil))
        for key in 1...3 { try cache.setValue(key * 10, forKey: key) }
        let shard = cache.shards[0]
        shard.threadsShare.store(false, ordering: .relaxed)
        // A record no thread of a lone shard makes; a lock that read the stripe would apply it.
        _ = larder_read_stripe_record(shard.stripe, 0, 0, 0)
        try cache.setValue(40, forKey: 4)
        #expect(larder_read_stripe_pending(shard.stripe) != 0)
        #expect(cache.checkInvariants() == 0)
    }

    /// Shard 0's stripe count of optimistic hits and the cache's hit statistics,
    /// after `reads` optimistic hits on ten of its keys.
    func optimisticHits(shardCount: Int, reads: Int, policy: EvictionPolicy = .lru) throws
        -> (recorded: Int, statistics: Int) {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 4096, shardCount: shardCount, sweepInterval: nil,
                                                             policy: policy))
        let keys = (0..<1000).filter { cache.shardIndex(Cache<Int, Int>.hash($0)) == 0 }.prefix(10)
        for key in keys { try cache.setValue(key, forKey: key) }
        let shard = cache.shards[0]
        shard.threadsShare.store(true, ordering: .relaxed)
        for read in 0..<reads {
            let key = keys[keys.startIndex + read % keys.count]
            #expect(cache.value(forKey: key) == key)
        }
        return (shard.stripeCounts.hits, cache.statistics.hits)
    }

    @Test("every optimistic hit is recorded and counted, whatever the shards and the policy")
    func everyHitIsRecorded() throws {
        for shardCount in [1, 2] {
            for policy in [EvictionPolicy.lru, .tinyLFU, .s3FIFO] {
                let hits = try optimisticHits(shardCount: shardCount, reads: 20, policy: policy)
                #expect(hits.recorded == 20 && hits.statistics == 20, "\(shardCount) shards, \(policy)")
            }
        }
    }

    @Test("threads without a stripe of their own share the last one and count every hit and miss in it")
    func threadsSharingAStripeCountEveryRead() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 4096, shardCount: 1, sweepInterval: nil))
        for key in 0..<64 { try cache.setValue(key, forKey: key) }
        let shard = cache.shards[0]
        shard.threadsShare.store(true, ordering: .relaxed)
        let threads = 2, reads = 128 * 1000
        let arrived = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        for thread in 0..<threads {
            Thread {
                larder_thread_stripe_replace(LARDER_THREAD_STRIPE_NONE)
                // Both threads read at once, through the shared stripe (its counting
                // alone is checked in ThreadStripeTests, where lost counts show).
                arrived.add(1, ordering: .relaxed)
                while arrived.load(ordering: .relaxed) < threads { sched_yield() }
                for read in 0..<reads { _ = cache.value(forKey: (read + thread) % 128) }
                done.signal()
            }.start()
        }
        for _ in 0..<threads { done.wait() }
        let shared = shard.stripes + Int(shard.sharedStripe)
        #expect(larder_read_stripe_hits(shared) > 0 && larder_read_stripe_misses(shared) > 0,
                "the reads went through the shared stripe")
        let statistics = cache.statistics
        #expect(statistics.hits == threads * reads / 2 && statistics.misses == threads * reads / 2)
    }

    /// Shard 0 of a two-shard LRU cache (capacity 4) holding `keys[0..<4]`, least
    /// recent first, shared by threads; then an optimistic hit on `keys[0]`.
    func markedLeastRecent(shardCount: Int) throws -> (cache: Cache<Int, Int>, keys: [Int]) {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 4 * shardCount, shardCount: shardCount,
                                                             sweepInterval: nil))
        let keys = Array((0..<1000).filter { cache.shardIndex(Cache<Int, Int>.hash($0)) == 0 }.prefix(6))
        for key in keys[0..<4] { try cache.setValue(key, forKey: key) }
        cache.shards[0].threadsShare.store(true, ordering: .relaxed)
        #expect(cache.value(forKey: keys[0]) == keys[0])
        #expect(cache.shards[0].stripeCounts.hits == 1, "the hit took the lock-free path")
        return (cache, keys)
    }

    @Test("in a sharded LRU cache a shared hit marks its entry, which the next eviction passes over once")
    func shardedLRUMarksSharedHits() throws {
        let (cache, k) = try markedLeastRecent(shardCount: 2)
        // Applied as a mark: the entry stays where it was ...
        #expect(cache.keysByRecency()[0] == [k[0], k[1], k[2], k[3]])
        // ... until an eviction reaches it: then it goes to the front instead of leaving.
        try cache.setValue(k[4], forKey: k[4])
        #expect(cache.keysByRecency()[0] == [k[2], k[3], k[0], k[4]])
        #expect(!cache.contains(k[1]))
        // The mark was spent: it leaves in its turn.
        try cache.setValue(k[5], forKey: k[5])
        #expect(cache.keysByRecency()[0] == [k[3], k[0], k[4], k[5]])
        #expect(cache.statistics.hits == 1 && cache.statistics.evictions == 2)
        #expect(cache.checkInvariants() == 0)
    }

    @Test("in a sharded LRU cache a hit by the one thread using the shard marks its entry too, rather than moving it")
    func shardedLRUMarksHitsUnderTheLock() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 8, shardCount: 2, sweepInterval: nil))
        let k = Array((0..<1000).filter { cache.shardIndex(Cache<Int, Int>.hash($0)) == 0 }.prefix(7))
        for key in k[0..<4] { try cache.setValue(key, forKey: key) }
        // Used by this thread alone (as after a long streak of its locks): read under the lock.
        cache.shards[0].threadsShare.store(false, ordering: .relaxed)
        // The two least recent, the second first: exact LRU would order them k[1], k[0].
        #expect(cache.value(forKey: k[1]) == k[1])
        #expect(cache.value(forKey: k[0]) == k[0])
        #expect(cache.shards[0].stripeCounts.hits == 0, "both hits were read under the lock")
        // Marked where they are ...
        #expect(cache.keysByRecency()[0] == [k[0], k[1], k[2], k[3]])
        // ... each passed over once by the evictions, in the order's own order: k[0] leaves
        // before k[1], where exact LRU would keep k[0], hit last.
        for key in k[4..<7] { try cache.setValue(key, forKey: key) }
        #expect(cache.keysByRecency()[0] == [k[1], k[4], k[5], k[6]])
        #expect(cache.statistics.hits == 2 && cache.statistics.evictions == 3)
        #expect(cache.checkInvariants() == 0)
    }

    /// Shard 0 of a two-shard LRU cache shared by threads, holding three of its
    /// keys, and the slot of the first.
    func sharedShardOfTwo(persistence: PersistenceConfiguration? = nil) throws
        -> (cache: Cache<Int, Int>, keys: [Int], slot: UInt32) {
        let configuration = CacheConfiguration(maxCount: 16, shardCount: 2, sweepInterval: nil)
        let cache: Cache<Int, Int>
        if let persistence {
            cache = try Cache(configuration: configuration, persistence: persistence)
        } else {
            cache = try Cache(configuration: configuration)
        }
        let keys = Array((0..<1000).filter { cache.shardIndex(Cache<Int, Int>.hash($0)) == 0 }.prefix(3))
        for key in keys { try cache.setValue(key, forKey: key) }
        let shard = cache.shards[0]
        shard.threadsShare.store(true, ordering: .relaxed)
        let slot = shard.find(keys[0], hash: Cache<Int, Int>.hash(keys[0]))
        #expect(slot != larderNil)
        return (cache, keys, slot)
    }

    @Test("in a sharded LRU cache a shared hit marks its entry itself: no record, no lock")
    func shardedLRUHitsMarkWithoutRecords() throws {
        let (cache, k, slot) = try sharedShardOfTwo()
        let shard = cache.shards[0]
        #expect(larder_core_slot_marked_concurrent(shard.core, slot) == 0)
        #expect(cache.value(forKey: k[0]) == k[0])
        #expect(larder_core_slot_marked_concurrent(shard.core, slot) != 0)
        #expect(larder_read_stripe_pending(shard.stripe) == 0, "nothing left for the lock to apply")
        #expect(shard.stripeCounts.hits == 1 && cache.statistics.hits == 1)
        #expect(cache.checkInvariants() == 0)
    }

    @Test("another thread's eviction gives a shared hit's entry its second chance")
    func anotherThreadsEvictionSeesTheMark() throws {
        let (cache, k) = try markedLeastRecent(shardCount: 2)
        // The mark is on the entry, not in this thread's stripe, which a set by
        // another thread would not apply.
        let done = DispatchSemaphore(value: 0)
        Thread { [cache] in
            try! cache.setValue(k[4], forKey: k[4])
            done.signal()
        }.start()
        done.wait()
        #expect(cache.contains(k[0]))
        #expect(!cache.contains(k[1]))
        #expect(cache.checkInvariants() == 0)
    }

    @Test("a shared hit of an unmarked entry returns while another thread holds the shard's lock")
    func aMarkingHitNeedsNoLock() throws {
        let (cache, k, slot) = try sharedShardOfTwo()
        let shard = cache.shards[0]
        let holding = Atomic<Bool>(false), release = Atomic<Bool>(false), readerDone = Atomic<Bool>(false)
        let group = DispatchGroup()
        group.enter()
        Thread.detachNewThread { [shard] in
            shard.mutex.lock()
            holding.store(true, ordering: .releasing)
            while !release.load(ordering: .acquiring) { sched_yield() }
            shard.mutex.unlock()
            group.leave()
        }
        while !holding.load(ordering: .acquiring) { sched_yield() }
        let reads = Int(CacheShard<Int, Int>.markedLockPeriod) - 1
        group.enter()
        Thread.detachNewThread { [cache] in
            for _ in 0..<reads { _ = cache.value(forKey: k[0]) }
            readerDone.store(true, ordering: .releasing)
            group.leave()
        }
        // Either the reader finishes, or it waits for the lock (then the lock shows a sleeper).
        while !readerDone.load(ordering: .acquiring) && larder_mutex_sleepers(shard.mutex.pointer) == 0 { sched_yield() }
        let finishedUnderTheHeldLock = readerDone.load(ordering: .acquiring)
        let markedUnderTheHeldLock = larder_core_slot_marked_concurrent(shard.core, slot) != 0
        release.store(true, ordering: .releasing)
        group.wait()
        #expect(finishedUnderTheHeldLock, "a hit waited for the lock")
        #expect(markedUnderTheHeldLock)
        #expect(cache.statistics.hits == reads)
        #expect(cache.checkInvariants() == 0)
    }

    @Test("a thread left alone on a shard that counted as shared reads under its lock again")
    func markingHitsStillSeeALoneThread() throws {
        let (cache, k, _) = try sharedShardOfTwo()
        let shard = cache.shards[0]
        // The setting thread holds the streak; one more lock by it ends the sharing.
        let mutex = shard.mutex.pointer
        #expect(mutex.pointee.streak_owner == larder_thread_token())
        mutex.pointee.streak = CacheShard<Int, Int>.soloStreak - 1
        let period = Int(CacheShard<Int, Int>.markedLockPeriod)
        for _ in 0..<period - 1 { #expect(cache.value(forKey: k[0]) == k[0]) }
        let sharedBefore = shard.threadsShare.load(ordering: .relaxed)
        #expect(sharedBefore, "no lock yet")
        #expect(cache.value(forKey: k[0]) == k[0])
        let sharedAfter = shard.threadsShare.load(ordering: .relaxed)
        #expect(!sharedAfter)
        #expect(cache.statistics.hits == period)
    }

    @Test("with a disk tier, whose access log wants every hit, a hit of a marked entry is still recorded")
    func theTierRecordsEveryHit() throws {
        let dir = TemporaryDirectory()
        let (cache, k, slot) = try sharedShardOfTwo(
            persistence: .lmdb(directory: dir.path, maxBytes: 64 << 20, durability: .synchronous))
        defer { cache.close() }
        let shard = cache.shards[0]
        #expect(shard.accessRecord != nil)
        #expect(cache.value(forKey: k[0]) == k[0])
        #expect(larder_read_stripe_pending(shard.stripe) != 0, "recorded, not marked at once")
        shard.applyOwnRecordedHits()
        #expect(larder_core_slot_marked_concurrent(shard.core, slot) != 0)
        #expect(cache.value(forKey: k[0]) == k[0])
        #expect(larder_read_stripe_pending(shard.stripe) != 0)
    }

    @Test("a cache of one shard moves a shared hit's entry at once: exact order")
    func oneShardMovesSharedHits() throws {
        let (cache, k) = try markedLeastRecent(shardCount: 1)
        #expect(cache.keysByRecency()[0] == [k[1], k[2], k[3], k[0]])
        try cache.setValue(k[4], forKey: k[4])
        #expect(cache.keysByRecency()[0] == [k[2], k[3], k[0], k[4]])
        #expect(cache.checkInvariants() == 0)
    }

    @Test("optimistic misses are counted, and an expired entry is read under the lock and removed")
    func missesAndExpiry() throws {
        let clock = ManualCacheClock()
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 10, sweepInterval: nil), clock: clock)
        cache.shards[0].threadsShare.store(true, ordering: .relaxed)
        try cache.setValue(1, forKey: 1, ttl: .seconds(1))
        #expect(cache.value(forKey: 2) == nil)
        #expect(cache.shards[0].stripeCounts.misses == 1)
        clock.advance(by: .seconds(1))
        #expect(cache.value(forKey: 1) == nil)
        let statistics = cache.statistics
        #expect(statistics.misses == 2 && statistics.hits == 0)
        #expect(statistics.expiredRemovals == 1 && cache.count == 0)
    }

    @Test("a shard one thread locks alone reads under its lock; a second thread makes it shared")
    func sharingFollowsTheLockers() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 4096, shardCount: 1, sweepInterval: nil))
        let shard = cache.shards[0]
        for key in 0..<2048 { try cache.setValue(key, forKey: key) }
        let aloneAfterSets = shard.threadsShare.load(ordering: .relaxed)
        #expect(!aloneAfterSets)
        for key in 0..<100 { #expect(cache.value(forKey: key) == key) }
        #expect(shard.stripeCounts.hits == 0, "a lone thread's hits took the optimistic path")
        try runOnThreads(1) { _ in try cache.setValue(-1, forKey: -1) }
        try cache.setValue(-2, forKey: -2)
        let sharedAfterSecondThread = shard.threadsShare.load(ordering: .relaxed)
        #expect(sharedAfterSecondThread)
        #expect(cache.value(forKey: 5) == 5)
        #expect(shard.stripeCounts.hits == 1)
        #expect(cache.statistics.hits == 101)
    }

    @Test("a sweep passes over a shard without deadlines, so its lone thread keeps it alone; a deadline brings the sweep back")
    func sweepLeavesShardsWithoutDeadlinesAlone() throws {
        let clock = ManualCacheClock()
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 4096, shardCount: 1, sweepInterval: nil),
                                        clock: clock)
        let shard = cache.shards[0]
        for key in 0..<2048 { try cache.setValue(key, forKey: key) }
        runOnThreads(1) { _ in #expect(cache.sweepExpired() == 0) }
        try cache.setValue(-1, forKey: -1)
        let aloneAfterSweep = shard.threadsShare.load(ordering: .relaxed)
        #expect(!aloneAfterSweep, "the sweep locked a shard that holds no deadline")
        try cache.setValue(-2, forKey: -2, ttl: .seconds(1))
        clock.advance(by: .seconds(2))
        runOnThreads(1) { _ in #expect(cache.sweepExpired() == 1) }
        let sharedAfterSweep = shard.threadsShare.load(ordering: .relaxed)
        #expect(sharedAfterSweep, "the sweep locks a shard that holds a deadline")
        #expect(cache.value(forKey: -2) == nil && cache.count == 2049)
        #expect(cache.checkInvariants() == 0)
    }

    /// Writers keep replacing values whose two words are equal; readers on other
    /// threads must never see two different words (a copy torn by a write that
    /// the sequence check let through), nor a value of another key.
    @Test("readers racing writers never see a torn or foreign value")
    func noTornReads() throws {
        let cache = try sharedCache(Int.self, Pair.self, maxCount: 64)
        let torn = Counter()
        let reads = Counter()
        try runOnThreads(4) { thread in
            var random = SplitMix64(seed: UInt64(thread) &+ 77)
            var myReads = 0
            for _ in 0..<50_000 {
                let key = Int(random.next() % 96)
                if thread < 2 {
                    let x = Int(truncatingIfNeeded: random.next() >> 8) * 128 + key
                    try cache.setValue(Pair(a: x, b: x), forKey: key)
                } else {
                    myReads += 1
                    if let pair = cache.value(forKey: key), pair.a != pair.b || pair.a % 128 != key { torn.add() }
                }
            }
            reads.add(myReads)
        }
        #expect(torn.count == 0)
        let statistics = cache.statistics
        #expect(statistics.hits + statistics.misses == reads.count)
        #expect(statistics.hits > 0 && statistics.misses > 0)
        #expect(cache.checkInvariants() == 0)
    }
}

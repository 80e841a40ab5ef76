import Synchronization
import Testing
@testable import Larder

/// Hits and promotions recorded for a lower tier's recency order (ShardAccessLog):
/// no lock or table per hit, taken by the tier in batches.
@Suite("Cache: accesses recorded for the lower tier")
struct CacheAccessRecordingTests {
    /// An in-memory tier that stamps its writes like the LMDB tier and takes the
    /// recorded accesses when a test asks.
    final class RecordingTier<Key: Hashable & Sendable, Value: Sendable>: CacheBackingTier, Sendable {
        let clock = AccessStampClock(after: 0)
        let batchSize: Int
        let drainRequests = Atomic<Int>(0)
        let writeStamps = TestLock<[Key: UInt64]>([:])
        private let source = TestLock<(@Sendable () -> [(key: Key, stamp: UInt64)])?>(nil)

        init(batchSize: Int = 1024) { self.batchSize = batchSize }

        func store(_ value: Value, forKey key: Key, deadline: UInt64?) throws(CacheError) {
            let stamp = clock.takeWriteStamp()
            writeStamps.withLock { $0[key] = stamp }
        }
        func load(forKey key: Key) -> (value: Value, deadline: UInt64?)? { nil }
        func remove(forKey key: Key) {}
        func removeAll() {}
        var accessRecording: (clock: AccessStampClock, batchSize: Int)? { (clock, batchSize) }
        func setAccessSource(_ source: @escaping @Sendable () -> [(key: Key, stamp: UInt64)]) {
            self.source.withLock { $0 = source }
        }
        func requestAccessDrain() { drainRequests.add(1, ordering: .relaxed) }

        /// The recorded accesses, least recent first.
        func take() -> [(key: Key, stamp: UInt64)] {
            (source.withLock { $0 }?() ?? []).sorted { $0.stamp < $1.stamp }
        }
    }

    func makeCache(maxCount: Int, tier: RecordingTier<Int, Int>) throws -> Cache<Int, Int> {
        try Cache<Int, Int>(configuration: .init(maxCount: maxCount, sweepInterval: nil), tier: tier)
    }

    /// Sends the shard's reads through the lock-free path (recorded in read-buffer
    /// stripes) or under the lock (recorded at once).
    func readWithoutLock(_ cache: Cache<Int, Int>, _ shared: Bool) {
        cache.shards[0].threadsShare.store(shared, ordering: .relaxed)
    }

    @Test("hits are stamped by their latest access, between the writes around them",
          arguments: [false, true])
    func hitsAreOrderedAmongWrites(readWithoutLock: Bool) throws {
        let tier = RecordingTier<Int, Int>()
        let cache = try makeCache(maxCount: 10, tier: tier)
        for key in 1...3 { try cache.setValue(key, forKey: key) }
        self.readWithoutLock(cache, readWithoutLock)
        for key in [1, 2, 1] { #expect(cache.value(forKey: key) == key) }
        try cache.setValue(4, forKey: 4)
        #expect(cache.value(forKey: 3) == 3)
        let taken = tier.take()
        #expect(taken.map(\.key) == [2, 1, 3], "each key once, at its latest access")
        let writes = tier.writeStamps.withLock { $0 }
        #expect(taken[0].stamp > writes[3]! && taken[1].stamp < writes[4]!)
        #expect(taken[2].stamp > writes[4]!)
        #expect(tier.take().isEmpty, "a drain empties the log")
        if readWithoutLock { #expect(cache.shards[0].stripeCounts.hits == 4, "the hits took the lock-free path") }
    }

    @Test("hits in a row on the latest key keep its stamp; a hit after another key's, or after a write, stamps it again",
          arguments: [false, true])
    func repeatedHitsOnTheLatestKey(readWithoutLock: Bool) throws {
        let tier = RecordingTier<Int, Int>()
        let cache = try makeCache(maxCount: 10, tier: tier)
        for key in 1...3 { try cache.setValue(key, forKey: key) }
        self.readWithoutLock(cache, readWithoutLock)
        for key in [1, 1, 1, 2, 2, 1, 3, 3] { #expect(cache.value(forKey: key) == key) }
        try cache.setValue(4, forKey: 4)
        #expect(cache.value(forKey: 3) == 3)  // the latest before the write
        let taken = tier.take()
        #expect(taken.map(\.key) == [2, 1, 3])
        #expect(taken[2].stamp > tier.writeStamps.withLock { $0[4]! }, "stamped above the write")
    }

    @Test("an entry that leaves memory takes its pending access with it; its slot's next entry is not stamped")
    func removedAndEvictedEntriesAreForgotten() throws {
        let tier = RecordingTier<Int, Int>()
        let cache = try makeCache(maxCount: 1, tier: tier)
        try cache.setValue(1, forKey: 1)
        #expect(cache.value(forKey: 1) == 1)
        try cache.setValue(2, forKey: 2)  // evicts 1; 2 takes its slot
        #expect(tier.take().isEmpty)
        #expect(cache.value(forKey: 2) == 2)
        #expect(cache.removeValue(forKey: 2) == 2)
        try cache.setValue(3, forKey: 3)
        #expect(tier.take().isEmpty)
    }

    @Test("a shard asks the tier for a drain once per batch of distinct entries")
    func aFullBatchAsksForADrain() throws {
        let tier = RecordingTier<Int, Int>(batchSize: 3)
        let cache = try makeCache(maxCount: 10, tier: tier)
        for key in 1...5 { try cache.setValue(key, forKey: key) }
        readWithoutLock(cache, false)
        for key in [1, 2, 1, 2] { _ = cache.value(forKey: key) }
        #expect(tier.drainRequests.load(ordering: .relaxed) == 0, "two distinct entries")
        _ = cache.value(forKey: 3)
        _ = cache.value(forKey: 4)
        #expect(tier.drainRequests.load(ordering: .relaxed) == 1)
        #expect(tier.take().map(\.key) == [1, 2, 3, 4])
        for key in 1...3 { _ = cache.value(forKey: key) }
        #expect(tier.drainRequests.load(ordering: .relaxed) == 2)
    }

    @Test("hits from several threads are all recorded, each at most once per drain")
    func hitsFromThreadsAreRecorded() throws {
        let tier = RecordingTier<Int, Int>()
        let cache = try makeCache(maxCount: 1_000, tier: tier)
        for key in 0..<1_000 { try cache.setValue(key, forKey: key) }
        runOnThreads(4) { thread in
            for round in 0..<50 {
                for key in stride(from: thread, to: 1_000, by: 4) { #expect(cache.value(forKey: key) == key, "round \(round)") }
            }
        }
        let keys = tier.take().map(\.key)
        #expect(keys.count == 1_000)
        #expect(Set(keys).count == 1_000)
        #expect(cache.checkInvariants() == 0)
    }

    @Test("write stamps leave room for accesses between them, and continue above stamps found on disk")
    func theClockSpacesWrites() {
        let clock = AccessStampClock(after: 0)
        let first = clock.takeWriteStamp()
        #expect(first == AccessStampClock.spacing)
        #expect(clock.peek() == first + AccessStampClock.spacing)
        clock.advance(past: 5 * AccessStampClock.spacing + 7)
        #expect(clock.takeWriteStamp() == 6 * AccessStampClock.spacing)
        clock.advance(past: 3)  // never backwards
        #expect(clock.peek() == 7 * AccessStampClock.spacing)
        #expect(AccessStampClock(after: 41).peek() == AccessStampClock.spacing, "stamps of the older format rank below")
    }
}

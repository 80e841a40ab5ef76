import Foundation
import Synchronization
import Testing
@testable import Larder

@Suite("Cache with a lower tier")
struct CacheTierTests {
    @Test("sets store through, hits record access, misses load and promote, removals reach the tier")
    func tierCalls() throws {
        let tier = FakeTier()
        let clock = ManualCacheClock(monotonic: 1_000)
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 2, sweepInterval: nil), clock: clock,
                                           tier: tier)
        try cache.setValue(1, forKey: "a", ttl: .nanoseconds(500))
        #expect(tier.calls.take() == ["store a"])
        #expect(tier.entries.withLock { $0["a"]?.deadline } == 1_500)
        #expect(cache.value(forKey: "a") == 1)
        #expect(tier.calls.take() == [])
        #expect(tier.takeAccesses() == ["a"])

        try cache.setValue(2, forKey: "b")
        try cache.setValue(3, forKey: "c")  // evicts "a" from memory only
        #expect(!cache.contains("a"))
        #expect(tier.calls.take() == ["store b", "store c"])
        #expect(cache.value(forKey: "a") == 1)  // from the tier, promoted
        #expect(tier.calls.take() == ["load a"])
        #expect(cache.contains("a"))
        #expect(tier.takeAccesses() == ["a"], "a promotion is an access")
        #expect(cache.value(forKey: "a") == 1)
        #expect(tier.calls.take() == [])
        #expect(tier.takeAccesses() == ["a"])
        #expect(cache.statistics.hits == 3 && cache.statistics.misses == 0)

        // A tier entry past its deadline is a miss.
        clock.advance(by: .nanoseconds(500))
        #expect(cache.value(forKey: "a") == nil)
        #expect(tier.calls.take() == ["load a"])
        #expect(cache.statistics.misses == 1)

        #expect(cache.removeValue(forKey: "c") == 3)
        #expect(tier.calls.take() == ["remove c"])
        cache.removeAll()
        #expect(tier.calls.take() == ["removeAll"])
        #expect(cache.count == 0)
        #expect(cache.value(forKey: "b") == nil)
    }

    @Test("a failing tier store fails the set and leaves memory unchanged")
    func failingStore() throws {
        let tier = FakeTier()
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 2, sweepInterval: nil), tier: tier)
        try cache.setValue(1, forKey: "a")
        tier.failStores.store(true, ordering: .relaxed)
        #expect {
            try cache.setValue(2, forKey: "a")
        } throws: { ($0 as? CacheError)?.code == .storeUnavailable }
        #expect(cache.value(forKey: "a") == 1)
    }

    @Test("a value too large is refused before the tier sees it")
    func tooLargeSkipsTier() throws {
        let tier = FakeTier()
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 2, maxBytes: 100, sweepInterval: nil),
                                           tier: tier)
        #expect(throws: CacheError.self) { try cache.setValue(1, forKey: "a", ttl: nil, cost: 101) }
        #expect(tier.calls.take() == [])
    }

    @Test("a set the tier stored but memory's shrunken share refuses drops the stale memory copy")
    func shareShrankAfterTierStore() throws {
        let tier = FakeTier()
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 2, maxBytes: 1_000, sweepInterval: nil),
                                           tier: tier)
        try cache.setValue(1, forKey: "a", ttl: nil, cost: 100)
        // As memory pressure would between the set's check and its lock: the shard's
        // share shrinks below the entry's weight while the cache's budget still admits it.
        cache.shards[0].mutex.lock()
        cache.shards[0].byteShare = 50
        cache.shards[0].mutex.unlock()
        try cache.setValue(2, forKey: "a", ttl: nil, cost: 100)  // durable in the tier: not an error
        #expect(tier.entries.withLock { $0["a"]?.value } == 2)
        #expect(!cache.contains("a"))  // the old value 1 is gone from memory
        #expect(cache.value(forKey: "a") == 2)  // read from the tier
    }

    @Test("restore inserts most-recent-first entries at the least-recent end, skipping the expired and what does not fit")
    func restore() throws {
        let clock = ManualCacheClock(monotonic: 1_000)
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 3, sweepInterval: nil), clock: clock,
                                           tier: FakeTier())
        try cache.setValue(0, forKey: "live")
        let restored = cache.restore([
            (key: "r1", value: 1, deadline: nil),
            (key: "expired", value: 9, deadline: 1_000),
            (key: "live", value: 8, deadline: nil),      // present: kept as is
            (key: "r2", value: 2, deadline: 5_000),
            (key: "r3", value: 3, deadline: nil),        // no room
        ])
        #expect(restored == 2)
        #expect(cache.keysByRecency() == [["r2", "r1", "live"]])
        #expect(cache.value(forKey: "live") == 0)
        clock.advance(by: .nanoseconds(4_000))
        #expect(cache.value(forKey: "r2") == nil)
        #expect(cache.value(forKey: "r1") == 1)
    }
}

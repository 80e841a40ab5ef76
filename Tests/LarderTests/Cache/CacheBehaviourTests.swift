import Logging
import Synchronization
import Testing
@testable import Larder

@Suite("Cache behaviour")
struct CacheBehaviourTests {
    // MARK: Configuration

    static let invalidConfigurations: [(CacheConfiguration, String, String)] = [
        (.init(maxCount: 0), "maxCount", "1...1073741824"),
        (.init(maxCount: -3), "maxCount", "1...1073741824"),
        (.init(maxCount: (1 << 30) + 1), "maxCount", "1...1073741824"),
        (.init(maxCount: 10, maxBytes: 0), "maxBytes", "> 0"),
        (.init(maxCount: 10, maxBytes: -1), "maxBytes", "> 0"),
        (.init(maxCount: 10, shardCount: 0), "shardCount", "1...10"),
        (.init(maxCount: 10, shardCount: 11), "shardCount", "1...10"),
        (.init(maxCount: 5000, shardCount: 1025), "shardCount", "1...1024"),
        (.init(maxCount: 10, defaultTTL: .zero), "defaultTTL", "> 0"),
        (.init(maxCount: 10, defaultTTL: .seconds(-1)), "defaultTTL", "> 0"),
        (.init(maxCount: 10, sweepInterval: .zero), "sweepInterval", "> 0"),
        (.init(maxCount: 10, sweepInterval: .milliseconds(-5)), "sweepInterval", "> 0"),
    ]

    @Test("invalid configurations throw invalidConfiguration naming the field and range",
          arguments: invalidConfigurations)
    func invalidConfiguration(_ configuration: CacheConfiguration, field: String, range: String) {
        #expect {
            _ = try Cache<Int, Int>(configuration: configuration)
        } throws: { error in
            guard let error = error as? CacheError else { return false }
            return error.code == .invalidConfiguration && error.message.hasPrefix(field)
                && error.message.contains(range)
        }
    }

    @Test("boundary configurations are accepted and hold at their limits")
    func boundaryConfigurations() throws {
        // maxCount 1: one entry, which the next key evicts.
        let one = try Cache<Int, Int>(configuration: .init(maxCount: 1))
        try one.setValue(1, forKey: 1)
        #expect(one.value(forKey: 1) == 1)
        try one.setValue(2, forKey: 2)
        #expect(one.count == 1)
        #expect(one.value(forKey: 2) == 2 && one.value(forKey: 1) == nil)
        #expect(one.statistics.evictions == 1)
        one.close()

        // Every other field at its edge at once.
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1024, maxBytes: 1, defaultTTL: .nanoseconds(1),
                                                             shardCount: 1024, sweepInterval: .seconds(3600)),
                                        clock: ManualCacheClock())
        // maxBytes 1 split over 1024 shards: a measured entry outweighs every share and is
        // refused, leaving the cache unchanged.
        let refused = #expect(throws: CacheError.self) { try cache.setValue(1, forKey: 1) }
        #expect(refused?.code == .valueTooLarge)
        #expect(cache.count == 0)
        // Weightless entries fit; 1024 shards over maxCount 1024 hold one entry each, so
        // a shard's next key evicts its previous one.
        let keys = 0..<4096
        for key in keys { try cache.setValue(key, forKey: key, ttl: nil, cost: 0) }
        let shardsUsed = Set(keys.map { cache.shardIndex(Cache<Int, Int>.hash($0)) }).count
        #expect(cache.count == shardsUsed)
        #expect(cache.statistics.evictions == keys.count - shardsUsed)
        #expect(cache.value(forKey: keys.last!) == keys.last!)
        cache.close()

        // defaultTTL 1 ns: an entry stored without a ttl expires one nanosecond later.
        let clock = ManualCacheClock()
        let brief = try Cache<Int, Int>(configuration: .init(maxCount: 1, defaultTTL: .nanoseconds(1),
                                                             sweepInterval: nil), clock: clock)
        try brief.setValue(1, forKey: 1)
        #expect(brief.value(forKey: 1) == 1)
        clock.advance(by: .nanoseconds(1))
        #expect(brief.value(forKey: 1) == nil)
        #expect(brief.statistics.expiredRemovals == 1)
    }

    // MARK: Basic operations

    @Test("removeValue returns the removed value")
    func removeValueReturnsValue() throws {
        let cache = try Cache<String, [Int]>(configuration: .init(maxCount: 4, sweepInterval: nil))
        try cache.setValue([1, 2], forKey: "a")
        #expect(cache.removeValue(forKey: "a") == [1, 2])
        #expect(cache.removeValue(forKey: "a") == nil)
        #expect(cache.count == 0)
        #expect(cache.totalBytes == 0)
    }

    @Test("contains changes neither recency nor statistics")
    func containsIsPassive() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 3, sweepInterval: nil))
        for key in 1...3 { try cache.setValue(key, forKey: key) }
        let before = cache.statistics
        #expect(cache.contains(1))  // 1 is least recent; contains must not save it
        #expect(!cache.contains(9))
        #expect(cache.statistics == before)
        try cache.setValue(4, forKey: 4)
        #expect(!cache.contains(1))
        #expect(cache.keysByRecency() == [[2, 3, 4]])
        // A read does save it.
        _ = cache.value(forKey: 2)
        try cache.setValue(5, forKey: 5)
        #expect(cache.keysByRecency() == [[4, 2, 5]])
    }

    @Test("the subscript reads, writes and removes")
    func subscriptOperations() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 4, sweepInterval: nil))
        cache["a"] = 1
        #expect(cache["a"] == 1)
        cache["a"] = 2
        #expect(cache["a"] == 2)
        cache["a"] = nil
        #expect(cache["a"] == nil)
        #expect(cache.count == 0)
        #expect(cache.statistics.hits == 2 && cache.statistics.misses == 1)
    }

    @Test("statistics count hits, misses and evictions; hitRate is 0 without requests")
    func statisticsAddUp() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 2, sweepInterval: nil))
        #expect(cache.statistics.hitRate == 0)
        try cache.setValue(1, forKey: 1)
        try cache.setValue(2, forKey: 2)
        try cache.setValue(3, forKey: 3)  // evicts 1
        #expect(cache.value(forKey: 1) == nil)
        #expect(cache.value(forKey: 2) == 2)
        #expect(cache.value(forKey: 3) == 3)
        let statistics = cache.statistics
        #expect(statistics.hits == 2 && statistics.misses == 1 && statistics.totalRequests == 3)
        #expect(statistics.hitRate == 2.0 / 3.0)
        #expect(statistics.evictions == 1 && statistics.currentSize == 2)
        cache.removeAll()
        #expect(cache.statistics.currentSize == 0 && cache.statistics.hits == 2)
    }

    @Test("several shards: count never exceeds maxCount; capacities add up to it")
    func shardedCapacity() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 10, shardCount: 3, sweepInterval: nil))
        #expect(cache.shards.map(\.capacity) == [4, 3, 3])
        for key in 0..<1000 {
            try cache.setValue(key, forKey: key)
            #expect(cache.count <= 10)
        }
        #expect(cache.count >= 9)  // every shard is full after so many keys
        #expect(Set(cache.keysByRecency().map(\.count)) == Set([4, 3]))
    }

    // MARK: Byte budget

    @Test("totalBytes stays within maxBytes after every set, evicting least recent first")
    func byteBudgetInvariant() throws {
        let maxBytes = 10_000
        let evicted = LockedList<Int>()
        let cache = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 1000, maxBytes: maxBytes, sweepInterval: nil),
                                            tier: nil, hooks: CacheHooks(onEvict: { evicted.append($0) }))
        var random = SplitMix64(seed: 3)
        for key in 0..<2000 {
            let cost = 1 + Int(random.next() % 900)
            try cache.setValue([], forKey: key, ttl: nil, cost: cost)
            #expect(cache.totalBytes <= maxBytes)
            #expect(cache.contains(key))
        }
        // Evicted in insertion order (nothing was read): least recent first.
        let order = evicted.snapshot
        #expect(order == order.sorted())
        #expect(order.count == cache.statistics.evictions)
        // One heavy entry evicts as many as it needs.
        try cache.setValue([], forKey: -1, ttl: nil, cost: maxBytes)
        #expect(cache.count == 1 && cache.totalBytes == maxBytes)
    }

    @Test("natural weights: inline sizes plus the core's bookkeeping per slot")
    func naturalWeights() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 100, maxBytes: 100_000, sweepInterval: nil))
        try cache.setValue(1, forKey: 1)
        let weight = cache.totalBytes
        #expect(weight >= 16 + 16)  // two 8-byte strides and the core's slot (tens of bytes)
        #expect(weight == Int(cache.naturalWeight(key: 1, value: 1)))
        try cache.setValue(2, forKey: 2)
        #expect(cache.totalBytes == 2 * weight)
    }

    @Test("a value heavier than the budget throws valueTooLarge and leaves the cache unchanged")
    func valueTooLarge() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, maxBytes: 1000, shardCount: 2,
                                                                sweepInterval: nil))
        // 200 + 200 fit one shard's share of 500 wherever the keys land.
        try cache.setValue(1, forKey: "a", ttl: nil, cost: 200)
        try cache.setValue(2, forKey: "b", ttl: nil, cost: 200)
        let order = cache.keysByRecency()
        let before = cache.statistics
        #expect {
            try cache.setValue(3, forKey: "a", ttl: nil, cost: 501)  // a shard's share is 500
        } throws: { error in
            guard let error = error as? CacheError else { return false }
            return error.code == .valueTooLarge && error.message.contains("501") && error.message.contains("500")
                && error.message.contains("maxBytes")
        }
        #expect(throws: CacheError.self) { try cache.setValue(3, forKey: "new", ttl: nil, cost: Int.max) }
        #expect(throws: CacheError.self) { try cache.setValue(3, forKey: "new", ttl: nil, cost: -1) }
        cache["new"] = nil
        #expect(cache.keysByRecency() == order)
        #expect(cache.statistics == before)
        #expect(cache.value(forKey: "a") == 1 && cache.value(forKey: "b") == 2)
    }

    @Test("valueTooLarge keeps the existing value for the key")
    func valueTooLargeKeepsExisting() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, maxBytes: 1000, sweepInterval: nil))
        try cache.setValue(1, forKey: "a", ttl: nil, cost: 400)
        try cache.setValue(2, forKey: "b", ttl: nil, cost: 400)
        let order = cache.keysByRecency()
        let bytes = cache.totalBytes
        #expect(throws: CacheError.self) { try cache.setValue(3, forKey: "a", ttl: nil, cost: 1001) }
        #expect(cache.keysByRecency() == order)
        #expect(cache.totalBytes == bytes)
        #expect(cache.statistics.evictions == 0)
        #expect(cache.value(forKey: "a") == 1)
    }

    // MARK: Governor hooks

    @Test("a pressure budget lowers the effective budget; evictTowardBudget evicts least recent in batches")
    func pressureBudget() throws {
        let evicted = LockedList<Int>()
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1000, maxBytes: 100_000, sweepInterval: nil),
                                        tier: nil, hooks: CacheHooks(onEvict: { evicted.append($0) }))
        for key in 0..<500 { try cache.setValue(key, forKey: key, ttl: nil, cost: 100) }
        #expect(cache.totalBytes == 50_000)
        #expect(cache.statistics.effectiveByteBudget == 100_000)
        cache.setPressureBudget(20_000)
        #expect(cache.statistics.effectiveByteBudget == 20_000)
        let first = cache.evictTowardBudget(maxEntries: 100)
        #expect(first.entries == 100 && first.bytes == 10_000)
        let rest = cache.evictTowardBudget(maxEntries: .max)
        #expect(rest.entries == 200 && rest.bytes == 20_000)
        #expect(cache.totalBytes == 20_000)
        #expect(evicted.snapshot == Array(0..<300))
        #expect(cache.statistics.pressureEvictions == 300)
        #expect(cache.statistics.evictions == 300)
        // Sets now fit the pressure budget.
        try cache.setValue(-1, forKey: -1, ttl: nil, cost: 100)
        #expect(cache.totalBytes == 20_000 && cache.value(forKey: 300) == nil)
        #expect(throws: CacheError.self) { try cache.setValue(0, forKey: -2, ttl: nil, cost: 30_000) }
        cache.setPressureBudget(nil)
        #expect(cache.statistics.effectiveByteBudget == 100_000)
        try cache.setValue(0, forKey: -2, ttl: nil, cost: 30_000)
        #expect(cache.evictTowardBudget(maxEntries: 10).entries == 0)
    }

    @Test("a pressure budget applies without maxBytes")
    func pressureWithoutMaxBytes() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 100, shardCount: 4, sweepInterval: nil))
        #expect(cache.statistics.effectiveByteBudget == nil)
        for key in 0..<100 { try cache.setValue(key, forKey: key, ttl: nil, cost: 10) }
        let before = cache.count
        cache.setPressureBudget(400)
        let evicted = cache.evictTowardBudget(maxEntries: .max)
        #expect(cache.totalBytes <= 400)
        #expect(cache.shards.allSatisfy { $0.totalWeight.count <= 100 })
        #expect(evicted.entries == before - cache.count && evicted.bytes == 10 * evicted.entries)
        // Keys spread over the shards by a per-process hash seed, so a shard may
        // already have evicted during the fill: assert on what remains.
        #expect(cache.count <= 40 && evicted.entries >= before - 40)
        #expect(cache.statistics.pressureEvictions == evicted.entries)
    }

    // MARK: Logging

    @Test("evictions and expiries are logged at debug, nothing at the default level")
    func logging() throws {
        let logs = CapturedLogs()
        var logger = logs.logger
        logger.logLevel = .debug
        let clock = ManualCacheClock()
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1, sweepInterval: nil), clock: clock,
                                        logger: logger)
        try cache.setValue(1, forKey: 1, ttl: .seconds(1))
        try cache.setValue(2, forKey: 2, ttl: .seconds(1))
        clock.advance(by: .seconds(1))
        #expect(cache.sweepExpired() == 1)
        #expect(logs.contains(.debug, "evicted"))
        #expect(logs.contains(.debug, "expired"))
        #expect(!logs.messages.withLock { $0.contains { $0.0 >= .info } }, "logged at the default level or above")
    }
}

@Suite("Cache behaviour at the limits of its inputs")
struct CacheLimitTests {
    @Test("explicit costs near the per-entry maximum without a byte budget: no arithmetic trap")
    func hugeCostsWithoutBudget() async {
        await #expect(processExitsWith: .success) {
            // One shard, so that one total carries every cost.
            let cache = try! Cache<Int, Int>(configuration: .init(maxCount: 5_000, shardCount: 1, sweepInterval: nil))
            let cost = (1 << 52) - 1  // the largest cost an entry may carry
            // 4,097 of them pass UInt64.max: the cache evicts rather than wrapping its total.
            for key in 0..<4_200 { try! cache.setValue(key, forKey: key, ttl: nil, cost: cost) }
            try! cache.setValue(0, forKey: 0, ttl: nil, cost: cost)  // an update
            precondition(cache.count <= 4_096 && cache.value(forKey: 0) == 0 && cache.checkInvariants() == 0)
        }
    }

    @Test("huge TTLs never overflow: the sweeper keeps them, shorter ones expire on time")
    func hugeTTLs() throws {
        let clock = ManualCacheClock()
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 8, sweepInterval: nil), clock: clock)
        try cache.setValue(1, forKey: 1, ttl: .seconds(Int64.max))
        try cache.setValue(2, forKey: 2, ttl: Duration(secondsComponent: Int64.max, attosecondsComponent: 999_999_999_999_999_999))
        try cache.setValue(3, forKey: 3, ttl: .seconds(30 * 86_400))
        try cache.setValue(4, forKey: 4, ttl: .nanoseconds(1))
        clock.advance(by: .seconds(30 * 86_400) - .nanoseconds(1))
        #expect(cache.sweepExpired() == 1)  // key 4
        #expect(cache.value(forKey: 3) == 3)
        clock.advance(by: .nanoseconds(1))
        #expect(cache.sweepExpired() == 1)  // key 3
        clock.advance(by: .seconds(200 * 365 * 86_400))
        #expect(cache.sweepExpired() == 0)
        #expect(cache.value(forKey: 1) == 1)
        #expect(cache.value(forKey: 2) == 2)
        #expect(cache.checkInvariants() == 0)
    }
}

import Testing
@testable import Larder

@Suite("Automatic shard count")
struct AutomaticShardingTests {
    @Test("eight shards per processor, a power of two of at most 64, halved for small caches and budgets",
          arguments: [
              // (maxCount, maxBytes, processors, expected)
              (100_000, nil, 1, 1),
              (100_000, nil, 2, 16),
              (100_000, nil, 3, 16),
              (1_000_000, nil, 4, 32),
              (1_000_000, nil, 64, 64),
              (2_047, nil, 2, 1),
              (2_048, nil, 2, 2),
              (10_000, nil, 2, 8),
              (100_000, 8 << 20, 2, 2),
              (100_000, (8 << 20) - 1, 2, 1),
              (100_000, 256 << 20, 2, 16),
              (1, nil, 64, 1),
          ] as [(Int, Int?, Int, Int)])
    func automaticCount(maxCount: Int, maxBytes: Int?, processors: Int, expected: Int) {
        #expect(CacheConfiguration.automaticShardCount(maxCount: maxCount, maxBytes: maxBytes,
                                                       processors: processors) == expected)
    }

    @Test("a configuration that sets no shard count follows its limits; one that sets it keeps it")
    func configurationFollowsItsLimits() throws {
        var automatic = CacheConfiguration(maxCount: 100_000)
        #expect(automatic.shardCount == CacheConfiguration.automaticShardCount(maxCount: 100_000, maxBytes: nil))
        // Shrinking the cache after creation shrinks the automatic count with it, so it stays valid.
        automatic.maxCount = 3
        #expect(automatic.shardCount == 1)
        let small = try Cache<Int, Int>(configuration: automatic)
        #expect(small.shards.count == 1)

        var fixed = CacheConfiguration(maxCount: 100_000, shardCount: 1)
        fixed.maxCount = 1_000_000
        #expect(fixed.shardCount == 1)
        fixed.shardCount = 4
        #expect(fixed.shardCount == 4)
        #expect(try Cache<Int, Int>(configuration: fixed).shards.count == 4)
    }

    @Test("a cache built without a shard count has the automatic count of shards, whose capacities add up")
    func cacheUsesTheAutomaticCount() throws {
        let configuration = CacheConfiguration(maxCount: 100_003, sweepInterval: nil)
        let cache = try Cache<Int, Int>(configuration: configuration)
        let expected = CacheConfiguration.automaticShardCount(maxCount: 100_003, maxBytes: nil)
        #expect(cache.shards.count == expected)
        #expect(cache.shards.reduce(0) { $0 + Int($1.capacity) } == 100_003)
        // Three times its capacity in distinct keys fills every shard: it then holds exactly maxCount.
        for key in 0..<300_003 { try cache.setValue(key, forKey: key) }
        #expect(cache.count == 100_003)
        #expect(cache.statistics.evictions == 200_000)
    }
}

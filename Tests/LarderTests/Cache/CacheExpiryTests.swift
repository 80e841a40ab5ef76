import Dispatch
import Testing
@testable import Larder

@Suite("Cache expiry")
struct CacheExpiryTests {
    func makeCache(defaultTTL: Duration? = nil, clock: ManualCacheClock,
                   sweepInterval: Duration? = nil) throws -> Cache<String, Int> {
        try Cache(configuration: .init(maxCount: 100, defaultTTL: defaultTTL, sweepInterval: sweepInterval),
                  clock: clock)
    }

    @Test("an entry expires exactly at its deadline, not 1 ns before")
    func expiresAtDeadline() throws {
        let clock = ManualCacheClock()
        let cache = try makeCache(clock: clock)
        try cache.setValue(1, forKey: "a", ttl: .seconds(10))
        clock.advance(by: .seconds(10) - .nanoseconds(1))
        #expect(cache.value(forKey: "a") == 1)
        #expect(cache.contains("a"))
        clock.advance(by: .nanoseconds(1))
        #expect(!cache.contains("a"))
        #expect(cache.value(forKey: "a") == nil)
        #expect(cache.count == 0)
        #expect(cache.statistics.expiredRemovals == 1)  // removed once, by contains
    }

    @Test("value, subscript and removeValue treat an expired entry as absent and remove it")
    func expiredIsAbsentEverywhere() throws {
        let clock = ManualCacheClock()
        let cache = try makeCache(clock: clock)
        for key in ["a", "b", "c"] { try cache.setValue(1, forKey: key, ttl: .seconds(1)) }
        clock.advance(by: .seconds(1))
        #expect(cache.value(forKey: "a") == nil)
        #expect(cache["b"] == nil)
        #expect(cache.removeValue(forKey: "c") == nil)
        let statistics = cache.statistics
        #expect(statistics.expiredRemovals == 3)
        #expect(statistics.misses == 2)
        #expect(statistics.hits == 0)
        #expect(cache.count == 0)
    }

    @Test("a per-entry TTL beats the default; nil means never")
    func perEntryBeatsDefault() throws {
        let clock = ManualCacheClock()
        let cache = try makeCache(defaultTTL: .seconds(10), clock: clock)
        try cache.setValue(1, forKey: "default")
        try cache.setValue(2, forKey: "short", ttl: .seconds(2))
        try cache.setValue(3, forKey: "long", ttl: .seconds(60))
        try cache.setValue(4, forKey: "never", ttl: nil)
        cache["subscript"] = 5  // default TTL
        clock.advance(by: .seconds(2))
        #expect(cache.value(forKey: "short") == nil)
        #expect(cache.value(forKey: "default") == 1)
        clock.advance(by: .seconds(8))
        #expect(cache.value(forKey: "default") == nil)
        #expect(cache.value(forKey: "subscript") == nil)
        #expect(cache.value(forKey: "long") == 3)
        clock.advance(by: .seconds(3600))
        #expect(cache.value(forKey: "long") == nil)
        #expect(cache.value(forKey: "never") == 4)
    }

    @Test("an update resets the deadline")
    func updateResetsDeadline() throws {
        let clock = ManualCacheClock()
        let cache = try makeCache(clock: clock)
        try cache.setValue(1, forKey: "a", ttl: .seconds(10))
        clock.advance(by: .seconds(8))
        try cache.setValue(2, forKey: "a", ttl: .seconds(10))
        clock.advance(by: .seconds(8))  // 16 s after the first set, 8 after the update
        #expect(cache.value(forKey: "a") == 2)
        clock.advance(by: .seconds(2))
        #expect(cache.value(forKey: "a") == nil)
        // An update without a TTL makes it permanent.
        try cache.setValue(3, forKey: "b", ttl: .seconds(1))
        try cache.setValue(4, forKey: "b", ttl: nil)
        clock.advance(by: .seconds(5))
        #expect(cache.value(forKey: "b") == 4)
    }

    @Test("zero and negative TTLs throw invalidTTL and store nothing")
    func invalidTTLs() throws {
        let clock = ManualCacheClock()
        let cache = try makeCache(clock: clock)
        try cache.setValue(1, forKey: "a")
        for ttl in [Duration.zero, .nanoseconds(-1), .seconds(-5)] {
            #expect {
                try cache.setValue(2, forKey: "a", ttl: ttl)
            } throws: { error in
                guard let error = error as? CacheError else { return false }
                return error.code == .invalidTTL && error.message.contains("ttl") && error.message.contains("> 0")
            }
            #expect(throws: CacheError.self) { try cache.setValue(2, forKey: "b", ttl: ttl, cost: 10) }
            #expect(throws: CacheError.self) { _ = try cache.value(forKey: "c", ttl: ttl) { 3 } }
        }
        #expect(cache.value(forKey: "a") == 1)
        #expect(!cache.contains("b") && !cache.contains("c"))
        #expect(throws: CacheError.self) {
            _ = try Cache<String, Int>(configuration: .init(maxCount: 1, defaultTTL: .zero))
        }
    }

    @Test("sweepExpired removes what expired, nothing else, and counts it")
    func manualSweep() throws {
        let clock = ManualCacheClock()
        let cache = try makeCache(clock: clock)
        for index in 0..<50 { try cache.setValue(index, forKey: "short\(index)", ttl: .seconds(1)) }
        for index in 0..<20 { try cache.setValue(index, forKey: "long\(index)", ttl: .seconds(100)) }
        try cache.setValue(0, forKey: "never")
        #expect(cache.sweepExpired() == 0)
        clock.advance(by: .seconds(1))
        #expect(cache.sweepExpired() == 50)
        #expect(cache.count == 21)
        #expect(cache.statistics.expiredRemovals == 50)
        #expect(cache.statistics.totalRequests == 0)
        #expect(cache.contains("long3") && cache.contains("never"))
        #expect(cache.checkInvariants() == 0)
    }

    @Test("the background sweeper removes expired entries nobody reads")
    func backgroundSweeper() throws {
        let clock = ManualCacheClock()
        let runs = DispatchSemaphore(value: 0)
        let cache = try Cache<String, Int>(
            configuration: .init(maxCount: 200, sweepInterval: .milliseconds(2)), clock: clock, tier: nil,
            hooks: CacheHooks(onSweep: { _ in runs.signal() }))
        for index in 0..<100 { try cache.setValue(index, forKey: "k\(index)", ttl: .seconds(30)) }
        try cache.setValue(0, forKey: "kept", ttl: .seconds(60))
        clock.advance(by: .seconds(30))
        // Every sweeper run signals; wait for runs until one has seen the advanced clock.
        var waited = 0
        while cache.statistics.expiredRemovals < 100 {
            #expect(runs.wait(timeout: .now() + .seconds(30)) == .success, "the sweeper did not run")
            waited += 1
            if waited > 10_000 { break }
        }
        #expect(cache.statistics.expiredRemovals == 100)
        #expect(cache.count == 1)
        #expect(cache.statistics.totalRequests == 0)
        #expect(cache.sweeperRuns.load(ordering: .relaxed) >= 1)
        cache.close()
        #expect(!cache.sweeper.isRunning)
        clock.advance(by: .seconds(60))
        #expect(cache.count == 1)  // nothing sweeps any more; a read still removes it
        #expect(cache.value(forKey: "kept") == nil)
    }

    @Test("the sweeper holds the cache weakly: releasing the cache deinitializes it")
    func sweeperDoesNotRetain() throws {
        var cache: Cache<Int, Int>? = try Cache(configuration: .init(maxCount: 4, sweepInterval: .seconds(3600)))
        weak let weakCache = cache
        #expect(cache?.sweeper.isRunning == true)
        cache = nil
        #expect(weakCache == nil)
    }

    @Test("a cache without expiry refuses TTLs")
    func noExpirySupport() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, supportsExpiry: false))
        try cache.setValue(1, forKey: "a")
        try cache.setValue(2, forKey: "b", ttl: nil)
        #expect {
            try cache.setValue(3, forKey: "c", ttl: .seconds(1))
        } throws: { ($0 as? CacheError)?.code == .expiryNotSupported }
        #expect(!cache.contains("c"))
        #expect(cache.sweepExpired() == 0)
        #expect(!cache.sweeper.isRunning)
        #expect {
            _ = try Cache<String, Int>(configuration: .init(maxCount: 10, defaultTTL: .seconds(1), supportsExpiry: false))
        } throws: { ($0 as? CacheError)?.code == .expiryNotSupported }
        // 16 bytes a slot cheaper (the C core's deadline and wheel links).
        let withExpiry = try Cache<String, Int>(configuration: .init(maxCount: 1024, sweepInterval: nil))
        let withoutExpiry = try Cache<String, Int>(configuration: .init(maxCount: 1024, supportsExpiry: false))
        #expect(withExpiry.slotOverhead >= withoutExpiry.slotOverhead + 16)
    }
}

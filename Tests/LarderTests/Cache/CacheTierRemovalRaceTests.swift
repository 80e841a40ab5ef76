import Foundation
import Synchronization
import Testing
@testable import Larder

@Suite("Cache with a lower tier: removals overlapping fills and sets")
struct CacheTierRemovalRaceTests: LoggingPersistenceSuite {
    let logs = CapturedLogs()

    /// Runs `body` on a thread until the tier pauses at `call`, runs
    /// `meanwhile`, then lets the thread finish; returns what `body` returned.
    func overlapping<T: Sendable>(_ tier: FakeTier, at call: String, _ body: @escaping @Sendable () -> T,
                                  meanwhile: () -> Void) throws -> T {
        let point = tier.pause(at: call)
        let result = LockedList<T>()
        let thread = TestThread { result.append(body()) }
        point.paused.wait()
        meanwhile()
        point.resume.signal()
        try #require(thread.join(), "the overlapped call never returned")
        return result.snapshot[0]
    }

    func makeCache(_ tier: FakeTier, maxCount: Int = 2) throws -> Cache<String, Int> {
        try Cache<String, Int>(configuration: .init(maxCount: maxCount, sweepInterval: nil), tier: tier)
    }

    @Test("a read that loaded from the tier before a removeValue does not promote the removed value")
    func promotionOverlappingRemoveValue() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier)
        for (i, key) in ["a", "b", "c"].enumerated() { try cache.setValue(i, forKey: key) }  // "a" on disk only
        let read = try overlapping(tier, at: "load a", { cache.value(forKey: "a") }) {
            #expect(cache.removeValue(forKey: "a") == nil)
        }
        #expect(read == 0)  // the read is ordered before the removal
        #expect(!cache.contains("a"), "the removed value was promoted into memory")
        #expect(cache.value(forKey: "a") == nil)
    }

    @Test("a set overlapping removeAll leaves no memory copy that the tier lacks")
    func setOverlappingRemoveAll() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier)
        let stored = try overlapping(tier, at: "store a", { (try? cache.setValue(1, forKey: "a")) != nil }) {
            cache.removeAll()  // clears the tier after the set wrote it
        }
        #expect(stored)
        let onDisk = tier.entries.withLock { $0["a"] != nil }
        #expect(cache.contains("a") == onDisk, "memory \(cache.contains("a")), tier \(onDisk)")
        #expect(cache.value(forKey: "a") == nil)
    }

    @Test("a set overlapping a removeValue of its key leaves both tiers without it")
    func setOverlappingRemoveValue() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier)
        try cache.setValue(1, forKey: "a")
        _ = try overlapping(tier, at: "store a", { (try? cache.setValue(2, forKey: "a")) != nil }) {
            _ = cache.removeValue(forKey: "a")
        }
        #expect(!cache.contains("a"), "memory serves a value the tier no longer has")
        #expect(tier.entries.withLock { $0["a"] } == nil)
        #expect(cache.value(forKey: "a") == nil)
    }

    @Test("a set overlapping another key's removal drops its old memory copy; reads get the new value")
    func setOverlappingOtherRemoval() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier, maxCount: 4)
        try cache.setValue(1, forKey: "b")
        try cache.setValue(9, forKey: "x")
        _ = try overlapping(tier, at: "store b", { (try? cache.setValue(2, forKey: "b")) != nil }) {
            _ = cache.removeValue(forKey: "x")  // the same (only) shard
        }
        #expect(!cache.contains("b"), "the set overlapped a removal, yet kept a memory copy")
        #expect(cache.value(forKey: "b") == 2, "the old memory copy outlived the set")
        #expect(cache.contains("b"))  // promoted from the tier by that read
    }

    @Test("with a tier, a computation that lands after a set keeps the set in both tiers")
    func computedValueAfterSetLeavesTheTierAlone() async throws {
        let tier = FakeTier()
        let cache = try makeCache(tier, maxCount: 1)
        let gate = Gate()
        let leader = await startGatedComputation(of: 1, forKey: "k", in: cache, gate: gate)
        try await cache.setValue(2, forKey: "k")  // newer
        gate.open()
        #expect(try await leader.value == 1)
        #expect(cache.value(forKey: "k") == 2)
        #expect(tier.entries.withLock { $0["k"]?.value } == 2, "the tier holds the older computed value")
        try await cache.setValue(9, forKey: "z")  // evicts "k" from memory (maxCount 1)
        #expect(cache.value(forKey: "k") == 2, "a read after eviction serves the older computed value")
    }

    @Test("with a tier, a removal while a computed value is written to the tier leaves the key in neither")
    func removalDuringComputedTierWrite() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier, maxCount: 10)
        let computed = try overlapping(tier, at: "before store k", { (try? cache.value(forKey: "k") { 1 }) ?? -1 }) {
            _ = cache.removeValue(forKey: "k")  // the invalidation, after the computation started
        }
        #expect(computed == 1)
        #expect(tier.entries.withLock { $0["k"] } == nil, "the tier holds the invalidated computation")
        #expect(cache.value(forKey: "k") == nil, "the invalidated computation is served")
    }

    @Test("a set that a removal overlapped still wins over a read that loaded the older tier value")
    func supersededSetBeatsAnOverlappingPromotion() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier, maxCount: 10)
        try cache.setValue(1, forKey: "k")
        try cache.setValue(0, forKey: "x")
        _ = cache.removeFromMemory("k", hash: Cache<String, Int>.hash("k"))  // on disk only, as after an eviction
        let store = tier.pause(at: "before store k")
        let load = tier.pause(at: "load k")
        let set = TestThread { _ = try? cache.setValue(2, forKey: "k") }
        store.paused.wait()                 // the set took its snapshot, about to write the tier
        _ = cache.removeValue(forKey: "x")  // another key of the (only) shard
        let read = TestThread { _ = cache.value(forKey: "k") }
        load.paused.wait()                  // a read loaded the old value 1 from the tier
        store.resume.signal()
        try #require(set.join())            // the set returned: tier 2, no memory copy
        load.resume.signal()
        try #require(read.join())           // the read must not promote 1 now
        #expect(tier.entries.withLock { $0["k"]?.value } == 2)
        #expect(cache.value(forKey: "k") == 2, "memory serves the value the set replaced")
    }

    // MARK: With the LMDB tier (the cache's removal generation)

    /// After writers and removeAll calls have all returned, every entry memory serves
    /// must also be on disk, or a restart or an eviction silently loses it.
    @Test(arguments: [PersistenceConfiguration.Durability.writeBack(interval: .seconds(3600)), .synchronous])
    func removeAllRacingWritesLeavesTheTiersConsistent(durability: PersistenceConfiguration.Durability) throws {
        let dir = TemporaryDirectory()
        let cache: Cache<Int, String> = try makeCache(dir.path, maxCount: 1 << 20, durability: durability)
        let stop = Atomic<Bool>(false)
        let writers = 2
        let rounds = durability == .synchronous ? 50 : 1000
        runOnThreads(writers + 1) { t in
            guard t < writers else {  // the last thread removes
                for _ in 0..<rounds { cache.removeAll(); usleep(50) }  // pacing, not synchronization
                stop.store(true, ordering: .relaxed)
                return
            }
            var i = 0
            while !stop.load(ordering: .relaxed) {
                try? cache.setValue("v", forKey: t << 32 | i)
                i += 1
            }
        }
        let inMemory = cache.keysByRecency().flatMap { $0 }
        let tier = cache.tier as! PersistentTier<Int, String>
        let missing = inMemory.filter { tier.load(forKey: $0) == nil }
        #expect(missing.isEmpty, "\(missing.count) of \(inMemory.count) entries served from memory are not on disk")
        cache.close()
    }

    /// A tier that runs the real one, then (for one key) parks the setting thread between
    /// the disk write and the memory insert: what a preemption at that point does.
    final class PausingTier: CacheBackingTier, Sendable {
        let real: PersistentTier<String, String>
        let stored = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        init(_ real: PersistentTier<String, String>) { self.real = real }
        func store(_ value: String, forKey key: String, deadline: UInt64?) throws(CacheError) {
            try real.store(value, forKey: key, deadline: deadline)
            if key == "racing" { stored.signal(); go.wait() }
        }
        func load(forKey key: String) -> (value: String, deadline: UInt64?)? { real.load(forKey: key) }
        func remove(forKey key: String) { real.remove(forKey: key) }
        func removeAll() { real.removeAll() }
        var accessRecording: (clock: AccessStampClock, batchSize: Int)? { real.accessRecording }
        func setAccessSource(_ source: @escaping @Sendable () -> [(key: String, stamp: UInt64)]) {
            real.setAccessSource(source)
        }
        func requestAccessDrain() { real.requestAccessDrain() }
    }

    /// A set whose disk write lands before a removeAll and whose memory insert lands
    /// after it: memory must not serve a value the disk lost.
    @Test func aSetOverlappingRemoveAllIsOnDiskIfMemoryServesIt() throws {
        let dir = TemporaryDirectory()
        let real = try PersistentTier<String, String>(persistence: .lmdb(directory: dir.path, maxBytes: 1 << 20),
                                                      clock: ManualCacheClock(), logger: logs.logger)
        let tier = PausingTier(real)
        let cache = try Cache<String, String>(configuration: .init(maxCount: 10, sweepInterval: nil), tier: tier)
        let set = TestThread { _ = try? cache.setValue("v", forKey: "racing") }
        tier.stored.wait()
        cache.removeAll()
        tier.go.signal()
        try #require(set.join())
        let fromMemory = cache.value(forKey: "racing")
        let fromDisk = real.load(forKey: "racing")?.value
        #expect(fromMemory == fromDisk, "memory serves \(fromMemory ?? "nil"), disk has \(fromDisk ?? "nil")")
        real.close()
    }
}

import Foundation
import Synchronization
import Testing
@testable import Larder

/// An in-memory lower tier that records every call.
final class FakeTier: CacheBackingTier, Sendable {
    typealias Key = String
    typealias Value = Int
    let entries = TestLock<[String: (value: Int, deadline: UInt64?)]>([:])
    let calls = LockedList<String>()
    let failStores = Atomic<Bool>(false)
    /// Where a call stops once: it signals `paused` and waits for `resume`, so a
    /// test runs other calls in between.
    final class PausePoint: Sendable {
        let paused = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
    }
    private let pauseLock = NSLock()
    nonisolated(unsafe) private var pausePoints: [String: PausePoint] = [:]

    /// Stops the next call `call`: "before store k" (nothing written yet), "store k"
    /// (written) or "load k" (read).
    func pause(at call: String) -> PausePoint {
        let point = PausePoint()
        pauseLock.withLock { pausePoints[call] = point }
        return point
    }

    private func pauseIfAsked(_ call: String) {
        guard let point = pauseLock.withLock({ pausePoints.removeValue(forKey: call) }) else { return }
        point.paused.signal()
        point.resume.wait()
    }

    func store(_ value: Int, forKey key: String, deadline: UInt64?) throws(CacheError) {
        pauseIfAsked("before store \(key)")
        calls.append("store \(key)")
        if failStores.load(ordering: .relaxed) {
            throw CacheError(code: .storeUnavailable, message: "fake store refuses writes")
        }
        entries.withLock { $0[key] = (value, deadline) }
        pauseIfAsked("store \(key)")
    }
    func load(forKey key: String) -> (value: Int, deadline: UInt64?)? {
        calls.append("load \(key)")
        let found = entries.withLock { $0[key] }
        pauseIfAsked("load \(key)")
        return found
    }
    func remove(forKey key: String) {
        calls.append("remove \(key)")
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
    func removeAll() {
        calls.append("removeAll")
        entries.withLock { $0.removeAll() }
    }
    func recordAccess(forKey key: String) {
        calls.append("access \(key)")
    }
}

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
        #expect(tier.calls.take() == ["access a"])

        try cache.setValue(2, forKey: "b")
        try cache.setValue(3, forKey: "c")  // evicts "a" from memory only
        #expect(!cache.contains("a"))
        #expect(tier.calls.take() == ["store b", "store c"])
        #expect(cache.value(forKey: "a") == 1)  // from the tier, promoted
        #expect(tier.calls.take() == ["load a"])
        #expect(cache.contains("a"))
        #expect(cache.value(forKey: "a") == 1)
        #expect(tier.calls.take() == ["access a"])
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

@Suite("Cache with a lower tier: removals overlapping fills and sets")
struct CacheTierRemovalRaceTests {
    /// Runs `body` on a thread until the tier pauses at `call`, runs
    /// `meanwhile`, then lets the thread finish; returns what `body` returned.
    func overlapping<T: Sendable>(_ tier: FakeTier, at call: String, _ body: @escaping @Sendable () -> T,
                                  meanwhile: () -> Void) -> T {
        let point = tier.pause(at: call)
        let result = LockedList<T>()
        let done = DispatchSemaphore(value: 0)
        Thread {
            result.append(body())
            done.signal()
        }.start()
        point.paused.wait()
        meanwhile()
        point.resume.signal()
        done.wait()
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
        let read = overlapping(tier, at: "load a", { cache.value(forKey: "a") }) {
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
        let stored = overlapping(tier, at: "store a", { (try? cache.setValue(1, forKey: "a")) != nil }) {
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
        _ = overlapping(tier, at: "store a", { (try? cache.setValue(2, forKey: "a")) != nil }) {
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
        _ = overlapping(tier, at: "store b", { (try? cache.setValue(2, forKey: "b")) != nil }) {
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
        try cache.setValue(2, forKey: "k")  // newer
        gate.open()
        #expect(try await leader.value == 1)
        #expect(cache.value(forKey: "k") == 2)
        #expect(tier.entries.withLock { $0["k"]?.value } == 2, "the tier holds the older computed value")
        try cache.setValue(9, forKey: "z")  // evicts "k" from memory (maxCount 1)
        #expect(cache.value(forKey: "k") == 2, "a read after eviction serves the older computed value")
    }

    @Test("with a tier, a removal while a computed value is written to the tier leaves the key in neither")
    func removalDuringComputedTierWrite() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier, maxCount: 10)
        let computed = overlapping(tier, at: "before store k", { (try? cache.value(forKey: "k") { 1 }) ?? -1 }) {
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
        let setDone = DispatchSemaphore(value: 0), readDone = DispatchSemaphore(value: 0)
        Thread { _ = try? cache.setValue(2, forKey: "k"); setDone.signal() }.start()
        store.paused.wait()                 // the set took its snapshot, about to write the tier
        _ = cache.removeValue(forKey: "x")  // another key of the (only) shard
        Thread { _ = cache.value(forKey: "k"); readDone.signal() }.start()
        load.paused.wait()                  // a read loaded the old value 1 from the tier
        store.resume.signal()
        setDone.wait()                      // the set returned: tier 2, no memory copy
        load.resume.signal()
        readDone.wait()                     // the read must not promote 1 now
        #expect(tier.entries.withLock { $0["k"]?.value } == 2)
        #expect(cache.value(forKey: "k") == 2, "memory serves the value the set replaced")
    }
}

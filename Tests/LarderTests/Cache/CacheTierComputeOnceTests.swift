import Foundation
import Synchronization
import Testing
@testable import Larder

@Suite("Cache with a lower tier: one computation per key while readers find it on disk")
struct CacheTierComputeOnceTests {
    func makeCache(_ tier: FakeTier) throws -> Cache<String, Int> {
        try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil), tier: tier)
    }

    @Test("a read between a computed value's tier write and its memory insert keeps the key in both tiers")
    func readBetweenTierWriteAndMemoryInsert() throws {
        let tier = FakeTier()
        let cache = try makeCache(tier)
        let computations = Atomic<Int>(0)
        let point = tier.pause(at: "store k")  // after the tier's write, before memory's
        let leader = TestThread {
            _ = try? cache.value(forKey: "k") { computations.add(1, ordering: .relaxed); return 1 }
        }
        point.paused.wait()
        #expect(cache.value(forKey: "k") == 1, "the read finds the computed value on disk")
        point.resume.signal()
        try #require(leader.join())
        #expect(cache.contains("k"), "the computed value was dropped from memory")
        #expect(tier.entries.withLock { $0["k"]?.value } == 1, "the computed value was dropped from the tier")
        #expect(try cache.value(forKey: "k") { computations.add(1, ordering: .relaxed); return 2 } == 1)
        #expect(computations.load(ordering: .relaxed) == 1, "the key was computed again")
    }

    @Test("the same read from async code, with an async computation")
    func asyncReadBetweenTierWriteAndMemoryInsert() async throws {
        let tier = FakeTier()
        let cache = try makeCache(tier)
        let computations = Atomic<Int>(0)
        let point = tier.pause(at: "store k")
        // On an executor of its own: the shared cooperative pool may be busy with other tests.
        let executor = SingleThreadExecutor()
        defer { executor.stop() }
        let leader = Task(executorPreference: executor) {
            try await cache.value(forKey: "k") { () async -> Int in computations.add(1, ordering: .relaxed); return 1 }
        }
        try #require(await waitOffThePool(point.paused), "the computation never reached the tier")
        #expect(cache.value(forKey: "k") == 1)
        point.resume.signal()
        #expect(try await leader.value == 1)
        #expect(cache.contains("k"))
        #expect(tier.entries.withLock { $0["k"]?.value } == 1)
        #expect(try await cache.value(forKey: "k") { () async -> Int in computations.add(1, ordering: .relaxed); return 2 } == 1)
        #expect(computations.load(ordering: .relaxed) == 1)
    }
}

import Foundation
import Synchronization
import Testing
@testable import Larder

/// Async callers over a durable tier: they suspend while their write syncs, and a
/// get-or-compute computes each key once even while readers find it on disk.
@Suite("Persistence: async writes and get-or-compute over a tier")
struct PersistenceAsyncWriteTests: LoggingPersistenceSuite {
    let logs = CapturedLogs()

    enum AsyncWrite: String, CaseIterable, CustomTestStringConvertible {
        case getOrCompute, setValue
        var testDescription: String { rawValue }
    }

    static let modes: [PersistenceConfiguration.Durability] = [.synchronous, .groupCommit]

    @Test("an async write on a syncing tier suspends: another task runs on the only thread meanwhile",
          arguments: modes, AsyncWrite.allCases)
    func asyncWriteSuspendsWhileItsCommitWaits(durability: PersistenceConfiguration.Durability,
                                               write: AsyncWrite) async throws {
        let dir = TemporaryDirectory()
        let cache: Cache<String, Int> = try makeCache(dir.path, maxCount: 100, durability: durability)
        let writer = try #require(cache.tier as? PersistentTier<String, Int>).writer
        // The committer, holding the write before its commit, starts another task on
        // the executor's only thread and waits for it to run; a write that blocked that
        // thread would keep it from running, and the hook would give up after the wait
        // limit. Everything the check needs runs on the committer and on the executor,
        // not on the shared cooperative pool (which other tests may keep busy).
        let executor = SingleThreadExecutor()
        defer { executor.stop() }
        let reached = DispatchSemaphore(value: 0)
        let otherTaskRan = DispatchSemaphore(value: 0)
        let heldUntilOtherTaskRan = Atomic<Bool>(false)
        // Only the round that carries the write: rounds of maintenance (access order)
        // may run before it.
        let held = Atomic<Bool>(false)
        writer.cond.withLock {
            writer.beforeCommit = { writes in
                guard writes > 0, !held.exchange(true, ordering: .relaxed) else { return }
                reached.signal()
                Task(executorPreference: executor) { _ = otherTaskRan.signal() }
                let ran = otherTaskRan.wait(timeout: .now() + .seconds(Int(waitLimit.components.seconds))) == .success
                heldUntilOtherTaskRan.store(ran, ordering: .relaxed)
            }
        }
        let writing = Task(executorPreference: executor) { () async throws -> Int in
            switch write {
            case .getOrCompute:
                return try await cache.value(forKey: "k") { () async -> Int in 42 }
            case .setValue:
                try await cache.setValue(42, forKey: "k")
                return 42
            }
        }
        try #require(await waitOffThePool(reached), "the write never reached the committer")
        #expect(try await writing.value == 42)
        let otherRanDuringTheCommit = heldUntilOtherTaskRan.load(ordering: .relaxed)
        #expect(otherRanDuringTheCommit, "the write blocked the only thread")
        writer.cond.withLock { writer.beforeCommit = nil }
        // The write is durable on return: a fresh open finds it.
        cache.close()
        let reopened: Cache<String, Int> = try makeCache(dir.path, maxCount: 100, durability: durability)
        #expect(reopened.value(forKey: "k") == 42)
    }

    @Test("an async write's commit error reaches the caller and memory stays unchanged", arguments: modes)
    func asyncWriteErrorReachesTheCaller(durability: PersistenceConfiguration.Durability) async throws {
        let dir = TemporaryDirectory()
        let cache: Cache<String, Int> = try makeCache(dir.path, maxCount: 100, durability: durability)
        try await cache.setValue(1, forKey: "k")
        cache.close()
        await #expect(throws: CacheError.self) { try await cache.setValue(2, forKey: "k") }
        #expect(cache.value(forKey: "k") == 1)
    }

    @Test("write-back: async writes held by back-pressure resume when the flusher takes their batch")
    func writeBackBackPressureSuspendsUntilARoundStarts() async throws {
        let dir = TemporaryDirectory()
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger,
                                  wallClock: TestWallClock().read)
        // No scheduled round for an hour: only back-pressure starts one.
        let writer = DiskWriter(store: store, durability: .writeBack(interval: .seconds(3600)), logger: logs.logger,
                                maxPending: 4)
        // The writes run on an executor of their own and are waited for on a thread of
        // its own: the shared cooperative pool may be busy with other tests for a while.
        // A writer never resumed would hang the run: give up after the wait limit instead.
        let executor = SingleThreadExecutor()
        defer { executor.stop() }
        let written = DispatchSemaphore(value: 0)
        Task(executorPreference: executor) {
            for i in 0..<10 { try await writer.submitAsync(stringPut(store, "k\(i)", "v\(i)")) }
            written.signal()
        }
        try #require(await waitOffThePool(written), "an async write held by back-pressure was never resumed")
        let rounds = writer.cond.withLock { writer.startedRounds }
        #expect(rounds >= 2, "10 writes over a queue of 4 start at least two rounds")
        try writer.flush()
        for i in 0..<10 { #expect(storedString(store, "k\(i)") == "v\(i)") }
        writer.close()
    }

    @Test("concurrent get-or-compute callers and readers over a tier: one computation per key, none dropped",
          arguments: [PersistenceConfiguration.Durability.synchronous, .groupCommit, .writeBack(interval: .milliseconds(5))])
    func oneComputationPerKeyWithReadersOnDisk(durability: PersistenceConfiguration.Durability) async throws {
        let dir = TemporaryDirectory()
        let keys = 1_000
        let cache: Cache<Int, Int> = try makeCache(dir.path, maxCount: 4 * keys, durability: durability)
        let computations = TestLock([Int](repeating: 0, count: keys))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<4 {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(caller))
                    for key in (0..<keys).shuffled(using: &rng) {
                        let value = try await cache.value(forKey: key) {
                            computations.withLock { $0[key] += 1 }
                            await Task.yield()  // lets readers in between the computation and its store
                            return key * 10
                        }
                        #expect(value == key * 10)
                    }
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    // Plain reads race the callers' disk writes and memory inserts.
                    for round in 0..<3 {
                        for key in stride(from: (reader + round) % 2, to: keys, by: 2) {
                            if let value = cache.value(forKey: key) { #expect(value == key * 10) }
                            await Task.yield()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let computed = computations.withLock { $0 }
        #expect(computed.reduce(0, +) == keys, "a key was computed more than once")
        #expect(computed.allSatisfy { $0 == 1 })
        // Nothing dropped: every key is in memory and on disk.
        #expect(cache.count == keys)
        try cache.flushPersistence()
        #expect(try #require(cache.persistenceStatistics).entries == keys)
    }
}

/// Waits for `semaphore` on a thread of its own, not on one of the cooperative pool's;
/// false when it was not signalled within `waitLimit` (a guard against hanging).
@discardableResult
func waitOffThePool(_ semaphore: DispatchSemaphore) async -> Bool {
    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        Thread.detachNewThread {
            let limit = DispatchTime.now() + .seconds(Int(waitLimit.components.seconds))
            continuation.resume(returning: semaphore.wait(timeout: limit) == .success)
        }
    }
}

import Foundation
import Synchronization
import Testing
@testable import Larder

struct ComputeFailed: Error, Equatable {}

@Suite("Cache get-or-compute")
struct CacheComputeTests {
    @Test("16 concurrent sync callers for one key run the computation once")
    func sixteenCallersComputeOnce() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let computations = Counter()
        let results = LockedList<Int>()
        runOnThreads(16) { _ in
            let value = try? cache.value(forKey: "k") {
                computations.add()
                // The gate: hold the computation until the 15 others wait on it.
                waitAtGate("the other callers never waited") { cache.waitingCallers(forKey: "k") == 15 }
                return 42
            }
            results.append(value ?? -1)
        }
        #expect(computations.count == 1)
        #expect(results.snapshot == Array(repeating: 42, count: 16))
        #expect(cache.value(forKey: "k") == 42)
        // A later call is a plain hit.
        #expect(try cache.value(forKey: "k") { Issue.record("recomputed"); return 0 } == 42)
    }

    @Test("16 concurrent async callers for one key run the computation once")
    func sixteenAsyncCallersComputeOnce() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let computations = Counter()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    try await cache.value(forKey: "k", orCompute: { @Sendable () async throws -> Int in
                        computations.add()
                        while cache.waitingCallers(forKey: "k") < 15 { await Task.yield() }
                        return 7
                    })
                }
            }
            var values: [Int] = []
            for try await value in group { values.append(value) }
            return values
        }
        #expect(computations.count == 1)
        #expect(values == Array(repeating: 7, count: 16))
    }

    @Test("a cancelled async waiter stops waiting; the computation goes on and is cached")
    func cancelledAsyncWaiterLeaves() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let gate = Gate()
        let leader = await startGatedComputation(of: 5, forKey: "k", in: cache, gate: gate)
        let waiter = Task {
            try await cache.value(forKey: "k", orCompute: { @Sendable () async throws -> Int in
                Issue.record("the waiter ran the computation")
                return -1
            })
        }
        #expect(await eventually { cache.waitingCallers(forKey: "k") == 1 })
        waiter.cancel()
        // It leaves while the computation is still held at the gate.
        #expect(await eventually { cache.waitingCallers(forKey: "k") == 0 }, "the cancelled waiter still waits")
        #expect(cache.hasFlight(forKey: "k"))
        gate.open()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(try await leader.value == 5)
        #expect(cache.value(forKey: "k") == 5)
    }

    @Test("an already cancelled task asking for an in-flight key does not wait")
    func alreadyCancelledWaiterDoesNotWait() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let gate = Gate()
        let leader = await startGatedComputation(of: 5, forKey: "k", in: cache, gate: gate)
        let finished = Counter()
        let waiter = Task {
            defer { finished.add() }
            // Cancelled before it asks (withUnsafeCurrentTask: cancel itself first).
            withUnsafeCurrentTask { $0?.cancel() }
            return try await cache.value(forKey: "k", orCompute: { @Sendable () async throws -> Int in -1 })
        }
        // It returns while the computation is still held at the gate (bounded, so a
        // waiter that does wait fails here instead of hanging the run).
        #expect(await eventually { finished.count == 1 }, "the cancelled task waited")
        gate.open()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(try await leader.value == 5)
    }

    @Test("an error reaches every waiter and caches nothing")
    func errorReachesAllWaiters() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let computations = Counter()
        let failures = Counter()
        runOnThreads(16) { _ in
            do {
                _ = try cache.value(forKey: "k") { () throws -> Int in
                    computations.add()
                    waitAtGate("the other callers never waited") { cache.waitingCallers(forKey: "k") == 15 }
                    throw ComputeFailed()
                }
            } catch is ComputeFailed {
                failures.add()
            } catch {}
        }
        #expect(computations.count == 1)
        #expect(failures.count == 16)
        #expect(!cache.contains("k"))
        #expect(cache.count == 0)
        // Nothing was remembered: the next call computes again.
        #expect(try cache.value(forKey: "k") { 5 } == 5)
        #expect(cache.value(forKey: "k") == 5)
    }

    @Test("memoized recursion over other keys does not deadlock", arguments: [1, 4])
    func memoizedFibonacci(shardCount: Int) throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 256, shardCount: shardCount, sweepInterval: nil))
        func fibonacci(_ n: Int) throws -> Int {
            try cache.value(forKey: n) { n < 2 ? n : try fibonacci(n - 1) + fibonacci(n - 2) }
        }
        #expect(try fibonacci(90) == 2_880_067_194_370_816_120)
        #expect(cache.count == 91)
    }

    @Test("a computed value is stored with the given TTL and counted as a miss then hits")
    func computeStoresWithTTL() async throws {
        let clock = ManualCacheClock()
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, defaultTTL: .seconds(100),
                                                                sweepInterval: nil), clock: clock)
        #expect(try cache.value(forKey: "a", ttl: .seconds(5)) { 1 } == 1)
        #expect(try await cache.value(forKey: "b") { @Sendable () async throws -> Int in 2 } == 2)
        #expect(try cache.value(forKey: "c", ttl: nil) { 3 } == 3)
        #expect(try cache.value(forKey: "a") { 9 } == 1)
        clock.advance(by: .seconds(5))
        #expect(cache.value(forKey: "a") == nil)
        #expect(cache.value(forKey: "b") == 2)
        clock.advance(by: .seconds(95))
        #expect(cache.value(forKey: "b") == nil)
        #expect(cache.value(forKey: "c") == 3)
        let statistics = cache.statistics
        #expect(statistics.hits == 3 && statistics.misses == 5)
    }
}

@Suite("Cache get-or-compute: sets, removals and odd keys meanwhile")
struct CacheComputeRaceTests {
    @Test("a computation that lands late does not overwrite a value set meanwhile")
    func lateComputationKeepsNewerSet() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let gate = Gate()
        let leader = await startGatedComputation(of: 1, forKey: "k", in: cache, gate: gate)
        try await cache.setValue(2, forKey: "k")  // fresher data, stored explicitly
        gate.open()
        #expect(try await leader.value == 1)  // the caller still gets what it computed
        #expect(cache.value(forKey: "k") == 2, "the older computed value replaced the newer set")
    }

    @Test("a computation that lands after removeValue does not bring the key back")
    func lateComputationAfterRemove() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let gate = Gate()
        let leader = await startGatedComputation(of: 1, forKey: "k", in: cache, gate: gate)
        #expect(cache.removeValue(forKey: "k") == nil)  // an invalidation while computing
        gate.open()
        #expect(try await leader.value == 1)
        #expect(cache.value(forKey: "k") == nil, "the invalidated computation was cached")
        // The next computation, started after the removal, is cached.
        #expect(try await cache.value(forKey: "k", orCompute: { @Sendable () async throws -> Int in 3 }) == 3)
        #expect(cache.value(forKey: "k") == 3)
    }

    @Test("a computation that lands after removeAll is not cached")
    func lateComputationAfterRemoveAll() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let gate = Gate()
        let leader = await startGatedComputation(of: 1, forKey: "k", in: cache, gate: gate)
        cache.removeAll()
        gate.open()
        #expect(try await leader.value == 1)
        #expect(!cache.contains("k"))
    }

    @Test("when the computing task is cancelled and fails, a waiter computes instead of failing")
    func cancelledLeaderHandsOver() async throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let gate = Gate()
        let leader = Task {
            try await cache.value(forKey: "k", orCompute: { @Sendable () async throws -> Int in
                await gate.wait()
                try Task.checkCancellation()
                return 1
            })
        }
        #expect(await eventually { cache.hasFlight(forKey: "k") })
        let waiter = Task {
            try await cache.value(forKey: "k", orCompute: { @Sendable () async throws -> Int in 2 })
        }
        #expect(await eventually { cache.waitingCallers(forKey: "k") == 1 })
        leader.cancel()
        gate.open()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(try await waiter.value == 2, "the waiter got the cancelled leader's failure")
        #expect(cache.value(forKey: "k") == 2)
    }

    @Test("asking for the key being computed, from inside its computation, throws instead of waiting forever")
    func sameKeyInsideItsComputationThrows() throws {
        let cache = try Cache<String, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let outcome = TestLock<Result<Int, any Error>?>(nil)
        let thread = TestThread {
            let result = Result { try cache.value(forKey: "k") { try cache.value(forKey: "k") { 1 } + 1 } }
            outcome.withLock { $0 = result }
        }
        // A deadlock never returns; the bound only keeps a failing run from hanging.
        try #require(thread.join(within: .seconds(60)), "the inner call waits for itself")
        let error = try #require(outcome.withLock { $0 }.flatMap { r -> (any Error)? in
            if case .failure(let e) = r { return e } else { return nil }
        })
        #expect((error as? CacheError)?.code == .recursiveComputation)
        #expect(!cache.contains("k") && !cache.hasFlight(forKey: "k"))
        #expect(try cache.value(forKey: "k") { 5 } == 5)  // the key works as before
    }

    @Test("get-or-compute for a key that is not equal to itself (NaN) leaves no flight behind")
    func nanKeyLeavesNoFlight() throws {
        let cache = try Cache<Double, Int>(configuration: .init(maxCount: 100, sweepInterval: nil))
        for round in 0..<5 {
            #expect(try cache.value(forKey: .nan) { round } == round)  // a NaN key never hits
        }
        let flights = cache.shards.reduce(0) { total, shard in total + shard.flights.withLock { $0.count } }
        #expect(flights == 0, "flights left in the table after every computation finished")
    }

    @Test("a computation that fills another key on the way is not charged for that key's value")
    func nestedComputationWeight() throws {
        let cache = try Cache<Int, String>(configuration: .init(maxCount: 10, maxBytes: 300_000, sweepInterval: nil))
        let outer = try cache.value(forKey: 1) {
            let inner = try cache.value(forKey: 2) { String(repeating: "x", count: 200_000) }
            return String(inner.prefix(3))  // a small (inline) string: no heap
        }
        #expect(outer == "xxx")
        #expect(cache.contains(1) && cache.contains(2), "the inner result was evicted to make room for the outer one")
        #expect(cache.totalBytes < 250_000, "totalBytes \(cache.totalBytes) counts the inner string twice")
    }
}

import Synchronization
import Testing

@testable import Larder

private struct Flaky: Error, Equatable {
    let attempt: Int
}

@Suite("Memoized")
struct MemoizedTests {
    @Test("the function runs once for repeated calls with equal arguments")
    func runsOnce() throws {
        let computations = Atomic<Int>(0)
        let score = try Memoized(maxCount: 1_000) { (a: Int, b: String, c: [Double]) in
            computations.add(1, ordering: .relaxed)
            return Double(a) + Double(b.count) + c.reduce(0, +)
        }
        #expect(score(1, "x", [2.0]) == 4)
        #expect(score(1, "x", [2.0]) == 4)
        #expect(score(1, "x", [2.0]) == 4)
        #expect(computations.load(ordering: .relaxed) == 1)
        #expect(score(1, "x", [2.5]) == 4.5)
        #expect(computations.load(ordering: .relaxed) == 2)
        // Statistics come from the underlying cache.
        #expect(score.statistics.hits == 2)
        #expect(score.statistics.misses == 2)
        #expect(score.cache.count == 2)
    }

    @Test("functions of no and of many arguments")
    func arities() throws {
        let computations = Atomic<Int>(0)
        let constant = try Memoized(maxCount: 1) { () in
            computations.add(1, ordering: .relaxed)
            return 42
        }
        #expect(constant() == 42)
        #expect(constant() == 42)
        let six = try Memoized(maxCount: 10) { (a: Int, b: Int8, c: String, d: Bool, e: [Int], f: Set<String>) in
            computations.add(1, ordering: .relaxed)
            return "\(a)\(b)\(c)\(d)\(e.count)\(f.count)"
        }
        #expect(six(1, 2, "c", true, [1], ["x"]) == "12ctrue11")
        #expect(six(1, 2, "c", true, [1], ["x"]) == "12ctrue11")
        #expect(computations.load(ordering: .relaxed) == 2)
    }

    @Test("named arguments in different orders hit the same entry")
    func namedArgumentOrder() throws {
        let computations = Atomic<Int>(0)
        let search = try Memoized(maxCount: 100) { (call: CallKey) -> String in
            computations.add(1, ordering: .relaxed)
            return call.description
        }
        let first = search(CallKey("shoes", named: ["limit": 10, "sort": "price", "desc": true]))
        let second = search(
            try CallKey(positional: ["shoes"], namedPairs: [("desc", true), ("sort", "price"), ("limit", 10)]))
        let third = search(
            try CallKey(positional: ["shoes"], namedPairs: [("sort", "price"), ("limit", 10), ("desc", true)]))
        #expect(first == second && second == third)
        #expect(computations.load(ordering: .relaxed) == 1)
        _ = search(CallKey("shoes", named: ["limit": 10, "sort": "price"]))
        _ = search(CallKey("shoes", named: ["limit": 10, "sort": "price", "desc": false]))
        #expect(computations.load(ordering: .relaxed) == 3)
    }

    @Test("nested collections are keyed by content")
    func nestedCollections() throws {
        let computations = Atomic<Int>(0)
        let f = try Memoized(maxCount: 100) { (filters: [String: Set<Int>], path: [[Int]]) in
            computations.add(1, ordering: .relaxed)
            return filters.values.reduce(0) { $0 + $1.count } + path.count
        }
        var a: [String: Set<Int>] = [:]
        var b: [String: Set<Int>] = [:]
        for i in 0..<20 { a["k\(i)"] = Set(0...i) }
        for i in (0..<20).reversed() { b["k\(i)"] = Set((0...i).reversed()) }
        #expect(f(a, [[1, 2], [3]]) == f(b, [[1, 2], [3]]))
        #expect(computations.load(ordering: .relaxed) == 1)
        _ = f(a, [[1], [2, 3]])  // same elements, different nesting
        #expect(computations.load(ordering: .relaxed) == 2)

        // The same through CallKey, for dynamic argument lists.
        let g = try Memoized(maxCount: 100) { (call: CallKey) in
            computations.add(1, ordering: .relaxed)
            return call.positional.count
        }
        _ = g(CallKey(a, [[1, 2], [3]] as [[Int]], named: ["opts": ["x": [1, 2]] as [String: [Int]]]))
        _ = g(CallKey(b, [[1, 2], [3]] as [[Int]], named: ["opts": ["x": [1, 2]] as [String: [Int]]]))
        #expect(computations.load(ordering: .relaxed) == 3)
    }

    @Test("arguments that stringify alike are distinct entries")
    func stringifyCollisions() throws {
        let computations = Atomic<Int>(0)
        let join = try Memoized(maxCount: 100) { (a: String, b: String) in
            computations.add(1, ordering: .relaxed)
            return "\(a)|\(b)"
        }
        #expect(join("1", "23") == "1|23")
        #expect(join("12", "3") == "12|3")
        #expect(computations.load(ordering: .relaxed) == 2)

        let describe = try Memoized(maxCount: 100) { (call: CallKey) in
            computations.add(1, ordering: .relaxed)
            return call.description
        }
        let calls = [CallKey("1", "23"), CallKey("12", "3"), CallKey([1, 2]), CallKey("[1, 2]"),
                     CallKey(1), CallKey(1.0), CallKey(true)]
        let results = calls.map { describe($0) }
        #expect(results == [#"("1", "23")"#, #"("12", "3")"#, "([1, 2])", #"("[1, 2]")"#, "(1)", "(1.0)", "(true)"])
        #expect(describe.cache.count == calls.count)
        #expect(computations.load(ordering: .relaxed) == 2 + calls.count)
    }

    @Test("recursive Fibonacci of 90 computes each of 0...90 once")
    func recursiveFibonacci() throws {
        let computations = Atomic<Int>(0)
        let fibonacci = try Memoized<Int, Int, Never>.recursive(configuration: .init(maxCount: 1_000)) {
            fibonacci, n in
            // Unmemoized, fib(90) would run for ages: give up early so the test fails instead.
            guard computations.add(1, ordering: .relaxed).newValue <= 1_000 else { return 0 }
            return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2)
        }
        #expect(fibonacci(90) == 2_880_067_194_370_816_120)
        #expect(computations.load(ordering: .relaxed) == 91)
        #expect(fibonacci(90) == 2_880_067_194_370_816_120)
        #expect(computations.load(ordering: .relaxed) == 91)
    }

    @Test("a thrown error is not cached, and keeps its type")
    func errorsAreNotCached() throws {
        let attempts = Atomic<Int>(0)
        let load = try Memoized(maxCount: 10) { (n: Int) throws(Flaky) -> Int in
            let attempt = attempts.add(1, ordering: .relaxed).newValue
            if attempt == 1 { throw Flaky(attempt: attempt) }
            return n * 10
        }
        do {
            _ = try load(4)
            Issue.record("the first call should throw")
        } catch {
            let typed: Flaky = error  // typed throws: no cast needed
            #expect(typed == Flaky(attempt: 1))
        }
        #expect(load.cachedResult(4) == nil)
        #expect(try load(4) == 40)
        #expect(try load(4) == 40)
        #expect(attempts.load(ordering: .relaxed) == 2)
    }

    @Test("16 concurrent first calls for one argument run the function once")
    func concurrentFirstCalls() throws {
        let callers = 16
        let computations = Atomic<Int>(0)
        let slow = try Memoized<Int, Int, Never>.recursive(configuration: .init(maxCount: 10)) { slow, n in
            computations.add(1, ordering: .relaxed)
            // Gate: hold the computation until every caller has asked the cache (each call
            // counts a request on entry), so all of them overlap it. Without one computation
            // per key every caller would be in here, which opens the gate too (and fails).
            waitAtGate("the other callers never asked") {
                slow.statistics.totalRequests >= callers || computations.load(ordering: .relaxed) >= callers
            }
            return n * 2
        }
        let results = LockedList<Int>()  // NSLock: ThreadSanitizer does not see Mutex's futex
        runOnThreads(callers) { _ in
            results.append(slow(21))
        }
        #expect(computations.load(ordering: .relaxed) == 1)
        #expect(results.snapshot == Array(repeating: 42, count: callers))
    }

    @Test("concurrent callers share a thrown error, and it is not cached")
    func concurrentErrors() throws {
        let callers = 16
        let attempts = Atomic<Int>(0)
        let flaky = try Memoized<Int, Int, Flaky>.recursive(configuration: .init(maxCount: 10)) {
            (flaky, n) throws(Flaky) -> Int in
            let attempt = attempts.add(1, ordering: .relaxed).newValue
            waitAtGate("the other callers never asked") {
                flaky.statistics.totalRequests >= callers || attempts.load(ordering: .relaxed) >= callers
            }
            if attempt == 1 { throw Flaky(attempt: 1) }
            return n
        }
        let failures = Atomic<Int>(0)
        let successes = Atomic<Int>(0)
        runOnThreads(callers) { _ in
            do {
                #expect(try flaky(7) == 7)
                successes.add(1, ordering: .relaxed)
            } catch {
                #expect((error as Error as? Flaky) == Flaky(attempt: 1))
                failures.add(1, ordering: .relaxed)
            }
        }
        // Callers that joined the first computation all get its error. A caller that had
        // asked the cache but not yet joined when that computation failed finds nothing
        // cached and starts the second, which succeeds and is cached: so there are at
        // most two computations, and the error was seen by the first one's callers only.
        let attemptCount = attempts.load(ordering: .relaxed)
        #expect(failures.load(ordering: .relaxed) + successes.load(ordering: .relaxed) == callers)
        #expect(failures.load(ordering: .relaxed) >= 1)
        #expect(attemptCount == (successes.load(ordering: .relaxed) == 0 ? 1 : 2))
        #expect(try flaky(7) == 7)
        #expect(attempts.load(ordering: .relaxed) == 2)
    }

    @Test("per-call TTL expires an entry; the default TTL applies otherwise")
    func perCallTTL() throws {
        let clock = ManualCacheClock()
        let computations = Atomic<Int>(0)
        let f = try Memoized(
            configuration: .init(maxCount: 10, defaultTTL: .seconds(60), sweepInterval: nil), clock: clock
        ) { (n: Int) in
            computations.add(1, ordering: .relaxed)
            return n
        }
        #expect(try f(1, ttl: .seconds(5)) == 1)
        #expect(f(2) == 2)  // default: 60 s
        clock.advance(by: .seconds(4))
        _ = f(1)
        _ = f(2)
        #expect(computations.load(ordering: .relaxed) == 2)
        clock.advance(by: .seconds(2))  // 6 s: the 5 s entry expired, the 60 s one lives
        _ = f(1)
        _ = f(2)
        #expect(computations.load(ordering: .relaxed) == 3)
        #expect(try f(3, ttl: nil) == 3)  // never expires
        clock.advance(by: .seconds(3_600))
        _ = f(3)
        #expect(computations.load(ordering: .relaxed) == 4)
    }

    @Test("an invalid per-call TTL is a thrown CacheError and computes nothing")
    func invalidTTL() throws {
        let computations = Atomic<Int>(0)
        let f = try Memoized(maxCount: 10) { (n: Int) in
            computations.add(1, ordering: .relaxed)
            return n
        }
        #expect {
            try f(1, ttl: .zero)
        } throws: { error in
            (error as? CacheError)?.code == .invalidTTL
        }
        #expect(computations.load(ordering: .relaxed) == 0)
    }

    @Test("an invalid configuration is a thrown CacheError")
    func invalidConfiguration() {
        #expect {
            try Memoized(maxCount: 0) { (n: Int) in n }
        } throws: { error in
            (error as? CacheError)?.code == .invalidConfiguration
        }
    }

    @Test("forget drops one result, forgetAll every result")
    func forgetting() throws {
        let computations = Atomic<Int>(0)
        let f = try Memoized(maxCount: 10) { (a: Int, b: String) in
            computations.add(1, ordering: .relaxed)
            return "\(a)\(b)"
        }
        _ = f(1, "a")
        _ = f(2, "b")
        #expect(f.cachedResult(1, "a") == "1a")
        f.forget(1, "a")
        #expect(f.cachedResult(1, "a") == nil)
        #expect(f.cachedResult(2, "b") == "2b")
        _ = f(1, "a")
        #expect(computations.load(ordering: .relaxed) == 3)
        f.forgetAll()
        #expect(f.cache.count == 0)
    }

    @Test("the least recently used result is evicted at the limit")
    func eviction() throws {
        let computations = Atomic<Int>(0)
        let f = try Memoized(maxCount: 2) { (n: Int) in
            computations.add(1, ordering: .relaxed)
            return n
        }
        _ = f(1)
        _ = f(2)
        _ = f(1)  // 1 is now most recent
        _ = f(3)  // evicts 2
        #expect(f.cachedResult(2) == nil)
        #expect(f.cachedResult(1) == 1)
        #expect(f.statistics.evictions == 1)
        #expect(computations.load(ordering: .relaxed) == 3)
    }
}

@Suite("AsyncMemoized")
struct AsyncMemoizedTests {
    @Test("the async function runs once for repeated calls")
    func runsOnce() async throws {
        let computations = Atomic<Int>(0)
        let f = try AsyncMemoized(maxCount: 10) { (a: Int, b: String) async -> String in
            computations.add(1, ordering: .relaxed)
            await Task.yield()
            return "\(a)\(b)"
        }
        #expect(await f(1, "x") == "1x")
        #expect(await f(1, "x") == "1x")
        #expect(computations.load(ordering: .relaxed) == 1)
        #expect(f.statistics.hits == 1)
    }

    @Test("a cancelled waiter leaves when the function throws any Error, and waits when it cannot throw")
    func cancelledWaiters() async throws {
        let gate = Gate()
        let computations = Counter()
        let throwing = try AsyncMemoized(maxCount: 10) { (n: Int) async throws -> Int in
            computations.add()
            await gate.wait()
            return n * 2
        }
        let total = try AsyncMemoized<Int, Int, Never>(maxCount: 10) { n in
            computations.add()
            await gate.wait()
            return n * 3
        }
        let leaders = (Task { try await throwing(7) }, Task { await total(7) })
        #expect(await eventually { computations.count == 2 })
        let waiters = (Task { try await throwing(7) }, Task { await total(7) })
        #expect(await eventually {
            throwing.cache.waitingCallers(forKey: MemoizationKey(7)) == 1
                && total.cache.waitingCallers(forKey: MemoizationKey(7)) == 1
        })
        waiters.0.cancel()
        waiters.1.cancel()
        #expect(await eventually { throwing.cache.waitingCallers(forKey: MemoizationKey(7)) == 0 })
        gate.open()
        await #expect(throws: CancellationError.self) { try await waiters.0.value }
        // A function that cannot throw cannot report the cancellation: that
        // caller waits for the shared result instead of computing its own.
        #expect(await waiters.1.value == 21)
        #expect(try await leaders.0.value == 14)
        #expect(await leaders.1.value == 21)
        #expect(computations.count == 2)
    }

    @Test("async recursive Fibonacci of 90 computes 91 times")
    func recursiveFibonacci() async throws {
        let computations = Atomic<Int>(0)
        let fibonacci = try AsyncMemoized<Int, Int, Never>.recursive(configuration: .init(maxCount: 1_000)) {
            fibonacci, n in
            guard computations.add(1, ordering: .relaxed).newValue <= 1_000 else { return 0 }
            if n < 2 { return n }
            let a = await fibonacci(n - 1)
            let b = await fibonacci(n - 2)
            return a + b
        }
        #expect(await fibonacci(90) == 2_880_067_194_370_816_120)
        #expect(computations.load(ordering: .relaxed) == 91)
    }

    @Test("16 concurrent first async calls run the function once")
    func concurrentFirstCalls() async throws {
        let callers = 16
        let computations = Atomic<Int>(0)
        let slow = try AsyncMemoized<Int, Int, Never>.recursive(configuration: .init(maxCount: 10)) { slow, n in
            computations.add(1, ordering: .relaxed)
            // Gate as in the sync test; the waiters suspend, so yielding lets them run.
            await waitAtGate("the other callers never asked") {
                slow.statistics.totalRequests >= callers || computations.load(ordering: .relaxed) >= callers
            }
            return n * 2
        }
        let results = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<callers {
                group.addTask { await slow(21) }
            }
            var results: [Int] = []
            for await value in group { results.append(value) }
            return results
        }
        #expect(computations.load(ordering: .relaxed) == 1)
        #expect(results == Array(repeating: 42, count: callers))
    }

    @Test("a thrown async error is not cached and keeps its type")
    func errorsAreNotCached() async throws {
        let attempts = Atomic<Int>(0)
        let load = try AsyncMemoized(maxCount: 10) { (n: Int) async throws(Flaky) -> Int in
            let attempt = attempts.add(1, ordering: .relaxed).newValue
            if attempt == 1 { throw Flaky(attempt: attempt) }
            return n * 10
        }
        do {
            _ = try await load(4)
            Issue.record("the first call should throw")
        } catch {
            let typed: Flaky = error
            #expect(typed == Flaky(attempt: 1))
        }
        #expect(try await load(4) == 40)
        #expect(try await load(4) == 40)
        #expect(attempts.load(ordering: .relaxed) == 2)
    }

    @Test("per-call TTL works for async functions")
    func perCallTTL() async throws {
        let clock = ManualCacheClock()
        let computations = Atomic<Int>(0)
        let f = try AsyncMemoized(configuration: .init(maxCount: 10, sweepInterval: nil), clock: clock) {
            (n: Int) async in
            computations.add(1, ordering: .relaxed)
            return n
        }
        #expect(try await f(1, ttl: .seconds(5)) == 1)
        clock.advance(by: .seconds(6))
        #expect(await f(1) == 1)
        #expect(computations.load(ordering: .relaxed) == 2)
        await #expect(throws: CacheError.self) { try await f(2, ttl: .seconds(-1)) }
        #expect(computations.load(ordering: .relaxed) == 2)
    }
}

@Suite("Memoized: arguments a function can tell apart")
struct MemoizedDistinctArgumentTests {
    @Test("f(-0.0) is not answered with f(0.0)")
    func signedZero() throws {
        let reciprocal = try Memoized(maxCount: 10) { (x: Double) in 1 / x }
        #expect(reciprocal(0.0) == .infinity)
        #expect(reciprocal(-0.0) == -.infinity)
        let single = try Memoized(maxCount: 10) { (x: Float) in 1 / x }
        #expect(single(0) == .infinity)
        #expect(single(-0.0) == -.infinity)
    }

    @Test("a NaN argument hits on the second call and takes one entry")
    func nanHits() throws {
        let calls = Counter()
        let f = try Memoized(maxCount: 10) { (x: Double) -> Int in
            calls.add()
            return 7
        }
        for _ in 0..<5 { #expect(f(.nan) == 7) }
        #expect(calls.count == 1)
        #expect(f.cache.count == 1)
    }

    @Test("canonically equivalent strings with different bytes are different calls")
    func canonicalStrings() throws {
        let byteCount = try Memoized(maxCount: 10) { (s: String) in s.utf8.count }
        #expect(byteCount("\u{E9}") == 2)
        #expect(byteCount("e\u{301}") == 3)
    }
}

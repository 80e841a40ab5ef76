import Foundation
import Synchronization
@testable import Larder

/// A small deterministic generator (SplitMix64) so randomized tests replay.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// Log-uniform: every size class in the range is about equally likely.
    mutating func logUniform(_ range: ClosedRange<Int>) -> Int {
        let lo = log(Double(range.lowerBound)), hi = log(Double(range.upperBound))
        let u = Double(next() >> 11) / Double(1 << 53)
        return min(range.upperBound, max(range.lowerBound, Int(exp(lo + (hi - lo) * u))))
    }
}

/// State shared between test threads, behind an `NSLock` (pthread
/// underneath). Tests use this and ``LockedList`` rather than
/// `Synchronization.Mutex`: ThreadSanitizer does not see the raw futex of
/// `Mutex` on Linux and reports races on correct test code (the library uses
/// `Locked` for the same reason).
final class TestLock<State>: @unchecked Sendable {
    private let lock = NSLock()
    private var state: State
    init(_ state: State) { self.state = state }
    func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}

/// A thread-safe list, for collecting what hooks report.
final class LockedList<Element: Sendable>: Sendable {
    private let storage = TestLock<[Element]>([])
    func append(_ element: Element) { storage.withLock { $0.append(element) } }
    func take() -> [Element] { storage.withLock { list in defer { list = [] }; return list } }
    var snapshot: [Element] { storage.withLock { $0 } }
}

/// Runs `body(threadIndex)` on `count` real threads at once and waits for all.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}

/// Waits until `condition` holds, yielding the processor between checks;
/// false when it still does not hold after `limit` (a failure guard, not a
/// stand-in for synchronization: the condition is what the test waits for).
func waitUntil(limit: Duration = .seconds(30), _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while !condition() {
        if clock.now > end { return false }
        sched_yield()
    }
    return true
}

/// Polls `condition` from async code, yielding between polls; false if it did
/// not hold within `limit` (a guard against hanging, not a speed threshold).
func eventually(limit: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while !condition() {
        if clock.now > end { return false }
        await Task.yield()
    }
    return true
}

/// A one-shot gate async code can wait at until a test opens it.
final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)
    func open() { opened.store(true, ordering: .releasing) }
    func wait() async {
        while !opened.load(ordering: .acquiring) { await Task.yield() }
    }
}

/// A shareable atomic counter.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func add(_ amount: Int = 1) { value.add(amount, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

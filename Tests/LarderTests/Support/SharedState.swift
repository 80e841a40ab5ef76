import Foundation
import Synchronization

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

/// A shareable atomic counter.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func add(_ amount: Int = 1) { value.add(amount, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

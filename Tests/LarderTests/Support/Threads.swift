#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

// The tests' threads: real OS threads, not a pool. The tests block callers inside a
// computation, on I/O or at a pause point, which would starve a pool with fewer workers
// than callers. A gate that stays shut on one of these threads
// (``waitAtGate(_:limit:sourceLocation:until:)``) fails the test that joins it.

/// Runs `body(index)` for `index` in `0..<count`, each on a new thread of its own, all at
/// once, and joins them all; rethrows the first error a body threw (after every thread
/// has finished). A body that cannot throw makes the call non-throwing (`E` is `Never`).
/// - Parameter stackSize: each thread's stack in bytes; nil for the platform's default.
func runOnThreads<E: Error>(_ count: Int, stackSize: Int? = nil,
                            _ body: @escaping @Sendable (Int) throws(E) -> Void) throws(E) {
    let failures = TestLock<[E]>([])
    let shutGates = LockedList<ShutGate>()
    let threads = (0..<count).map { index in
        startThread(stackSize: stackSize, shutGates: shutGates) {
            do throws(E) { try body(index) } catch { failures.withLock { $0.append(error) } }
        }
    }
    for thread in threads { pthread_join(thread, nil) }
    for gate in shutGates.snapshot { gate.record() }
    if let first = failures.withLock({ $0.first }) { throw first }
}

/// A thread a test starts, does something meanwhile (often: waits for the thread to pause
/// somewhere), then joins.
final class TestThread: Sendable {
    private let thread: pthread_t
    private let finished = DispatchSemaphore(value: 0)
    private let shutGates = LockedList<ShutGate>()

    /// Starts `body` on a new thread.
    init(_ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        thread = startThread(stackSize: nil, shutGates: shutGates) {
            body()
            finished.signal()
        }
    }

    /// Waits (once) until the body has returned; false if it still runs after `limit` (a
    /// deadlock, say: the thread is then left behind, and the test should fail).
    func join(within limit: Duration = waitLimit) -> Bool {
        let (seconds, attoseconds) = limit.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        guard finished.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return false }
        pthread_join(thread, nil)
        for gate in shutGates.snapshot { gate.record() }
        return true
    }
}

/// Starts `body` on a new joinable thread, its shut gates reported to `shutGates`.
private func startThread(stackSize: Int?, shutGates: LockedList<ShutGate>,
                         _ body: @escaping () -> Void) -> pthread_t {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    if let stackSize {
        precondition(pthread_attr_setstacksize(&attributes, stackSize) == 0, "stack size \(stackSize) refused")
    }
    let start = ThreadStart { ShutGate.$onTheseThreads.withValue(shutGates, operation: body) }
    var thread = pthread_t()
    let status = pthread_create(&thread, &attributes, { raw in
        Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, Unmanaged.passRetained(start).toOpaque())
    precondition(status == 0, "pthread_create failed: \(status)")
    return thread
}

/// What a thread started by ``startThread(stackSize:shutGates:_:)`` runs.
private final class ThreadStart {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

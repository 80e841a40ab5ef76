#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(index)` for `index` in `0..<count`, each on a new OS thread of its own, all
/// at once, and joins them all; rethrows the first error a body threw (after every thread
/// has finished).
///
/// Real threads, not a pool: the tests block callers inside a computation or on I/O, which
/// would starve a pool with fewer workers than callers. A body that cannot throw makes
/// the call non-throwing (`E` is `Never`). A gate that stays shut on one of the threads
/// (``waitAtGate(_:limit:sourceLocation:until:)``) fails the calling test once all have joined.
/// - Parameter stackSize: each thread's stack in bytes; nil for the platform's default.
func runOnThreads<E: Error>(_ count: Int, stackSize: Int? = nil,
                            _ body: @escaping @Sendable (Int) throws(E) -> Void) throws(E) {
    let failures = TestLock<[E]>([])
    let shutGates = LockedList<ShutGate>()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    if let stackSize {
        precondition(pthread_attr_setstacksize(&attributes, stackSize) == 0, "stack size \(stackSize) refused")
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let start = ThreadStart {
            ShutGate.$onTheseThreads.withValue(shutGates) {
                do throws(E) { try body(index) } catch { failures.withLock { $0.append(error) } }
            }
        }
        let context = Unmanaged.passRetained(start).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { raw in
            Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
    for gate in shutGates.snapshot { gate.record() }
    if let first = failures.withLock({ $0.first }) { throw first }
}

/// What a thread of ``runOnThreads(_:stackSize:_:)`` runs.
private final class ThreadStart {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex at a stable address, locked and unlocked explicitly or
/// through ``withLock(_:)``: the library's one lock for everything but the
/// shards' hot path (``ShardMutex``).
///
/// Why pthread and not `Synchronization.Mutex`: ThreadSanitizer models pthread
/// mutexes exactly, but not the raw futex behind `Mutex` on Linux, so every
/// contended `Mutex` section reads to it as a data race (a two-thread counter
/// under `Mutex<Int>` gives four reports on a correct program) and would hide
/// real reports among false ones. It also measured faster here: an
/// uncontended lock/unlock pair took 8 ns with pthread and 25 ns with
/// `Mutex<Int>.withLock` (Swift 6.3.1, release, x86-64 Linux). Hand-written
/// rather than swift-nio's `NIOLock` so that the library does not depend on
/// swift-nio for one mutex.
@usableFromInline
final class Lock: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inlinable func lock() {
        let status = pthread_mutex_lock(mutex)
        assert(status == 0)
    }

    @inlinable func unlock() {
        let status = pthread_mutex_unlock(mutex)
        assert(status == 0)
    }

    /// Runs `body` with the mutex held.
    @inlinable
    func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A value behind a ``Lock``, with `Synchronization.Mutex`'s `withLock`
/// (see ``Lock`` for why not `Mutex` itself).
final class Locked<State>: @unchecked Sendable {
    private let mutex = Lock()
    private var state: State

    init(_ state: State) { self.state = state }

    /// Runs `body` with the state, the mutex held.
    func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&state)
    }
}

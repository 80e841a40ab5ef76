#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex at a stable address, locked and unlocked explicitly.
///
/// Shards use ``ShardMutex`` (an inlined futex lock, cheaper per operation);
/// this one guards the colder paths (in-flight computations, the sweeper).
/// Why pthread and not `Synchronization.Mutex`: the shard code unlocks before
/// it releases evicted values and logs, which reads more plainly with explicit
/// lock/unlock than with nested closures, and ThreadSanitizer models pthread
/// mutexes (it does not see through the raw futex behind `Mutex` on Linux),
/// and it measured faster here: an uncontended lock/unlock pair took 8 ns
/// with pthread and 25 ns with `Mutex<Int>.withLock` (Swift 6.3.1, release,
/// x86-64 Linux); with 2-4 threads contending, 20-37 ns against 18-48 ns.
@usableFromInline
struct PThreadMutex: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<pthread_mutex_t>

    /// Allocates and initializes a mutex; `destroy()` frees it.
    static func make() -> PThreadMutex {
        let pointer = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pointer.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(pointer, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
        return PThreadMutex(pointer: pointer)
    }

    @usableFromInline
    init(pointer: UnsafeMutablePointer<pthread_mutex_t>) {
        self.pointer = pointer
    }

    @inlinable func lock() {
        let status = pthread_mutex_lock(pointer)
        assert(status == 0)
    }

    @inlinable func unlock() {
        let status = pthread_mutex_unlock(pointer)
        assert(status == 0)
    }

    func destroy() {
        pthread_mutex_destroy(pointer)
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }
}

/// A mutex with a condition variable, for threads that block until a
/// computation they share finishes.
final class PThreadCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deinitialize(count: 1)
        mutex.deinitialize(count: 1)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a broadcast; the mutex must be held.
    func wait() { pthread_cond_wait(condition, mutex) }
    func broadcast() { pthread_cond_broadcast(condition) }
}

/// A value behind a pthread mutex, with `Synchronization.Mutex`'s `withLock`.
///
/// The library's shared state uses this rather than `Mutex`: on Linux `Mutex` locks
/// through a raw futex that ThreadSanitizer does not model, so every contended
/// `Mutex` section reads to it as a data race (a two-thread counter under `Mutex<Int>`
/// gives four reports on a correct program), which would hide real reports among
/// false ones. A pthread mutex it models exactly.
final class Locked<State>: @unchecked Sendable {
    private let mutex = PThreadMutex.make()
    private var state: State

    init(_ state: State) { self.state = state }

    deinit { mutex.destroy() }

    /// Runs `body` with the state, the mutex held.
    func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&state)
    }
}

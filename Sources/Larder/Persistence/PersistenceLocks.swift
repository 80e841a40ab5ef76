#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A writer-preferring reader/writer lock (`pthread_rwlock_t`).
///
/// LMDB may only change its map size while no transaction of the process is
/// active, so every transaction holds the shared side and a resize takes the
/// exclusive side; writer preference keeps a stream of reads from starving a resize.
final class ReadWriteGate: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        var attr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attr)
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(lock, &attr)
        pthread_rwlockattr_destroy(&attr)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func withShared<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func withExclusive<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// A mutex with two condition variables whose timed waits use `CLOCK_MONOTONIC`
/// (so a wall-clock jump neither stalls nor hurries a periodic flusher).
///
/// Two conditions, so that the writer thread and the callers waiting for it do not wake
/// each other for nothing: `.work` is what the writer thread waits on (new writes,
/// requests, closing); `.done` is what callers wait on (a round started or committed).
final class ConditionLock: @unchecked Sendable {
    enum Condition: Int { case work = 0, done = 1 }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conds: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        conds = .allocate(capacity: 2)
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(conds, &attr)
        pthread_cond_init(conds + 1, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(conds)
        pthread_cond_destroy(conds + 1)
        pthread_mutex_destroy(mutex)
        conds.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Wakes every waiter on `condition`.
    func broadcast(_ condition: Condition) { pthread_cond_broadcast(conds + condition.rawValue) }
    /// Wakes one waiter on `condition` (the writer thread is the only waiter on `.work`).
    func signal(_ condition: Condition) { pthread_cond_signal(conds + condition.rawValue) }
    /// Waits for a signal on `condition`; the mutex must be held.
    func wait(_ condition: Condition) { pthread_cond_wait(conds + condition.rawValue, mutex) }

    /// Waits for a signal on `condition` or until the monotonic clock reaches `deadline` (ns);
    /// the mutex must be held.
    func wait(_ condition: Condition, untilMonotonic deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(conds + condition.rawValue, mutex, &ts)
    }

    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

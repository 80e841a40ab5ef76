#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mutex with one or more condition variables whose timed waits use
/// `CLOCK_MONOTONIC`, so a wall-clock jump neither stalls nor hurries a
/// periodic waiter: the library's one condition type.
///
/// Several conditions on one mutex let two kinds of waiter not wake each
/// other for nothing (the group-commit writer thread and the callers waiting
/// for it). pthread, like ``Lock``, so that ThreadSanitizer models it.
final class ConditionLock: @unchecked Sendable {
    /// One of the lock's condition variables, by index.
    struct Condition: Sendable {
        let index: Int
        /// The first condition; the only one of a lock made with one.
        static let first = Condition(index: 0)
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    private let conditionCount: Int

    init(conditions count: Int = 1) {
        precondition(count >= 1, "a ConditionLock needs at least one condition")
        conditionCount = count
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        conditions = .allocate(capacity: count)
        conditions.initialize(repeating: pthread_cond_t(), count: count)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        for index in 0..<count { pthread_cond_init(conditions + index, &attr) }
        pthread_condattr_destroy(&attr)
    }

    deinit {
        for index in 0..<conditionCount { pthread_cond_destroy(conditions + index) }
        pthread_mutex_destroy(mutex)
        conditions.deinitialize(count: conditionCount)
        conditions.deallocate()
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Wakes every waiter on `condition`.
    func broadcast(_ condition: Condition = .first) { pthread_cond_broadcast(pointer(condition)) }

    /// Wakes one waiter on `condition`.
    func signal(_ condition: Condition = .first) { pthread_cond_signal(pointer(condition)) }

    /// Waits for a signal on `condition`; the mutex must be held. May wake
    /// spuriously: wait in a loop on the state the condition stands for.
    func wait(_ condition: Condition = .first) { pthread_cond_wait(pointer(condition), mutex) }

    /// Waits for a signal on `condition` or until the monotonic clock reaches
    /// `deadline` (``monotonicNanoseconds()``); the mutex must be held.
    func wait(_ condition: Condition = .first, untilMonotonic deadline: UInt64) {
        var spec = timespec(tv_sec: Int(clamping: deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(pointer(condition), mutex, &spec)
    }

    private func pointer(_ condition: Condition) -> UnsafeMutablePointer<pthread_cond_t> {
        precondition(condition.index < conditionCount, "condition \(condition.index) of \(conditionCount)")
        return conditions + condition.index
    }
}

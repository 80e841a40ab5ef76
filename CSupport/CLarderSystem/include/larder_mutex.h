/*
 * larder_mutex.h — a small futex mutex for the Swift side's shard locks,
 * biased towards the thread that uses it alone.
 *
 * In CLarderSystem, apart from the single-threaded core, because Swift
 * cannot issue the futex or membarrier system calls itself (syscall() is
 * variadic).
 *
 * Two ways in:
 *  - The futex mutex: the uncontended lock is one atomic read-modify-write,
 *    the unlock a plain release store and a load of the count of sleepers.
 *    Contended, a locker spins briefly, then counts itself a sleeper and
 *    sleeps in the kernel. Why not Drepper's mutex 2 ("Futexes Are Tricky"),
 *    whose unlock is an exchange that learns of sleepers from the lock word:
 *    an exchange is a full barrier on x86, so it waits until every store of
 *    the critical section owns its line. When threads share the cache those
 *    are lines the other core wrote last, and that wait was the largest part
 *    of a set on a shard the other thread used last (perf: 38 % of its
 *    samples on the exchange). A plain store lets them complete behind the
 *    next operation's loads. The price is on the sleeper's side: the
 *    unlocker's store and its load of the sleepers may be reordered, so a
 *    locker about to sleep first makes every running thread pass a full
 *    barrier (membarrier(2), as the bias below); then an unlock either is
 *    visible to it or sees it counted, and wakes it.
 *  - The bias: after LARDER_MUTEX_BIAS_STREAK consecutive acquisitions by one
 *    thread, the mutex is biased to it, and that thread then locks and unlocks
 *    with plain loads and stores, no read-modify-write. Atomic read-modify-writes
 *    are full barriers on x86: on a cache hit they cost about a fifth of the
 *    time (they stop the loads of one operation from overlapping the cache
 *    misses of the previous one). Any other thread takes the futex mutex,
 *    revokes the bias (clears it, then membarrier(2) makes every running
 *    thread of the process pass a full barrier, the asymmetric half of a
 *    Dekker handshake), waits for the owner to leave, and goes on as the
 *    holder. The owner's next lock sees the bias gone and takes the futex
 *    path; a new streak can bias the mutex again. A cache used by one thread
 *    (a benchmark, an event loop's own cache) runs biased; one shared by busy
 *    threads never is, and pays one revocation (a few microseconds) per
 *    streak at most. Without membarrier (kernels before 4.14, seccomp) the
 *    mutex is never biased, and a sleeper looks again every millisecond (it
 *    may miss a wake-up then).
 *
 * Not recursive, no priority inheritance, no owner checks: the caller pairs
 * lock and unlock on the same thread.
 */
#ifndef LARDER_MUTEX_H
#define LARDER_MUTEX_H

#include <stdint.h>

#include "larder_thread_token.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Consecutive acquisitions by one thread after which the mutex is biased
 *  to it (larder_mutex_init). */
#define LARDER_MUTEX_BIAS_STREAK 16384u

/** Initialize with larder_mutex_init (or larder_mutex_init_streak) before
 *  use; no teardown. */
typedef struct larder_mutex {
    uint32_t state;       /* futex word: 0 unlocked; 1 locked */
    uint32_t bias;        /* token of the thread the mutex is biased to; 0: none */
    uint32_t inside;      /* the bias owner's token while it holds the mutex through the bias; else 0 */
    /* Written with `state` held only. */
    uint32_t streak_owner;  /* token of the latest futex holder */
    uint32_t streak;        /* its consecutive futex acquisitions */
    uint32_t bias_after;    /* the streak that biases the mutex; UINT32_MAX: never */
    uint32_t revocations;   /* biases revoked so far (diagnostics) */
    uint32_t sleepers;      /* lockers that may sleep on `state` (larder_mutex_lock_slow) */
} larder_mutex;

/** An unlocked mutex, biased after LARDER_MUTEX_BIAS_STREAK acquisitions. */
static inline void larder_mutex_init(larder_mutex *mutex)
{
    *mutex = (larder_mutex){ .state = 0, .bias = 0, .inside = 0, .streak_owner = 0, .streak = 0,
                             .bias_after = LARDER_MUTEX_BIAS_STREAK, .revocations = 0, .sleepers = 0 };
}

/** An unlocked mutex biased after `streak` consecutive acquisitions by one
 *  thread (0: never biased). For tests, and for callers that know better. */
static inline void larder_mutex_init_streak(larder_mutex *mutex, uint32_t streak)
{
    larder_mutex_init(mutex);
    mutex->bias_after = streak ? streak : UINT32_MAX; /* a streak of 2^32 - 1 only restarts the count */
}

/** The out-of-line paths (larder_mutex.c). */
void larder_mutex_lock_slow(larder_mutex *mutex);
void larder_mutex_wake(larder_mutex *mutex);
void larder_mutex_after_futex_lock(larder_mutex *mutex, uint32_t me);
void larder_mutex_leave_revoked(larder_mutex *mutex);

/** Acquires the mutex, sleeping while another thread holds it. */
static inline void larder_mutex_lock(larder_mutex *mutex)
{
    uint32_t me = larder_thread_token();
    if (__atomic_load_n(&mutex->bias, __ATOMIC_RELAXED) == me) {
        __atomic_store_n(&mutex->inside, me, __ATOMIC_RELAXED);
        /* The store above and the load below may be reordered by the CPU; a
         * revoker's membarrier orders them for it (larder_mutex.c). The
         * compiler must not reorder them. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(&mutex->bias, __ATOMIC_ACQUIRE) == me) return;
        larder_mutex_leave_revoked(mutex);
    }
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&mutex->state, &expected, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        larder_mutex_lock_slow(mutex);
    /* With the futex held: revoke someone else's bias, count the streak. */
    if (__atomic_load_n(&mutex->bias, __ATOMIC_RELAXED) != 0 || mutex->streak_owner != me ||
        ++mutex->streak >= mutex->bias_after)
        larder_mutex_after_futex_lock(mutex, me);
}

/** Releases the mutex, waking one sleeper if there may be one. */
static inline void larder_mutex_unlock(larder_mutex *mutex)
{
    uint32_t me = larder_thread_token();
    if (__atomic_load_n(&mutex->inside, __ATOMIC_RELAXED) == me) {
        __atomic_store_n(&mutex->inside, 0u, __ATOMIC_RELEASE);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        /* A revoker may be waiting for `inside` to clear. */
        if (__atomic_load_n(&mutex->bias, __ATOMIC_RELAXED) != me) larder_mutex_leave_revoked(mutex);
        return;
    }
    __atomic_store_n(&mutex->state, 0u, __ATOMIC_RELEASE);
    /* May be read before the store above is visible: see larder_mutex_lock_slow. */
    if (__atomic_load_n(&mutex->sleepers, __ATOMIC_RELAXED) != 0) larder_mutex_wake(mutex);
}

/** The token of the thread the mutex is biased to, 0 when none (diagnostics). */
static inline uint32_t larder_mutex_biased_to(const larder_mutex *mutex)
{
    return __atomic_load_n(&mutex->bias, __ATOMIC_RELAXED);
}

/** Lockers counted as sleepers now (diagnostics). */
static inline uint32_t larder_mutex_sleepers(const larder_mutex *mutex)
{
    return __atomic_load_n(&mutex->sleepers, __ATOMIC_RELAXED);
}

/** Nonzero when the mutex is biased to the calling thread (diagnostics). */
static inline int larder_mutex_is_biased_to_caller(const larder_mutex *mutex)
{
    return larder_mutex_biased_to(mutex) == larder_thread_token();
}

#ifdef __cplusplus
}
#endif

#endif /* LARDER_MUTEX_H */

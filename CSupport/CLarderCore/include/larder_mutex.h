/*
 * larder_mutex.h — a small futex mutex for the Swift side's shard locks.
 *
 * Not part of the core's bookkeeping (which stays single-threaded): it lives
 * here because Swift cannot issue the futex system call itself (syscall() is
 * variadic). The uncontended lock and unlock are one atomic instruction each,
 * inlined into the caller; pthread_mutex_lock/unlock cost the same two atomic
 * instructions plus two calls and about 45 more instructions per pair.
 * Contended, a locker spins briefly, then sleeps in the kernel
 * (Drepper, "Futexes Are Tricky", mutex 2). Not recursive, no priority
 * inheritance, no owner checks: the caller pairs lock and unlock.
 */
#ifndef LARDER_MUTEX_H
#define LARDER_MUTEX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** 0: unlocked; 1: locked; 2: locked, and a thread may be sleeping on it.
 *  Zero-initialize (or larder_mutex_init) before use; 4 bytes, no teardown. */
typedef struct larder_mutex {
    uint32_t state;
} larder_mutex;

static inline void larder_mutex_init(larder_mutex *mutex) { __atomic_store_n(&mutex->state, 0u, __ATOMIC_RELAXED); }

/** The contended paths (larder_mutex.c). */
void larder_mutex_lock_slow(larder_mutex *mutex);
void larder_mutex_wake(larder_mutex *mutex);

/** Acquires the mutex, sleeping while another thread holds it. */
static inline void larder_mutex_lock(larder_mutex *mutex)
{
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&mutex->state, &expected, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        larder_mutex_lock_slow(mutex);
}

/** Releases the mutex, waking one sleeper if there may be one. */
static inline void larder_mutex_unlock(larder_mutex *mutex)
{
    if (__atomic_exchange_n(&mutex->state, 0u, __ATOMIC_RELEASE) == 2u) larder_mutex_wake(mutex);
}

#ifdef __cplusplus
}
#endif

#endif /* LARDER_MUTEX_H */

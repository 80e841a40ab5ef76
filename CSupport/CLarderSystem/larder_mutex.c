/*
 * larder_mutex.c — the out-of-line paths of larder_mutex (see larder_mutex.h):
 * the contended futex lock, and granting and revoking the bias.
 *
 * Why the bias is safe. The owner enters with: store inside = me; load bias
 * (== me: in). A revoker, holding the futex: store bias = 0; membarrier;
 * load inside (!= 0: wait until it clears). membarrier(PRIVATE_EXPEDITED)
 * runs a full barrier on every CPU running a thread of this process (a
 * descheduled thread passed one when it was switched out), so the owner's
 * store and load fall wholly before or after that barrier: before, the
 * revoker sees `inside` set and waits; after, the owner sees bias == 0 and
 * backs off to the futex. Leaving is the mirror: store inside = 0; load bias
 * (!= me: wake the revoker, who may be asleep on `inside`). The owner's
 * critical section happens-before the revoker's through the release store of
 * `inside` = 0 and the revoker's acquire load of it.
 */
#define _GNU_SOURCE
#include "larder_mutex.h"

#include <stdint.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

static inline void larder_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int larder_membarrier_ready(void);
static int larder_membarrier_try(void);

static inline int larder_mutex_try_take(larder_mutex *mutex)
{
    uint32_t expected = 0;
    return __atomic_load_n(&mutex->state, __ATOMIC_RELAXED) == 0 &&
           __atomic_compare_exchange_n(&mutex->state, &expected, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void larder_mutex_lock_slow(larder_mutex *mutex)
{
    /* A short spin first: critical sections are a few hundred nanoseconds. */
    for (int spin = 0; spin < 64; spin++) {
        larder_cpu_relax();
        if (larder_mutex_try_take(mutex)) return;
    }
    /* Count ourselves a sleeper (a full barrier on this side), then make every
     * running thread pass one. An unlocker's store of 0 and its later load of
     * `sleepers` each fall wholly before or after that barrier: if its store
     * came before, we see the mutex free below; if after, its load sees us
     * and it wakes us. Once is enough while we stay counted: every unlock
     * that starts later sees the count. (A thread switched in passes a full
     * barrier too.) */
    __atomic_add_fetch(&mutex->sleepers, 1u, __ATOMIC_SEQ_CST);
    int ordered = larder_membarrier_ready() && larder_membarrier_try();
    while (!larder_mutex_try_take(mutex)) {
#if defined(__linux__)
        /* Without the barrier a wake-up may be missed: sleep at most 1 ms a
         * time, then look again. */
        static const struct timespec tick = { 0, 1000000 };
        syscall(SYS_futex, &mutex->state, FUTEX_WAIT_PRIVATE, 1u, ordered ? NULL : &tick, NULL, 0);
#else
        (void)ordered;
        sched_yield();
#endif
    }
    __atomic_sub_fetch(&mutex->sleepers, 1u, __ATOMIC_RELAXED);
}

void larder_mutex_wake(larder_mutex *mutex)
{
#if defined(__linux__)
    syscall(SYS_futex, &mutex->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)mutex;
#endif
}

/* 0: not asked yet; 1: registered for MEMBARRIER_CMD_PRIVATE_EXPEDITED; 2: unavailable. */
static int larder_membarrier_state = 0;

static int larder_membarrier_ready(void)
{
    int state = __atomic_load_n(&larder_membarrier_state, __ATOMIC_ACQUIRE);
    if (state == 0) {
        state = 2;
#if defined(__linux__) && defined(SYS_membarrier)
        long commands = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        if (commands > 0 && (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
            state = 1;
#endif
        /* Racing threads reach the same answer; registering twice is harmless. */
        __atomic_store_n(&larder_membarrier_state, state, __ATOMIC_RELEASE);
    }
    return state == 1;
}

/* Makes every thread of the process pass a full barrier; nonzero when it did. */
static int larder_membarrier_try(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return 1;
    /* Registered before any bias was granted; but a child forked without exec
     * may not inherit the registration. Register again, then fall back to the
     * slow global barrier, which needs none. */
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return 1;
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return 1;
#endif
    return 0;
}

/* Every thread of the process passes a full barrier before this returns. */
static void larder_membarrier(void)
{
    if (larder_membarrier_try()) return;
    /* Without a barrier the handshake is unsound: stop rather than break
     * mutual exclusion. Unreachable where a bias was ever granted. */
    __builtin_trap();
}

void larder_mutex_leave_revoked(larder_mutex *mutex)
{
    __atomic_store_n(&mutex->inside, 0u, __ATOMIC_RELEASE);
#if defined(__linux__)
    syscall(SYS_futex, &mutex->inside, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
}

void larder_mutex_after_futex_lock(larder_mutex *mutex, uint32_t me)
{
    uint32_t owner = __atomic_load_n(&mutex->bias, __ATOMIC_RELAXED);
    if (owner != 0) {
        /* Revoke: after the barrier the owner either is inside (wait for it)
         * or will see the bias gone. */
        __atomic_store_n(&mutex->bias, 0u, __ATOMIC_SEQ_CST);
        larder_membarrier();
        uint32_t inside;
        while ((inside = __atomic_load_n(&mutex->inside, __ATOMIC_ACQUIRE)) != 0) {
#if defined(__linux__)
            syscall(SYS_futex, &mutex->inside, FUTEX_WAIT_PRIVATE, inside, NULL, NULL, 0);
#else
            sched_yield();
#endif
        }
        mutex->revocations += 1;
        mutex->streak_owner = 0;
    }
    /* The inlined lock counted this acquisition when the streak was ours. */
    if (mutex->streak_owner != me) {
        mutex->streak_owner = me;
        mutex->streak = 1;
    }
    if (mutex->streak < mutex->bias_after) return;
    mutex->streak = 0;
    /* Never biased (only restart the count), or a token several threads share. */
    if (mutex->bias_after == UINT32_MAX || me == LARDER_THREAD_TOKEN_SHARED) return;
    if (!larder_membarrier_ready()) {
        mutex->bias_after = UINT32_MAX;
        return;
    }
    /* Released by our futex unlock; our next lock takes the biased path. */
    __atomic_store_n(&mutex->bias, me, __ATOMIC_RELEASE);
}

/*
 * larder_mutex.c — the contended paths of larder_mutex (see larder_mutex.h).
 */
#define _GNU_SOURCE
#include "larder_mutex.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
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

void larder_mutex_lock_slow(larder_mutex *mutex)
{
    /* A short spin first: critical sections are a few hundred nanoseconds. */
    for (int spin = 0; spin < 64; spin++) {
        larder_cpu_relax();
        uint32_t expected = 0;
        if (__atomic_load_n(&mutex->state, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&mutex->state, &expected, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    /* Mark the mutex contended (2) and sleep until it is released; whoever
     * takes it from here leaves it at 2, so its unlock wakes the next sleeper. */
    while (__atomic_exchange_n(&mutex->state, 2u, __ATOMIC_ACQUIRE) != 0) {
#if defined(__linux__)
        syscall(SYS_futex, &mutex->state, FUTEX_WAIT_PRIVATE, 2u, NULL, NULL, 0);
#else
        sched_yield();
#endif
    }
}

void larder_mutex_wake(larder_mutex *mutex)
{
#if defined(__linux__)
    syscall(SYS_futex, &mutex->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)mutex;
#endif
}

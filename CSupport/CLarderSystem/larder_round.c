/*
 * larder_round.c — the futex waits and wakes of larder_round.h.
 */
#define _GNU_SOURCE
#include "larder_round.h"

#include <stdint.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

void larder_round_wait(const uint32_t *word, uint32_t round)
{
    for (;;) {
        uint32_t now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if ((int32_t)(now - round) >= 0) return;  /* reached (modulo 2^32) */
#if defined(__linux__)
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, now, NULL, NULL, 0);
#else
        sched_yield();
#endif
    }
}

void larder_round_publish(uint32_t *word, uint32_t round)
{
    __atomic_store_n(word, round, __ATOMIC_RELEASE);
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
#endif
}

/*
 * larder_round.h — one futex word that many threads wait on: the group
 * commit's "round" counter. A writer thread publishes each committed round
 * with one system call, where a semaphore per waiter costs one each.
 *
 * Here rather than in Swift because Swift cannot issue the futex system call
 * itself (syscall() is variadic).
 */
#ifndef LARDER_ROUND_H
#define LARDER_ROUND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Returns once the 32-bit round counter at `word` has reached `round`
 *  (compared modulo 2^32), sleeping on the futex meanwhile. */
void larder_round_wait(const uint32_t *word, uint32_t round);

/** Stores `round` into the counter at `word` (release) and wakes every thread
 *  waiting on it. */
void larder_round_publish(uint32_t *word, uint32_t round);

#ifdef __cplusplus
}
#endif

#endif /* LARDER_ROUND_H */

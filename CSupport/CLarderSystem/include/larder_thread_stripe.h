/*
 * larder_thread_stripe.h — a small index that no other live thread holds,
 * so that a thread can own one stripe of each shard's read buffer
 * (larder_read_buffer.h) and count in it with plain stores.
 *
 * Why: a stripe's counters were read-modify-writes (lock xadd), in case two
 * threads shared the stripe. On x86 each one is a full barrier: a hit waited
 * there until the stores of the thread's previous set had fetched their lines
 * from the other core, a wait that a plain store leaves to overlap with the
 * hit's own loads. An index held by one thread at a time makes the plain
 * store safe; threads beyond LARDER_THREAD_STRIPES, or whose index is beyond
 * a cache's stripes, count atomically in a stripe they share.
 *
 * Indexes are taken lowest first and given back when their thread exits. A
 * thread that found every index held keeps sharing.
 */
#ifndef LARDER_THREAD_STRIPE_H
#define LARDER_THREAD_STRIPE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How many indexes there are: 0 ..< LARDER_THREAD_STRIPES. */
#define LARDER_THREAD_STRIPES 64u
/** The index of a thread that found none free. */
#define LARDER_THREAD_STRIPE_NONE LARDER_THREAD_STRIPES

/** The calling thread's index plus one (0: not taken yet). */
extern _Thread_local uint32_t larder_thread_stripe_;
/** Takes the lowest free index for the calling thread (or NONE); returns it. */
uint32_t larder_thread_stripe_assign(void);

/** The calling thread's index: < LARDER_THREAD_STRIPES and held by no other
 *  live thread, or LARDER_THREAD_STRIPE_NONE. */
static inline uint32_t larder_thread_stripe(void)
{
    uint32_t stripe = larder_thread_stripe_;
    return stripe ? stripe - 1u : larder_thread_stripe_assign();
}

/** Makes the calling thread use `index` from now on without taking it
 *  (tests: LARDER_THREAD_STRIPE_NONE, a thread that shares; an index another
 *  live thread holds would break what the index promises). */
static inline void larder_thread_stripe_replace(uint32_t index) { larder_thread_stripe_ = index + 1u; }

/** The lowest index not set in `*held`, now set (or NONE when all are):
 *  larder_thread_stripe_assign takes them from the process's table. */
uint32_t larder_thread_stripe_take(uint64_t *held);
/** Clears `index` in `*held` (a thread's exit gives its index back so). */
void larder_thread_stripe_give(uint64_t *held, uint32_t index);

/** Indexes held now, one bit each (tests). */
uint64_t larder_thread_stripes_held(void);

#ifdef __cplusplus
}
#endif

#endif /* LARDER_THREAD_STRIPE_H */

/*
 * larder_read_buffer.h — where a shard's optimistic hits record themselves:
 * one stripe per thread (by larder_thread_stripe.h's index, which no other
 * live thread holds), on cache lines of its own, so a hit writes only memory
 * its own thread wrote last, with plain stores; threads without an index of
 * their own share one more stripe, and count in it atomically. The shard applies the
 * recorded touches to its recency order under its lock: the recording
 * thread when its stripe fills, and a writer before it changes the shard.
 *
 * Lossy under concurrency: a record overwritten before it was applied, or
 * read while its thread was still writing it, is a touch lost (the drain
 * checks each record against the entry its slot holds now). One thread's
 * records are applied in its order, before its next write: a cache of one
 * shard used by one thread keeps exact LRU order. (A shard of a sharded LRU
 * cache records nothing: each hit marks its entry itself and is counted
 * here, larder_read_stripe_count_marked; with a disk tier, which wants
 * every hit, it records them and applies them as marks,
 * larder_core_mark_batch.)
 */
#ifndef LARDER_READ_BUFFER_H
#define LARDER_READ_BUFFER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Records a stripe holds; a full stripe is applied before more are taken.
 *  Applying takes the shard's lock and moves the entries to the front of its
 *  recency list, lines the other threads write too: 29 records a batch (a
 *  256-byte stripe) lifted two threads' get-only scaling on one cache from
 *  75-80 % of the private-Dictionary ceiling's to 92-95 % against 13 records
 *  (128 bytes) in the same sittings; 61 records measured no better. (28
 *  since the stripe counts the hits that record nothing.) */
#define LARDER_READ_STRIPE_RECORDS 28u

/** One thread's stripe: 256 bytes, a whole number of line pairs (x86 pulls
 *  lines in pairs), so that two stripes never share a line. */
typedef struct larder_read_stripe {
    uint64_t head;     /* records ever taken (atomic) */
    uint64_t tail;     /* records applied (under the shard's lock) */
    uint64_t misses;   /* optimistic misses counted here (atomic) */
    uint64_t marked;   /* optimistic hits that marked their entry themselves, unrecorded (atomic) */
    uint64_t records[LARDER_READ_STRIPE_RECORDS];  /* slot | tag << 32 */
} larder_read_stripe;

_Static_assert(sizeof(larder_read_stripe) == 256, "a stripe is four cache lines");

/** Adds one to `*counter`: a plain load and store where the calling thread
 *  owns the stripe (no other thread writes it), else a read-modify-write. */
static inline uint64_t larder_read_stripe_bump(uint64_t *counter, int owned)
{
    if (owned) {
        uint64_t n = __atomic_load_n(counter, __ATOMIC_RELAXED);
        __atomic_store_n(counter, n + 1, __ATOMIC_RELAXED);
        return n;
    }
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/** Takes a hit on `slot` (whose index tag is `tag`); `owned`: the calling
 *  thread owns this stripe (larder_thread_stripe.h). Returns nonzero when the
 *  stripe is full: apply it (larder_read_stripe_take under the lock) now. */
static inline int larder_read_stripe_record(larder_read_stripe *stripe, uint32_t slot, uint32_t tag, int owned)
{
    uint64_t n = larder_read_stripe_bump(&stripe->head, owned);
    __atomic_store_n(&stripe->records[n % LARDER_READ_STRIPE_RECORDS], (uint64_t)slot | ((uint64_t)tag << 32),
                     __ATOMIC_RELAXED);
    return n + 1 - __atomic_load_n(&stripe->tail, __ATOMIC_RELAXED) >= LARDER_READ_STRIPE_RECORDS;
}

/** Counts an optimistic miss (`owned` as for larder_read_stripe_record). */
static inline void larder_read_stripe_miss(larder_read_stripe *stripe, int owned)
{
    (void)larder_read_stripe_bump(&stripe->misses, owned);
}

/** The records taken since the last call, oldest first, into `out` (room for
 *  LARDER_READ_STRIPE_RECORDS); returns how many. Call under the shard's
 *  lock. The oldest are skipped when more were taken than the stripe holds. */
static inline uint32_t larder_read_stripe_take(larder_read_stripe *stripe, uint64_t *out)
{
    uint64_t head = __atomic_load_n(&stripe->head, __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(&stripe->tail, __ATOMIC_RELAXED);
    if (head == tail) return 0;
    if (head - tail > LARDER_READ_STRIPE_RECORDS) tail = head - LARDER_READ_STRIPE_RECORDS;
    uint32_t n = 0;
    for (uint64_t i = tail; i < head; i++)
        out[n++] = __atomic_load_n(&stripe->records[i % LARDER_READ_STRIPE_RECORDS], __ATOMIC_RELAXED);
    __atomic_store_n(&stripe->tail, head, __ATOMIC_RELAXED);
    return n;
}

/** Nonzero when records wait to be applied (a cheap look before the lock's work). */
static inline int larder_read_stripe_pending(const larder_read_stripe *stripe)
{
    return __atomic_load_n(&stripe->head, __ATOMIC_RELAXED) != __atomic_load_n(&stripe->tail, __ATOMIC_RELAXED);
}

/** The stripe's hit and miss counts (relaxed; for statistics). */
static inline uint64_t larder_read_stripe_hits(const larder_read_stripe *stripe)
{
    return __atomic_load_n(&stripe->head, __ATOMIC_RELAXED) + __atomic_load_n(&stripe->marked, __ATOMIC_RELAXED);
}

/** Counts a hit that marked its entry itself (no record; `owned` as for
 *  larder_read_stripe_record); returns the count before this one. */
static inline uint64_t larder_read_stripe_count_marked(larder_read_stripe *stripe, int owned)
{
    return larder_read_stripe_bump(&stripe->marked, owned);
}

static inline uint64_t larder_read_stripe_misses(const larder_read_stripe *stripe)
{
    return __atomic_load_n(&stripe->misses, __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif /* LARDER_READ_BUFFER_H */

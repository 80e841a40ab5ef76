/*
 * larder_ghost.c — S3-FIFO's ghost queue: the hashes recently evicted from
 * the small queue, so that an entry which returns soon after goes straight
 * to the main queue. At most 8 bytes per slot.
 *
 * A ghost remembers a 32-bit fingerprint of each hash (nonzero; 0 marks an
 * empty bucket), never an entry. Two parts:
 *  - a ring of fingerprints in eviction order, `ring_size` of them at most
 *    (the main queue's count: the paper's bound), whose oldest is forgotten
 *    when a new one arrives at the limit;
 *  - an open-addressing table of the same fingerprints for membership,
 *    with more buckets than the ring has fingerprints, so that a probe
 *    always meets an empty bucket. Robin Hood linear probing from a home
 *    bucket scaled from the fingerprint: each fingerprint gives its own home,
 *    so its distance from home is known without the ring; a probe stops at
 *    the first entry nearer its home than the probe has come, and deletion
 *    shifts back only the entries that are away from home. At the table's
 *    load (up to about 82 %) plain linear probing's clusters made an
 *    eviction's ghost work cost more than the rest of the eviction.
 * The table is a multiset: a fingerprint evicted twice is in it twice.
 *
 * A returning hash is taken out of the table (one copy) but its ring record
 * stays until it is the oldest; forgetting the oldest then removes one copy
 * of its fingerprint if one is left. So the table never holds a fingerprint
 * more often than the ring, and an entry found once does not return to main
 * a second time on the same eviction. (A copy evicted again meanwhile may be
 * forgotten with the older record: the price of keeping no ring positions.)
 * Ring and table take 4 bytes per record and per bucket; with the ring at
 * the main queue's count and the buckets filling the rest of 8 bytes per
 * slot, the table is at most about 82 % full.
 */
#include "larder_core_internal.h"

void larder_ghost_sizes(uint32_t capacity, uint32_t ring_size, uint32_t *table_size)
{
    /* 4 * (ring + table) = 8 * capacity; the table strictly larger than the ring. */
    *table_size = ring_size == 0 ? 0 : 2u * capacity - ring_size;
    assert(ring_size == 0 || *table_size > ring_size);
}

void larder_ghost_init(larder_ghost *ghost, uint32_t *ring, uint32_t *table, uint32_t ring_size, uint32_t table_size)
{
    ghost->ring = ring;
    ghost->table = table;
    ghost->ring_size = ring_size;
    ghost->table_size = table_size;
    ghost->tail = 0;
    ghost->count = 0;
    for (uint32_t i = 0; i < ring_size; i++) ring[i] = 0;
    for (uint32_t i = 0; i < table_size; i++) table[i] = 0;
}

/* A hash's nonzero 32-bit fingerprint (the SplitMix64 finalizer's upper half). */
static inline uint32_t larder_ghost_fingerprint(uint64_t hash)
{
    uint64_t z = (hash ^ (hash >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    uint32_t f = (uint32_t)((z ^ (z >> 31)) >> 32);
    return f != 0 ? f : 1u;
}

static inline uint32_t larder_ghost_home(const larder_ghost *ghost, uint32_t f)
{
    return (uint32_t)(((uint64_t)f * ghost->table_size) >> 32);
}

static inline uint32_t larder_ghost_next(const larder_ghost *ghost, uint32_t i)
{
    return i + 1u == ghost->table_size ? 0u : i + 1u;
}

/* How far bucket `i`, holding `f`, lies from f's home. */
static inline uint32_t larder_ghost_distance(const larder_ghost *ghost, uint32_t f, uint32_t i)
{
    uint32_t home = larder_ghost_home(ghost, f);
    return i >= home ? i - home : i + ghost->table_size - home;
}

/* The bucket holding a copy of `f`, or LARDER_NIL. */
static uint32_t larder_ghost_find(const larder_ghost *ghost, uint32_t f)
{
    uint32_t i = larder_ghost_home(ghost, f);
    for (uint32_t distance = 0;; distance++, i = larder_ghost_next(ghost, i)) {
        uint32_t g = ghost->table[i];
        if (g == f) return i;
        if (g == 0 || larder_ghost_distance(ghost, g, i) < distance) return LARDER_NIL;
    }
}

/* Empties bucket `hole`, shifting the rest of its run back one bucket until
 * an empty bucket or an entry at its home. */
static void larder_ghost_delete(larder_ghost *ghost, uint32_t hole)
{
    for (uint32_t j = larder_ghost_next(ghost, hole); ghost->table[j] != 0; j = larder_ghost_next(ghost, j)) {
        if (larder_ghost_distance(ghost, ghost->table[j], j) == 0) break;
        ghost->table[hole] = ghost->table[j];
        hole = j;
    }
    ghost->table[hole] = 0;
}

/* Files `f`, displacing any entry nearer its home than `f` has come. */
static void larder_ghost_file(larder_ghost *ghost, uint32_t f)
{
    uint32_t i = larder_ghost_home(ghost, f);
    for (uint32_t distance = 0;; distance++, i = larder_ghost_next(ghost, i)) {
        uint32_t g = ghost->table[i];
        if (g == 0) {
            ghost->table[i] = f;
            return;
        }
        uint32_t theirs = larder_ghost_distance(ghost, g, i);
        if (theirs < distance) {
            ghost->table[i] = f;
            f = g;
            distance = theirs;
        }
    }
}

int larder_ghost_take(larder_ghost *ghost, uint64_t hash)
{
    if (ghost->ring_size == 0) return 0;
    uint32_t bucket = larder_ghost_find(ghost, larder_ghost_fingerprint(hash));
    if (bucket == LARDER_NIL) return 0;
    larder_ghost_delete(ghost, bucket);
    return 1;
}

/* Starts loading the home bucket of `hash`'s fingerprint: the ghost check
 * of an insert, or the filing of a victim, a few cache misses later. */
void larder_ghost_prefetch(const larder_ghost *ghost, uint64_t hash)
{
#if defined(__GNUC__) || defined(__clang__)
    if (ghost->table_size) __builtin_prefetch(&ghost->table[larder_ghost_home(ghost, larder_ghost_fingerprint(hash))], 1);
#else
    (void)ghost;
    (void)hash;
#endif
}

/* Starts loading the home bucket of the oldest record, which the next add
 * at the limit forgets (its fingerprint is in the ring, read sequentially). */
void larder_ghost_prefetch_oldest(const larder_ghost *ghost)
{
#if defined(__GNUC__) || defined(__clang__)
    if (ghost->count) __builtin_prefetch(&ghost->table[larder_ghost_home(ghost, ghost->ring[ghost->tail])], 1);
#else
    (void)ghost;
#endif
}

/* Forgets the oldest record. */
static void larder_ghost_pop(larder_ghost *ghost)
{
    uint32_t f = ghost->ring[ghost->tail];
    ghost->ring[ghost->tail] = 0;
    ghost->tail = ghost->tail + 1u == ghost->ring_size ? 0u : ghost->tail + 1u;
    ghost->count--;
    uint32_t bucket = larder_ghost_find(ghost, f);
    if (bucket != LARDER_NIL) larder_ghost_delete(ghost, bucket);
}

void larder_ghost_add(larder_ghost *ghost, uint64_t hash, uint32_t limit)
{
    if (limit > ghost->ring_size) limit = ghost->ring_size;
    if (limit == 0) return;
    while (ghost->count >= limit) larder_ghost_pop(ghost);
    uint32_t f = larder_ghost_fingerprint(hash);
    uint32_t at = ghost->tail + ghost->count;
    if (at >= ghost->ring_size) at -= ghost->ring_size;
    ghost->ring[at] = f;
    ghost->count++;
    larder_ghost_file(ghost, f);
}

/* Ring: `count` records from `tail`, none zero, the rest zero. Table: no
 * more copies than ring records, each reachable from its home (no empty
 * bucket between them), and Robin Hood's order: along a run, an entry is at
 * most one bucket further from its home than the entry before it. */
int larder_ghost_check(const larder_ghost *ghost)
{
    if (ghost->count > ghost->ring_size || (ghost->ring_size && ghost->tail >= ghost->ring_size))
        return LARDER_CHECK_GHOST;
    if (ghost->ring_size == 0) return 0;
    if (ghost->table_size <= ghost->ring_size) return LARDER_CHECK_GHOST;
    for (uint32_t k = 0; k < ghost->ring_size; k++) {
        uint32_t i = ghost->tail + k;
        if (i >= ghost->ring_size) i -= ghost->ring_size;
        if ((ghost->ring[i] != 0) != (k < ghost->count)) return LARDER_CHECK_GHOST;
    }
    uint32_t copies = 0;
    for (uint32_t i = 0; i < ghost->table_size; i++) {
        uint32_t f = ghost->table[i];
        if (f == 0) continue;
        copies++;
        for (uint32_t j = larder_ghost_home(ghost, f); j != i; j = larder_ghost_next(ghost, j))
            if (ghost->table[j] == 0) return LARDER_CHECK_GHOST;
        uint32_t before = i == 0 ? ghost->table_size - 1u : i - 1u;
        uint32_t limit = ghost->table[before] == 0 ? 0 : larder_ghost_distance(ghost, ghost->table[before], before) + 1u;
        if (larder_ghost_distance(ghost, f, i) > limit) return LARDER_CHECK_GHOST;
    }
    if (copies > ghost->count) return LARDER_CHECK_GHOST;
    return 0;
}

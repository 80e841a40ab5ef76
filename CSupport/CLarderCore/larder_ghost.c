/*
 * larder_ghost.c — S3-FIFO's ghost queue: the hashes recently evicted from
 * the small queue, so that an entry which returns soon after goes straight
 * to the main queue. At most 8 bytes per slot.
 *
 * A ghost remembers a 32-bit fingerprint of each hash (nonzero; 0 marks an
 * empty place), never an entry. Two parts:
 *  - a ring of fingerprints in eviction order, `ring_size` of them at most
 *    (the main queue's count: the paper's bound), whose oldest is forgotten
 *    when a new one arrives at the limit;
 *  - a table of the same fingerprints for membership, in buckets of one
 *    64-byte cache line: 15 fingerprints and an overflow count. Each
 *    fingerprint has two buckets (scaled from it and from a remix of it)
 *    and goes to the emptier; only when both are full does it go to the
 *    first free place after its home bucket, counted in the overflow of
 *    each bucket it passes. A lookup scans its two buckets (a line each,
 *    compared 4 at a time, both prefetched ahead) and the run after its home
 *    only while that has overflowed; a removal empties the place and
 *    uncounts the buckets passed. Nothing moves. With one bucket per
 *    fingerprint, runs of full buckets at this load made a missed lookup
 *    scan several lines (set+evict 178 ns against 115 with two choices).
 *    (Robin Hood probing over single fingerprints, before, cost several
 *    multiplications and a shifted run per operation at the table's 82 %
 *    load: on the throughput suite's mixed workload the ghost took more
 *    instructions than the rest of the eviction.)
 * The table is a multiset: a fingerprint evicted twice is in it twice.
 *
 * A returning hash is taken out of the table (one copy) but its ring record
 * stays until it is the oldest; forgetting the oldest then removes one copy
 * of its fingerprint if one is left. So the table never holds a fingerprint
 * more often than the ring, and an entry found once does not return to main
 * a second time on the same eviction. (A copy evicted again meanwhile may be
 * forgotten with the older record: the price of keeping no ring positions.)
 * Ring and table take 4 bytes per record and per place; with the ring at the
 * main queue's count and the buckets filling the rest of 8 bytes per slot,
 * the table is at most about 87 % full.
 */
#include "larder_core_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define LARDER_GHOST_WAYS 15u              /* fingerprints per bucket */
#define LARDER_GHOST_OVERFLOW LARDER_GHOST_WAYS  /* the word holding the overflow count */

static inline uint32_t larder_bit_count(uint32_t mask)
{
#if defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_popcount(mask);
#else
    uint32_t n = 0;
    for (; mask; mask &= mask - 1u) n++;
    return n;
#endif
}

static inline uint32_t larder_lowest_bit(uint32_t mask)
{
#if defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_ctz(mask);
#else
    uint32_t i = 0;
    while (!(mask & 1u)) mask >>= 1, i++;
    return i;
#endif
}

void larder_ghost_sizes(uint32_t capacity, uint32_t ring_size, uint32_t *table_size)
{
    /* 4 * (ring + table) <= 8 * capacity, in whole buckets, but enough for a
     * full ring and one more (so an insert always finds a place). */
    if (ring_size == 0) {
        *table_size = 0;
        return;
    }
    uint32_t buckets = (2u * capacity - ring_size) / LARDER_GHOST_BUCKET_WORDS;
    uint32_t needed = ring_size / LARDER_GHOST_WAYS + 1u;
    *table_size = (buckets > needed ? buckets : needed) * LARDER_GHOST_BUCKET_WORDS;
}

void larder_ghost_init(larder_ghost *ghost, uint32_t *ring, uint32_t *table, uint32_t ring_size, uint32_t table_size)
{
    ghost->ring = ring;
    ghost->table = table;
    ghost->ring_size = ring_size;
    ghost->table_size = table_size;
    ghost->buckets = table_size / LARDER_GHOST_BUCKET_WORDS;
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
    return (uint32_t)(((uint64_t)f * ghost->buckets) >> 32);
}

/* The second choice: another bucket from the same fingerprint, remixed. */
static inline uint32_t larder_ghost_other(const larder_ghost *ghost, uint32_t f)
{
    uint32_t g = (f ^ (f >> 16)) * 0x9E3779B1u;
    return (uint32_t)(((uint64_t)g * ghost->buckets) >> 32);
}

static inline uint32_t larder_ghost_next(const larder_ghost *ghost, uint32_t b)
{
    return b + 1u == ghost->buckets ? 0u : b + 1u;
}

static inline uint32_t *larder_ghost_bucket(const larder_ghost *ghost, uint32_t b)
{
    return ghost->table + (size_t)b * LARDER_GHOST_BUCKET_WORDS;
}

/* Bit i set where fingerprint place i of `bucket` holds `f` (0: the empty ones). */
static inline uint32_t larder_ghost_match(const uint32_t *bucket, uint32_t f)
{
#if defined(__SSE2__)
    /* Four compares of 4 words, narrowed (saturating packs keep 0 and -1)
     * to 16 bytes for one movemask. */
    __m128i key = _mm_set1_epi32((int)f);
    const __m128i *line = (const __m128i *)(const void *)bucket;
    __m128i c0 = _mm_cmpeq_epi32(_mm_load_si128(line), key), c1 = _mm_cmpeq_epi32(_mm_load_si128(line + 1), key);
    __m128i c2 = _mm_cmpeq_epi32(_mm_load_si128(line + 2), key), c3 = _mm_cmpeq_epi32(_mm_load_si128(line + 3), key);
    __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(c0, c1), _mm_packs_epi32(c2, c3));
    return (uint32_t)_mm_movemask_epi8(bytes) & ((1u << LARDER_GHOST_WAYS) - 1u);
#else
    uint32_t mask = 0;
    for (uint32_t i = 0; i < LARDER_GHOST_WAYS; i++) mask |= (uint32_t)(bucket[i] == f) << i;
    return mask;
#endif
}

/* Where a copy of `f` is (its bucket; *way its place), or LARDER_NIL: its
 * two buckets, then, while they have overflowed, the run after its home. */
static uint32_t larder_ghost_find(const larder_ghost *ghost, uint32_t f, uint32_t *way)
{
    uint32_t home = larder_ghost_home(ghost, f), other = larder_ghost_other(ghost, f);
    const uint32_t *bucket = larder_ghost_bucket(ghost, home);
    uint32_t mask = larder_ghost_match(bucket, f);
    if (mask) {
        *way = larder_lowest_bit(mask);
        return home;
    }
    mask = larder_ghost_match(larder_ghost_bucket(ghost, other), f);
    if (mask) {
        *way = larder_lowest_bit(mask);
        return other;
    }
    uint32_t b = home;
    for (uint32_t visited = 1; visited < ghost->buckets && bucket[LARDER_GHOST_OVERFLOW] != 0; visited++) {
        b = larder_ghost_next(ghost, b);
        bucket = larder_ghost_bucket(ghost, b);
        mask = larder_ghost_match(bucket, f);
        if (mask) {
            *way = larder_lowest_bit(mask);
            return b;
        }
    }
    return LARDER_NIL;
}

/* Empties place `way` of bucket `at`, which holds `f`; a copy outside its
 * two buckets went there along the run from its home, which uncounts it. */
static void larder_ghost_delete(larder_ghost *ghost, uint32_t f, uint32_t at, uint32_t way)
{
    larder_ghost_bucket(ghost, at)[way] = 0;
    uint32_t home = larder_ghost_home(ghost, f);
    if (at == home || at == larder_ghost_other(ghost, f)) return;
    for (uint32_t b = home; b != at; b = larder_ghost_next(ghost, b))
        larder_ghost_bucket(ghost, b)[LARDER_GHOST_OVERFLOW]--;
}

/* Files `f` in the emptier of its two buckets, or when both are full in the
 * first free place after its home, counted in the overflow of every bucket
 * it passes (never in its other bucket: that one is full). */
static void larder_ghost_file(larder_ghost *ghost, uint32_t f)
{
    uint32_t home = larder_ghost_home(ghost, f);
    uint32_t *bucket = larder_ghost_bucket(ghost, home);
    uint32_t *other = larder_ghost_bucket(ghost, larder_ghost_other(ghost, f));
    uint32_t free_home = larder_ghost_match(bucket, 0), free_other = larder_ghost_match(other, 0);
    if (free_home | free_other) {
        if (larder_bit_count(free_other) > larder_bit_count(free_home)) bucket = other, free_home = free_other;
        bucket[larder_lowest_bit(free_home)] = f;
        return;
    }
    for (uint32_t b = home;;) {
        bucket[LARDER_GHOST_OVERFLOW]++;
        b = larder_ghost_next(ghost, b);
        bucket = larder_ghost_bucket(ghost, b);
        uint32_t free_places = larder_ghost_match(bucket, 0);
        if (free_places) {
            bucket[larder_lowest_bit(free_places)] = f;
            return;
        }
    }
}

int larder_ghost_take(larder_ghost *ghost, uint64_t hash)
{
    if (ghost->ring_size == 0) return 0;
    uint32_t f = larder_ghost_fingerprint(hash), way;
    uint32_t at = larder_ghost_find(ghost, f, &way);
    if (at == LARDER_NIL) return 0;
    larder_ghost_delete(ghost, f, at, way);
    return 1;
}

/* Starts loading the home bucket of `hash`'s fingerprint: the ghost check
 * of an insert, or the filing of a victim, a few cache misses later. */
void larder_ghost_prefetch(const larder_ghost *ghost, uint64_t hash)
{
#if defined(__GNUC__) || defined(__clang__)
    if (ghost->buckets) {
        uint32_t f = larder_ghost_fingerprint(hash);
        __builtin_prefetch(larder_ghost_bucket(ghost, larder_ghost_home(ghost, f)), 1);
        __builtin_prefetch(larder_ghost_bucket(ghost, larder_ghost_other(ghost, f)), 1);
    }
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
    if (ghost->count) {
        uint32_t f = ghost->ring[ghost->tail];
        __builtin_prefetch(larder_ghost_bucket(ghost, larder_ghost_home(ghost, f)), 1);
        __builtin_prefetch(larder_ghost_bucket(ghost, larder_ghost_other(ghost, f)), 1);
    }
#else
    (void)ghost;
#endif
}

/* Forgets the oldest record. */
static void larder_ghost_pop(larder_ghost *ghost)
{
    uint32_t f = ghost->ring[ghost->tail], way;
    ghost->ring[ghost->tail] = 0;
    ghost->tail = ghost->tail + 1u == ghost->ring_size ? 0u : ghost->tail + 1u;
    ghost->count--;
    uint32_t at = larder_ghost_find(ghost, f, &way);
    if (at != LARDER_NIL) larder_ghost_delete(ghost, f, at, way);
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

/* Ring: `count` records from `tail`, none zero, the rest zero. Table: room
 * for the ring and one more; no more copies than ring records; every bucket
 * a copy passed on its way from home has overflowed, and the overflow counts
 * add up to the buckets passed. */
int larder_ghost_check(const larder_ghost *ghost)
{
    if (ghost->count > ghost->ring_size || (ghost->ring_size && ghost->tail >= ghost->ring_size))
        return LARDER_CHECK_GHOST;
    if (ghost->ring_size == 0) return 0;
    if (ghost->table_size != ghost->buckets * LARDER_GHOST_BUCKET_WORDS ||
        (uint64_t)ghost->buckets * LARDER_GHOST_WAYS <= ghost->ring_size)
        return LARDER_CHECK_GHOST;
    for (uint32_t k = 0; k < ghost->ring_size; k++) {
        uint32_t i = ghost->tail + k;
        if (i >= ghost->ring_size) i -= ghost->ring_size;
        if ((ghost->ring[i] != 0) != (k < ghost->count)) return LARDER_CHECK_GHOST;
    }
    uint64_t copies = 0, passed = 0, overflow = 0;
    for (uint32_t b = 0; b < ghost->buckets; b++) {
        const uint32_t *bucket = larder_ghost_bucket(ghost, b);
        overflow += bucket[LARDER_GHOST_OVERFLOW];
        for (uint32_t w = 0; w < LARDER_GHOST_WAYS; w++) {
            uint32_t f = bucket[w];
            if (f == 0) continue;
            copies++;
            if (b == larder_ghost_other(ghost, f)) continue;  /* filed in its second bucket */
            for (uint32_t j = larder_ghost_home(ghost, f); j != b; j = larder_ghost_next(ghost, j)) {
                if (larder_ghost_bucket(ghost, j)[LARDER_GHOST_OVERFLOW] == 0) return LARDER_CHECK_GHOST;
                passed++;
            }
        }
    }
    if (copies > ghost->count || passed != overflow) return LARDER_CHECK_GHOST;
    return 0;
}

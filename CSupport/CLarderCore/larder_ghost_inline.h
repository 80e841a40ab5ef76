/*
 * larder_ghost_inline.h — the ghost's per-eviction functions (larder_ghost.c
 * describes the ghost and has the rest): a lookup that takes a record, and
 * an addition. Inlined into S3-FIFO's eviction, which calls each once per
 * eviction (with the swap inlined too, larder_core_swap has the figures).
 */
#ifndef LARDER_GHOST_INLINE_H
#define LARDER_GHOST_INLINE_H

#include "larder_core_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define LARDER_GHOST_STAMP_BITS 12u
#define LARDER_GHOST_STAMP_MASK ((1u << LARDER_GHOST_STAMP_BITS) - 1u)
/* The longest window, in stamps: a quarter of the stamps' range. */
#define LARDER_GHOST_WINDOW_MAX 1024u
/* The cursor word: the place the next addition writes in its low bits, the
 * epoch of the bucket's last sweep above them (see larder_ghost.c). */
#define LARDER_GHOST_PLACE_BITS 4u
#define LARDER_GHOST_PLACE_MASK ((1u << LARDER_GHOST_PLACE_BITS) - 1u)
#define LARDER_GHOST_EPOCH_MASK (UINT32_MAX >> LARDER_GHOST_PLACE_BITS)
/* An addition sweeps its bucket when the last sweep is this many stamps old. */
#define LARDER_GHOST_SWEEP_AGE LARDER_GHOST_WINDOW_MAX
/* A bucket last swept this many stamps ago holds only dead records. */
#define LARDER_GHOST_STALE_AGE (3u * LARDER_GHOST_WINDOW_MAX)

static inline uint32_t larder_ghost_fingerprint(uint64_t mixed)
{
    uint32_t f = (uint32_t)(mixed >> (64u - (32u - LARDER_GHOST_STAMP_BITS)));
    return f != 0 ? f : 1u;
}

/* The current stamp. */
static inline uint32_t larder_ghost_now(const larder_ghost *ghost) { return ghost->epoch & LARDER_GHOST_STAMP_MASK; }

/* A record's age in stamps. */
static inline uint32_t larder_ghost_age(const larder_ghost *ghost, uint32_t word)
{
    return (larder_ghost_now(ghost) - word) & LARDER_GHOST_STAMP_MASK;
}

static inline int larder_ghost_alive(const larder_ghost *ghost, uint32_t word)
{
    return word != 0 && larder_ghost_age(ghost, word) < ghost->window;
}

/* Bit i set where place i of `bucket` holds fingerprint `f`, alive or not
 * (the cursor's bit, 15, is the caller's to clear). */
static inline uint32_t larder_ghost_match(const uint32_t *bucket, uint32_t f)
{
#if defined(__SSE2__)
    __m128i key = _mm_set1_epi32((int)f);
    const __m128i *line = (const __m128i *)(const void *)bucket;
    __m128i c0 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(line), LARDER_GHOST_STAMP_BITS), key);
    __m128i c1 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(line + 1), LARDER_GHOST_STAMP_BITS), key);
    __m128i c2 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(line + 2), LARDER_GHOST_STAMP_BITS), key);
    __m128i c3 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(line + 3), LARDER_GHOST_STAMP_BITS), key);
    __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(c0, c1), _mm_packs_epi32(c2, c3));
    return (uint32_t)_mm_movemask_epi8(bytes);
#else
    uint32_t mask = 0;
    for (uint32_t i = 0; i < LARDER_GHOST_BUCKET_WORDS; i++) mask |= (uint32_t)((bucket[i] >> LARDER_GHOST_STAMP_BITS) == f) << i;
    return mask;
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

/* Stamps since `bucket` was last swept. */
static inline uint32_t larder_ghost_since_sweep(const larder_ghost *ghost, const uint32_t *bucket)
{
    return (ghost->epoch - (bucket[LARDER_GHOST_CURSOR] >> LARDER_GHOST_PLACE_BITS)) & LARDER_GHOST_EPOCH_MASK;
}

static inline int larder_ghost_take(larder_ghost *ghost, uint64_t hash)
{
    if (ghost->max_records == 0) return 0;
    uint64_t mixed = larder_ghost_mix(hash);
    uint32_t *bucket = larder_ghost_bucket_of(ghost, mixed);
    /* Swept that long ago, every record is dead, and a stamp may have wrapped. */
    if (larder_ghost_since_sweep(ghost, bucket) >= LARDER_GHOST_STALE_AGE) return 0;
    uint32_t places = (1u << LARDER_GHOST_CURSOR) - 1u;
    for (uint32_t mask = larder_ghost_match(bucket, larder_ghost_fingerprint(mixed)) & places; mask; mask &= mask - 1u) {
        uint32_t i = larder_lowest_bit(mask);
        if (larder_ghost_alive(ghost, bucket[i])) {
            bucket[i] = 0;
            return 1;
        }
    }
    return 0;
}

#if defined(__SSE2__)
/* Per word of one 16-byte quarter of a bucket: all ones where the record is
 * alive. Ages are below 4096 and the window at most 1024, so the signed
 * comparison is exact. */
static inline __m128i larder_ghost_alive4(__m128i word, __m128i now, __m128i window)
{
    __m128i age = _mm_and_si128(_mm_sub_epi32(now, word), _mm_set1_epi32((int)LARDER_GHOST_STAMP_MASK));
    return _mm_andnot_si128(_mm_cmpeq_epi32(word, _mm_setzero_si128()), _mm_cmplt_epi32(age, window));
}
#endif

/* Empties the places of `bucket` whose records are dead; the cursor stays. */
static inline void larder_ghost_sweep_bucket(const larder_ghost *ghost, uint32_t *bucket)
{
#if defined(__SSE2__)
    __m128i now = _mm_set1_epi32((int)larder_ghost_now(ghost)), window = _mm_set1_epi32((int)ghost->window);
    __m128i *line = (__m128i *)(void *)bucket;
    for (int k = 0; k < 4; k++) {
        __m128i word = _mm_load_si128(line + k), keep = larder_ghost_alive4(word, now, window);
        if (k == 3) keep = _mm_or_si128(keep, _mm_set_epi32(-1, 0, 0, 0));  /* the cursor, place 15 */
        _mm_store_si128(line + k, _mm_and_si128(word, keep));
    }
#else
    for (uint32_t i = 0; i < LARDER_GHOST_CURSOR; i++)
        if (!larder_ghost_alive(ghost, bucket[i])) bucket[i] = 0u;
#endif
}

static inline void larder_ghost_add(larder_ghost *ghost, uint64_t hash, uint32_t limit)
{
    if (ghost->max_records == 0) return;
    if (limit > ghost->max_records) limit = ghost->max_records;
    if (limit != ghost->limit) {  /* a division spared on most additions */
        ghost->limit = limit;
        ghost->window = (uint32_t)(((uint64_t)limit + ghost->unit - 1u) / ghost->unit);
    }
    if (--ghost->unit_left == 0) {
        ghost->unit_left = ghost->unit;
        ghost->epoch = (ghost->epoch + 1u) & LARDER_GHOST_EPOCH_MASK;
    }
    if (limit == 0) return;
    uint64_t mixed = larder_ghost_mix(hash);
    uint32_t *bucket = larder_ghost_bucket_of(ghost, mixed);
    uint32_t cursor = bucket[LARDER_GHOST_CURSOR];
    uint32_t since = larder_ghost_since_sweep(ghost, bucket);
    if (since >= LARDER_GHOST_SWEEP_AGE) {
        /* Sweep this line while it is here (see larder_ghost.c): every
         * record a stale bucket holds is dead, and in any other the ages
         * are still exact. */
        if (since >= LARDER_GHOST_STALE_AGE) {
            for (uint32_t i = 0; i < LARDER_GHOST_CURSOR; i++) bucket[i] = 0u;
        } else {
            larder_ghost_sweep_bucket(ghost, bucket);
        }
        cursor = (cursor & LARDER_GHOST_PLACE_MASK) | ghost->epoch << LARDER_GHOST_PLACE_BITS;
    }
    uint32_t place = cursor & LARDER_GHOST_PLACE_MASK;
    bucket[place] = larder_ghost_fingerprint(mixed) << LARDER_GHOST_STAMP_BITS | larder_ghost_now(ghost);
    bucket[LARDER_GHOST_CURSOR] = (cursor & ~LARDER_GHOST_PLACE_MASK) | (place + 1u == LARDER_GHOST_CURSOR ? 0u : place + 1u);
}

#endif

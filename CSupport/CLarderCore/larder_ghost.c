/*
 * larder_ghost.c — S3-FIFO's ghost queue: the hashes recently evicted from
 * the small queue, so that an entry which returns soon after goes straight
 * to the main queue. 8 bytes per slot.
 *
 * The paper's ghost is a FIFO of the last `limit` evicted hashes (`limit`:
 * the main queue's count). Here a record is a 32-bit word in a table of
 * 64-byte buckets: 15 places and a cursor. A record's upper 20 bits are a
 * fingerprint of the hash (nonzero; a zero word is an empty place), its
 * lower 12 bits a stamp, the eviction clock when it was added. The clock
 * advances one stamp per `unit` additions (unit = max records / 1024,
 * rounded up, at least 1), and a record is alive while its age, in stamps,
 * is below the window ceil(limit / unit): the last `limit` additions, to
 * within one unit (0.1 % of the limit). A dead record is an empty place.
 *
 * So an addition writes one line and a lookup reads one; nothing is ever
 * forgotten explicitly. An addition writes the place under its bucket's
 * cursor and moves the cursor on (place 15 holds it, below 15, so no
 * fingerprint matches it): each bucket is a small FIFO of its own. Choosing
 * the first dead place instead (each place's age tested against the window)
 * cost about 34 instructions more per addition for nearly the same records
 * kept: a bucket averages 7 additions per window (a bucket per 8 slots of
 * capacity, at most 0.9 records per slot alive), so the cursor overwrites a
 * live record only where a bucket takes 15 additions in one window, about 1
 * in 140 additions (1 in 320 lost a record early when the first dead place
 * was chosen; the hit-ratio suite's S3-FIFO means are the same). Why
 * not one FIFO ring of the records beside the table: each addition at the
 * limit would also find and remove the oldest record in the table, two
 * lines more (measured: about 35 ns of a 125 ns set+evict with a ring and
 * two-bucket lookups).
 *
 * Stamps wrap after 4096, and a bucket few hashes reach keeps its records
 * long. So that a dead record never looks alive again, every fourth
 * addition also sweeps one bucket, emptying its dead places: the sweep
 * passes every bucket within 4 * `buckets` additions (capacity / 2, at most
 * 569 stamps, as max records is main's 90 % of capacity), so a dead record
 * is emptied before its age passes 1024 + 569 stamps, long before it could
 * wrap (larder_ghost_check holds every age below 2048). Sweeping at every
 * addition touched a fourth line per miss for no gain.
 *
 * A taken record is emptied: an entry found once does not return to main a
 * second time. The table is a multiset: a fingerprint evicted twice is in
 * it twice.
 */
#include "larder_core_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define LARDER_GHOST_STAMP_BITS 12u
#define LARDER_GHOST_STAMP_MASK ((1u << LARDER_GHOST_STAMP_BITS) - 1u)
/* The longest window, in stamps: a quarter of the stamps' range. */
#define LARDER_GHOST_WINDOW_MAX 1024u
/* Additions per bucket swept (see the file comment). */
#define LARDER_GHOST_SWEEP_EVERY 4u

void larder_ghost_sizes(uint32_t capacity, uint32_t max_records, uint32_t *table_size)
{
    /* 8 bytes per slot: two places, in whole buckets, at least one. */
    if (max_records == 0) {
        *table_size = 0;
        return;
    }
    uint32_t buckets = (uint32_t)(2u * (uint64_t)capacity / LARDER_GHOST_BUCKET_WORDS);
    *table_size = (buckets > 0 ? buckets : 1u) * LARDER_GHOST_BUCKET_WORDS;
}

void larder_ghost_init(larder_ghost *ghost, uint32_t *table, uint32_t max_records, uint32_t table_size)
{
    ghost->table = table;
    ghost->table_size = table_size;
    ghost->buckets = table_size / LARDER_GHOST_BUCKET_WORDS;
    ghost->max_records = max_records;
    ghost->unit = max_records > LARDER_GHOST_WINDOW_MAX
                      ? (uint32_t)(((uint64_t)max_records + LARDER_GHOST_WINDOW_MAX - 1u) / LARDER_GHOST_WINDOW_MAX)
                      : 1u;
    ghost->unit_left = ghost->unit;
    ghost->now = 0;
    ghost->window = 0;
    ghost->limit = 0;
    ghost->sweep = 0;
    ghost->sweep_wait = LARDER_GHOST_SWEEP_EVERY;
    for (uint32_t i = 0; i < table_size; i++) table[i] = 0;
}

static inline uint32_t larder_ghost_fingerprint(uint64_t mixed)
{
    uint32_t f = (uint32_t)(mixed >> (64u - (32u - LARDER_GHOST_STAMP_BITS)));
    return f != 0 ? f : 1u;
}

/* A record's age in stamps. */
static inline uint32_t larder_ghost_age(const larder_ghost *ghost, uint32_t word)
{
    return (ghost->now - word) & LARDER_GHOST_STAMP_MASK;
}

static inline int larder_ghost_alive(const larder_ghost *ghost, uint32_t word)
{
    return word != 0 && larder_ghost_age(ghost, word) < ghost->window;
}

/* Bit i set where place i of `bucket` holds fingerprint `f`, alive or not
 * (never the cursor: its fingerprint bits are zero). */
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

int larder_ghost_take(larder_ghost *ghost, uint64_t hash)
{
    if (ghost->max_records == 0) return 0;
    uint64_t mixed = larder_ghost_mix(hash);
    uint32_t *bucket = larder_ghost_bucket_of(ghost, mixed);
    for (uint32_t mask = larder_ghost_match(bucket, larder_ghost_fingerprint(mixed)); mask; mask &= mask - 1u) {
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
    __m128i now = _mm_set1_epi32((int)ghost->now), window = _mm_set1_epi32((int)ghost->window);
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

void larder_ghost_add(larder_ghost *ghost, uint64_t hash, uint32_t limit)
{
    if (ghost->max_records == 0) return;
    if (limit > ghost->max_records) limit = ghost->max_records;
    if (limit != ghost->limit) {  /* a division spared on most additions */
        ghost->limit = limit;
        ghost->window = (uint32_t)(((uint64_t)limit + ghost->unit - 1u) / ghost->unit);
    }
    if (--ghost->unit_left == 0) {
        ghost->unit_left = ghost->unit;
        ghost->now = (ghost->now + 1u) & LARDER_GHOST_STAMP_MASK;
    }
    if (limit > 0) {
        uint64_t mixed = larder_ghost_mix(hash);
        uint32_t *bucket = larder_ghost_bucket_of(ghost, mixed);
        uint32_t place = bucket[LARDER_GHOST_CURSOR];
        bucket[place] = larder_ghost_fingerprint(mixed) << LARDER_GHOST_STAMP_BITS | ghost->now;
        bucket[LARDER_GHOST_CURSOR] = place + 1u == LARDER_GHOST_CURSOR ? 0u : place + 1u;
    }
    /* The sweep: empty the dead places of one bucket (see the file comment). */
    if (--ghost->sweep_wait == 0) {
        ghost->sweep_wait = LARDER_GHOST_SWEEP_EVERY;
        larder_ghost_sweep_bucket(ghost, ghost->table + (size_t)ghost->sweep * LARDER_GHOST_BUCKET_WORDS);
        ghost->sweep = ghost->sweep + 1u == ghost->buckets ? 0u : ghost->sweep + 1u;
    }
}

/* The clock's fields in range; every cursor below 15; every record's
 * fingerprint nonzero and its age far from wrapping (dead records are swept
 * within one pass). */
int larder_ghost_check(const larder_ghost *ghost)
{
    if (ghost->max_records == 0) return ghost->table_size == 0 ? 0 : LARDER_CHECK_GHOST;
    if (ghost->table_size != ghost->buckets * LARDER_GHOST_BUCKET_WORDS || ghost->buckets == 0 ||
        ghost->sweep >= ghost->buckets || ghost->now > LARDER_GHOST_STAMP_MASK || ghost->sweep_wait == 0 ||
        ghost->sweep_wait > LARDER_GHOST_SWEEP_EVERY)
        return LARDER_CHECK_GHOST;
    if (ghost->unit == 0 || ghost->unit_left == 0 || ghost->unit_left > ghost->unit ||
        (uint64_t)ghost->unit * LARDER_GHOST_WINDOW_MAX < ghost->max_records || ghost->window > LARDER_GHOST_WINDOW_MAX)
        return LARDER_CHECK_GHOST;
    for (uint32_t i = 0; i < ghost->table_size; i++) {
        uint32_t word = ghost->table[i];
        if (i % LARDER_GHOST_BUCKET_WORDS == LARDER_GHOST_CURSOR) {
            if (word >= LARDER_GHOST_CURSOR) return LARDER_CHECK_GHOST;
            continue;
        }
        if (word == 0) continue;
        if ((word >> LARDER_GHOST_STAMP_BITS) == 0) return LARDER_CHECK_GHOST;
        if (larder_ghost_age(ghost, word) > LARDER_GHOST_STAMP_MASK / 2u) return LARDER_CHECK_GHOST;
    }
    return 0;
}

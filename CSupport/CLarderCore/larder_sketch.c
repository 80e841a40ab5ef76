/*
 * larder_sketch.c — W-TinyLFU's frequency sketch: how often each hash was
 * requested lately, in 8 bytes per slot.
 *
 * A count-min sketch of 4-bit counters, after Caffeine's FrequencySketch:
 * each hash picks one 64-byte block (8 words of sixteen counters) and in it
 * four counters, one in each pair of words, so that an increment or an
 * estimate touches one cache line. The estimate is the smallest of the four
 * (collisions only ever add). Counters saturate at 15.
 *
 * What it counts: misses (inserts and declined newcomers), and the hits
 * of resident entries, which W-TinyLFU counts in each entry's state byte
 * (4 bits of a byte per slot, larder_slot_states) and adds here
 * when the entry leaves or the counts age (larder_sketch_add). So a hit
 * touches no line of the sketch; a resident's frequency is this table's
 * estimate plus its own count (larder_wtinylfu_counts.c).
 *
 * The functions a request calls (estimate, increment, add, prefetch) are
 * in larder_sketch_inline.h, inlined into the policy's miss path, with the
 * memo of main's victim's estimate that each write to a block and each
 * halving here ends (larder_sketch_memo_frequency).
 *
 * Aging: after `sample` counted increments (10 per entry of population,
 * Caffeine's period) every counter, here and in the resident entries, is
 * halved, so that old popularity fades and a key asked for often long ago
 * does not outrank today's. The increments that moved a counter are the
 * sample; halving also halves the sample's count and then takes off a
 * quarter of the odd counters (their lost halves, four counters a
 * request), as Caffeine 2.6 does, so that the next period starts from the
 * history that remains. Subtracting before halving, as later Caffeine
 * versions do, starts the next period with more of it counted, so the
 * next aging comes sooner: on a loop eight times the cache (lirs_scan at
 * 250 entries) 0.6-1.0 point fewer hits. This file halves the table and
 * reports its odd counters; the policy first adds the residents' counts
 * and keeps the period's count (larder_wtinylfu_age).
 *
 * No doorkeeper: TinyLFU's doorkeeper (a Bloom filter that absorbs each
 * key's first request) lets the counters be fewer for the same accuracy, but
 * it must remember every distinct key of a sample period (up to 10 per slot)
 * to be of use, and carved out of the same bytes a slot it would
 * saturate. Its job, keeping one-hit wonders out of main, is done by the
 * admission rule (a candidate must be asked for strictly more often than
 * main's victim) and by the lazy start (larder_wtinylfu_inline.h), which
 * keeps a filling cache's one-offs out of the counts. Variants measured on
 * the LIRS/ARC traces: Caffeine 2.6's four independent rows (a cache line
 * each) equal to these blocks in the mean over five hash seeds (48.74 and
 * 48.77 %); conservative update about a point worse; exact counts (no
 * collisions at all) no better on the small sizes where the gaps were.
 */
#include "larder_core_internal.h"

#define LARDER_SKETCH_ONE_MASK UINT64_C(0x1111111111111111)
#define LARDER_SKETCH_RESET_MASK UINT64_C(0x7777777777777777)

uint32_t larder_sketch_blocks_for(uint32_t capacity)
{
    /* 8 bytes per slot (one block per 8 slots), at least one block (64
     * bytes): 16 counters per entry, as Caffeine 2.6's sketch (a long per
     * entry of its maximum). At 6 bytes the counters shared by a loop's
     * keys let more of its candidates win admission, and the small LIRS
     * caches fell up to a point short of Caffeine (docs/Performance.md). */
    uint32_t blocks = (uint32_t)((uint64_t)capacity * 8u / 64u);
    return blocks > 0 ? blocks : 1u;
}

/* A shorter period that has already passed: the caller ages the sketch
 * until size < sample (larder_wtinylfu_age). */
void larder_sketch_set_population(larder_sketch *sketch, uint32_t population)
{
    sketch->population = population > 0 ? population : 1u;
    sketch->sample = 10u * (uint64_t)sketch->population;
}

void larder_sketch_init(larder_sketch *sketch, uint64_t *table, uint32_t blocks, uint32_t population)
{
    sketch->table = table;
    sketch->blocks = blocks;
    sketch->size = 0;
    sketch->memo_block = LARDER_SKETCH_NO_MEMO;
    sketch->memo_slot = 0;
    sketch->memo_estimate = 0;
    larder_sketch_set_population(sketch, population);
    for (uint64_t i = 0; i < (uint64_t)blocks * 8u; i++) table[i] = 0;
}

static inline uint64_t larder_popcount(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (uint64_t)__builtin_popcountll(x);
#else
    uint64_t n = 0;
    for (; x; x &= x - 1u) n++;
    return n;
#endif
}

/* Halves every counter of the table; returns how many were odd (see the
 * file comment). */
uint64_t larder_sketch_halve(larder_sketch *sketch)
{
    uint64_t odd = 0;
    sketch->memo_block = LARDER_SKETCH_NO_MEMO;
    for (uint64_t i = 0; i < (uint64_t)sketch->blocks * 8u; i++) {
        uint64_t word = sketch->table[i];
        odd += larder_popcount(word & LARDER_SKETCH_ONE_MASK);
        sketch->table[i] = (word >> 1) & LARDER_SKETCH_RESET_MASK;
    }
    return odd;
}

int larder_sketch_check(const larder_sketch *sketch)
{
    if (sketch->blocks == 0 || sketch->population == 0) return LARDER_CHECK_SKETCH;
    if (sketch->sample != 10u * (uint64_t)sketch->population || sketch->size >= sketch->sample)
        return LARDER_CHECK_SKETCH;
    return 0;
}

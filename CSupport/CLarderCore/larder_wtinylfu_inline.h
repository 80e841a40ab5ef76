/*
 * larder_wtinylfu_inline.h — W-TinyLFU's list and arrival steps shared by its
 * two files: the policy's bookkeeping (larder_policy_wtinylfu.c) and its
 * eviction decision (larder_wtinylfu_evict.c). Inline, because the miss
 * path runs them at every eviction.
 */
#ifndef LARDER_WTINYLFU_INLINE_H
#define LARDER_WTINYLFU_INLINE_H

#include "larder_core_internal.h"
#include "larder_sketch_inline.h"
#include "larder_window_inline.h"
#include "larder_wtinylfu_counts_inline.h"

static inline uint32_t larder_back(const larder_core *core, uint32_t list)
{
    uint32_t s = core->nodes[larder_sentinel(core, list)].prev;
    return s < core->capacity ? s : LARDER_NIL;
}

/* The next entry toward the front of `slot`'s list, or LARDER_NIL. */
static inline uint32_t larder_toward_front(const larder_core *core, uint32_t slot)
{
    uint32_t s = core->nodes[slot].prev;
    return s < core->capacity ? s : LARDER_NIL;
}

/* Ends the eviction round (see larder_wtinylfu_evict.c). */
static inline void larder_round_end(larder_wtinylfu *w)
{
    w->phase = LARDER_ROUND_NONE;
    w->candidate = LARDER_NIL;
    w->pending = LARDER_NIL;
}

/* Moves the window's least recent entries to probation's front while the
 * window, with `count` entries of `weight` more, would exceed its limits.
 * Returns the first entry moved, or LARDER_NIL. */
static LARDER_ALWAYS_INLINE uint32_t larder_window_overflow(larder_core *core, uint32_t count, uint64_t weight)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    uint32_t first = LARDER_NIL;
    while (larder_region_over(&w->region[LARDER_WINDOW], count, weight)) {
        uint32_t s = larder_back(core, LARDER_WINDOW);
        if (s == LARDER_NIL) break;
        larder_wtinylfu_move(core, s, LARDER_PROBATION, 0);
        w->window_departures++;
        if (first == LARDER_NIL) first = s;
    }
    return first;
}

/* Caffeine's lazy start: the sketch counts nothing until the cache is half
 * full (in count, or in weight given a maximum), and from then on always.
 * While a cache fills, nothing competes for room, so the counts of the fill
 * would only make its first residents look more valuable than the keys that
 * come after them (on the LIRS traces an eager sketch loses 1-2 points at
 * small sizes for it). `count` and `weight` are the core's with the entry
 * being inserted. */
static inline void larder_wtinylfu_start_counting(larder_core *core, uint32_t count, uint64_t weight)
{
    if (count >= core->capacity / 2u || (core->max_weight != UINT64_MAX && weight >= core->max_weight / 2u))
        core->state.wtinylfu->counting = 1;
}

/* What follows a newcomer's link, given the core's count and total weight
 * with it: the sketch counts its request (from the cache's first time half
 * full), and the window's controller looks its hash up among the recent
 * departures. */
static LARDER_ALWAYS_INLINE void larder_wtinylfu_arrived(larder_core *core, uint32_t slot, uint64_t hash,
                                                         uint32_t count, uint64_t total_weight)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    if (!w->counting) larder_wtinylfu_start_counting(core, count, total_weight);
    /* The insert's estimate goes with the entry, for its admission when it
     * leaves the window (larder_carried_frequency_of); stored before the
     * request is counted, which may age it with the rest. */
    uint32_t estimate;
    if (w->counting) {
        int added = larder_sketch_increment(&w->sketch, hash, &estimate);
        larder_set_stored_estimate(core, slot, estimate);
        if (added) larder_count_requests(core, 1);
    } else {
        larder_set_stored_estimate(core, slot, larder_sketch_frequency(&w->sketch, hash));
    }
    /* With a maximum weight the sample follows the entries the cache holds. */
    if (core->max_weight != UINT64_MAX && count > w->sketch.population) {
        larder_sketch_set_population(&w->sketch, count);
        larder_wtinylfu_age(core);
    }
    if (w->rebalance) larder_window_rebalance(core);
    larder_window_miss(core, hash);
}

#endif

/*
 * larder_wtinylfu_counts_inline.h — W-TinyLFU's per-request frequency
 * functions (larder_wtinylfu_counts.c describes the counts and has the
 * aging pass), inlined into the hit and miss paths.
 */
#ifndef LARDER_WTINYLFU_COUNTS_INLINE_H
#define LARDER_WTINYLFU_COUNTS_INLINE_H

#include "larder_core_internal.h"
#include "larder_sketch_inline.h"

/* The hits counted in a resident entry since it was inserted or aged. */
static inline uint32_t larder_count_of(const larder_core *core, uint32_t slot)
{
    return larder_slot_states(core)[slot] & LARDER_WTINYLFU_COUNT_MASK;
}

static inline void larder_set_count(larder_core *core, uint32_t slot, uint32_t count)
{
    uint8_t *state = &larder_slot_states(core)[slot];
    *state = (uint8_t)((*state & ~LARDER_WTINYLFU_COUNT_MASK) | count);
}

/* A resident entry's frequency: the sketch's estimate plus its own count.
 * Asked of main's victim, whose estimate the sketch keeps between rounds
 * (larder_sketch_memo_frequency). */
static inline uint32_t larder_frequency_of(larder_core *core, uint32_t slot)
{
    uint32_t f = larder_sketch_memo_frequency(&core->state.wtinylfu->sketch, slot, &core->metas[slot].hash)
                 + larder_count_of(core, slot);
    return f < 15u ? f : 15u;
}

/* The sketch's estimate of a resident as of its insert (bits 52-55 of its
 * weight word), aged with the sketch (larder_wtinylfu_age). */
static inline uint32_t larder_stored_estimate(const larder_core *core, uint32_t slot)
{
    return (uint32_t)((core->metas[slot].word & LARDER_FREQ_MASK) >> LARDER_FREQ_SHIFT);
}

static inline void larder_set_stored_estimate(larder_core *core, uint32_t slot, uint32_t estimate)
{
    larder_meta *meta = &core->metas[slot];
    larder_meta_store_word_(meta, (meta->word & ~LARDER_FREQ_MASK) | ((uint64_t)estimate << LARDER_FREQ_SHIFT));
}

/* A resident's frequency from what it carries, with no sketch block to
 * load: its stored estimate plus its count (a window candidate's, see
 * larder_wtinylfu_counts.c). */
static inline uint32_t larder_carried_frequency_of(const larder_core *core, uint32_t slot)
{
    uint32_t f = larder_stored_estimate(core, slot) + larder_count_of(core, slot);
    return f < 15u ? f : 15u;
}

/* Adds a resident's count to the sketch; the hits that would not have moved
 * a counter there (its counters saturated) leave the period's count, as
 * they would never have entered it. */
static inline void larder_release(larder_core *core, uint32_t slot)
{
    larder_sketch *sketch = &core->state.wtinylfu->sketch;
    uint32_t count = larder_count_of(core, slot);
    if (count == 0) return;
    uint32_t moved = larder_sketch_add(sketch, core->metas[slot].hash, count);
    uint64_t idle = count - moved;
    sketch->size = sketch->size > idle ? sketch->size - idle : 0;
}

/* `n` requests counted in the period's sample (0 or 1: a hit passes 0
 * rather than branching on whether it counts). */
static inline void larder_count_requests(larder_core *core, uint32_t n)
{
    larder_sketch *sketch = &core->state.wtinylfu->sketch;
    if ((sketch->size += n) >= sketch->sample) larder_wtinylfu_age(core);
}

#endif

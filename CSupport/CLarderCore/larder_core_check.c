/*
 * larder_core_check.c — larder_core_check: every invariant of a core, for
 * tests and debugging (O(capacity + buckets), not for hot paths). The index
 * and the wheel check themselves (larder_index_check, larder_wheel_check),
 * each policy its own state (larder_wtinylfu_check, larder_s3fifo_check);
 * the lists, the arena and the regions' bookkeeping are checked here.
 */
#include "larder_core_internal.h"
#include "larder_wtinylfu_counts_inline.h"

/* The list an entry's policy bits place it in. */
static uint32_t larder_list_of(const larder_core *core, uint32_t slot)
{
    uint32_t bits = (uint32_t)(core->metas[slot].word >> LARDER_FLAG_POLICY_SHIFT);
    switch (core->policy) {
    case LARDER_POLICY_WTINYLFU: return larder_wtinylfu_region_of(core, slot);
    case LARDER_POLICY_S3FIFO: return (bits >> 2) & 1u;
    default: return bits;  /* any bit names no list */
    }
}

/* Walks each list from its sentinel through `next`, at most count + 1 steps
 * in all, into per-list counts and weights. Links agreeing both ways along
 * walks that start and end at a sentinel visit no slot twice. */
static int larder_list_check(const larder_core *core, uint32_t *counts, uint64_t *weights)
{
    const larder_node *nodes = core->nodes;
    const larder_meta *metas = core->metas;
    uint32_t capacity = core->capacity, steps = 0;
    for (uint32_t k = 0; k < core->lists; k++) {
        uint32_t sentinel = capacity + k, at = sentinel;
        counts[k] = 0;
        weights[k] = 0;
        for (;;) {
            uint32_t next = nodes[at].next;
            if ((next >= capacity && next != sentinel) || nodes[next].prev != at) return LARDER_CHECK_LIST_LINK;
            if (next == sentinel) break;
            if (!(metas[next].word & LARDER_FLAG_LIVE)) return LARDER_CHECK_LIST_NOT_LIVE;
            /* Only W-TinyLFU keeps bits between the weight and the flags (its
             * carried estimate, checked with its state). */
            if ((metas[next].word & LARDER_FREQ_MASK) && core->policy != LARDER_POLICY_WTINYLFU) return LARDER_CHECK_LIST_REGION;
            if (++steps > core->count) return LARDER_CHECK_LIST_LENGTH;
            if (larder_list_of(core, next) != k) return LARDER_CHECK_LIST_REGION;
            counts[k]++;
            weights[k] += larder_meta_weight(&metas[next]);
            at = next;
        }
    }
    if (steps != core->count) return LARDER_CHECK_LIST_LENGTH;
    return 0;
}

static int larder_arena_check(const larder_core *core)
{
    const larder_node *nodes = core->nodes;
    const larder_meta *metas = core->metas;
    uint32_t capacity = core->capacity;
    uint32_t live = 0;
    uint64_t weight = 0;
    for (uint32_t i = 0; i < capacity; i++) {
        if (metas[i].word & LARDER_FLAG_LIVE) {
            live++;
            weight += larder_meta_weight(&metas[i]);
        }
    }
    if (live != core->count) return LARDER_CHECK_LIVE_COUNT;
    if (weight != core->total_weight) return LARDER_CHECK_WEIGHT;

    /* Free list: free slots only, exactly capacity - count of them (a list
     * that ends in LARDER_NIL cannot repeat a slot). */
    uint32_t free_count = 0;
    for (uint32_t s = core->free_head; s != LARDER_NIL; s = nodes[s].next) {
        if (s >= capacity || (metas[s].word & LARDER_FLAG_LIVE)) return LARDER_CHECK_FREE_LIST;
        if (++free_count > capacity - core->count) return LARDER_CHECK_FREE_LENGTH;
        if (metas[s].word != 0) return LARDER_CHECK_FREE_STATE;
        if (core->wheel && core->wheel[s].deadline != LARDER_NO_DEADLINE) return LARDER_CHECK_FREE_STATE;
    }
    if (free_count != capacity - core->count) return LARDER_CHECK_FREE_LENGTH;
    return 0;
}

/* Each region's count and weight are those of its list. */
static int larder_regions_check(const larder_region *regions, uint32_t n, const uint32_t *counts,
                                const uint64_t *weights)
{
    for (uint32_t k = 0; k < n; k++)
        if (regions[k].count != counts[k] || regions[k].weight != weights[k]) return LARDER_CHECK_REGION;
    return 0;
}

int larder_core_check(const larder_core *core)
{
    if (core->count > core->capacity || core->policy > LARDER_POLICY_S3FIFO) return LARDER_CHECK_HEADER;
    if (core->mask < 1 || (core->mask & (core->mask + 1u)) != 0 ||
        (uint64_t)core->mask + 1u < 2 * (uint64_t)core->capacity)
        return LARDER_CHECK_HEADER;
    if (core->touch_count > LARDER_TOUCH_LAG || core->touch_head >= LARDER_TOUCH_RING) return LARDER_CHECK_TOUCHES;
    if (core->policy == LARDER_POLICY_S3FIFO && core->touch_count != 0) return LARDER_CHECK_TOUCHES;
    for (uint32_t i = 0; i < core->touch_count; i++)
        if (!larder_slot_is_live(core, core->touches[(core->touch_head + i) % LARDER_TOUCH_RING]))
            return LARDER_CHECK_TOUCHES;
    uint32_t counts[LARDER_MAX_LISTS];
    uint64_t weights[LARDER_MAX_LISTS];
    int code = larder_list_check(core, counts, weights);
    if (!code) code = larder_arena_check(core);
    /* LRU's hand: a live entry (the list walk above reached every one) while
     * any is, else NIL; other policies leave it NIL. */
    if (!code && (core->lru_hand == LARDER_NIL) != (core->policy != LARDER_POLICY_LRU || core->count == 0))
        code = LARDER_CHECK_HAND;
    if (!code && core->lru_hand != LARDER_NIL && !larder_slot_is_live(core, core->lru_hand)) code = LARDER_CHECK_HAND;
    if (!code && core->lru_front != (core->lru_hand == LARDER_NIL ? LARDER_NIL
                                     : larder_lru_older_raw(core->nodes, core->capacity, core->lru_hand)))
        code = LARDER_CHECK_HAND;
    if (!code && core->policy == LARDER_POLICY_WTINYLFU) {
        code = larder_regions_check(core->state.wtinylfu->region, 3, counts, weights);
        if (!code) code = larder_wtinylfu_check(core);
    } else if (!code && core->policy == LARDER_POLICY_S3FIFO) {
        code = larder_regions_check(core->state.s3fifo->region, 2, counts, weights);
        if (!code) code = larder_s3fifo_check(core);
    }
    if (code) return code;
    code = larder_index_check(core);
    if (code) return code;
    if (core->wheel) return larder_wheel_check(core);
    for (uint32_t i = 0; i < core->capacity; i++)
        if (core->metas[i].word & LARDER_FLAG_FILED) return LARDER_CHECK_NO_WHEEL_STATE;
    return 0;
}

/* W-TinyLFU's own state: the eviction round names live entries where it may
 * (a candidate in probation or the window, by phase), no entry carries bits
 * beyond its region and its carried estimate, which is at most the sketch's,
 * the sketch's and the window's bookkeeping agree. */
int larder_wtinylfu_check(const larder_core *core)
{
    const larder_wtinylfu *w = core->state.wtinylfu;
    if (w->phase > LARDER_ROUND_DONE) return LARDER_CHECK_ROUND;
    if (w->pending != LARDER_NIL && w->pending_phase > LARDER_ROUND_DONE) return LARDER_CHECK_ROUND;
    if (w->pending != LARDER_NIL && !larder_slot_is_live(core, w->pending)) return LARDER_CHECK_ROUND;
    /* A candidate is in probation (moved) or the window (window phase). */
    if (w->candidate != LARDER_NIL) {
        if (!larder_slot_is_live(core, w->candidate)) return LARDER_CHECK_ROUND;
        uint32_t region = larder_wtinylfu_region_of(core, w->candidate);
        if (w->phase == LARDER_ROUND_MOVED ? region != LARDER_PROBATION
                                           : (w->phase != LARDER_ROUND_WINDOW_ON || region != LARDER_WINDOW))
            return LARDER_CHECK_ROUND;
    }
    if (w->pending != LARDER_NIL && w->pending_candidate != LARDER_NIL &&
        (w->pending_candidate == w->pending || !larder_slot_is_live(core, w->pending_candidate)))
        return LARDER_CHECK_ROUND;
    for (uint32_t i = 0; i < core->capacity; i++) {
        uint64_t word = core->metas[i].word;
        /* Regions 0-2 only, in the slot's state byte; no policy bit in the
         * weight word; a free slot's state is zero. */
        uint32_t state = larder_slot_states(core)[i];
        if ((word & LARDER_FLAG_LIVE) && ((word & LARDER_FLAG_POLICY) || (state >> LARDER_WTINYLFU_REGION_SHIFT) > 2u))
            return LARDER_CHECK_LIST_REGION;
        if (!(word & LARDER_FLAG_LIVE) && state != 0) return LARDER_CHECK_LIST_REGION;
        /* A carried estimate ages with the sketch and never passes its key's
         * estimate there, which only collisions and releases raise. */
        if ((word & LARDER_FLAG_LIVE) &&
            larder_stored_estimate(core, i) > larder_sketch_frequency(&w->sketch, core->metas[i].hash))
            return LARDER_CHECK_SKETCH;
    }
    /* The victim's kept estimate is the one the sketch gives its live slot now. */
    const larder_sketch *sketch = &w->sketch;
    if (sketch->memo_block != LARDER_SKETCH_NO_MEMO) {
        uint32_t slot = sketch->memo_slot;
        if (slot >= core->capacity || !(core->metas[slot].word & LARDER_FLAG_LIVE)) return LARDER_CHECK_SKETCH;
        uint64_t mixed = larder_sketch_mix(core->metas[slot].hash);
        if (sketch->memo_block != larder_sketch_block(sketch, mixed) ||
            sketch->memo_estimate != larder_sketch_frequency_in(sketch, sketch->memo_block, mixed))
            return LARDER_CHECK_SKETCH;
    }
    int code = larder_sketch_check(sketch);
    return code ? code : larder_window_check(core);
}

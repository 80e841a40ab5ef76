/*
 * larder_policy_wtinylfu.c — W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU:
 * A Highly Efficient Cache Admission Policy"), as Caffeine runs it.
 *
 * Three LRU lists over the arena: the window (list 0), and the main region's
 * probation (1) and protected (2) segments. New entries enter the window,
 * which gives every key a short stay on recency alone. The window's overflow
 * moves to probation as candidates for main, each compared with main's
 * victim (probation's least recent) by the frequency sketch
 * (larder_sketch.c): the one asked for less often leaves. A probation entry
 * hit again is promoted to protected; protected's overflow is demoted back
 * to probation's front. So main keeps what is asked for often, and a burst
 * of one-off keys (a scan) passes through the window without flushing it.
 *
 * Admission follows Caffeine's BoundedLocalCache.evictFromMain: candidates
 * in the order they left the window, then the window's own least recent;
 * victims from probation, then protected, then the window; a tie keeps the
 * victim, and so does a lead of one against a victim asked for at most once
 * (larder_admit: Larder's own, worth up to 7 points on loops); a candidate
 * asked for at least 6 times (of 15) still wins one time in 128, so that an
 * attacker who floods a victim's counters cannot lock out every newcomer.
 * An entry heavier than the window passes straight to probation as a
 * candidate; one heavier than the maximum leaves first.
 * Caffeine evicts after inserting; here the caller evicts before inserting
 * (the arena's count is a hard limit), so larder_core_victim_for moves the
 * window's overflow as if the new entry had already joined, and judges the
 * new entry itself when it bypasses the window. Each call names one victim
 * and remembers the round (the next candidate, its source) until the caller
 * removes that victim; any other change ends the round. The usual miss,
 * through larder_core_replace_lru, is decided in one pass instead
 * (larder_wtinylfu_replace).
 *
 * Frequencies: a hit is counted in the entry, a miss in the sketch
 * (larder_wtinylfu_counts.c); a candidate leaving the window is judged by
 * the estimate it took with it at its insert.
 *
 * The window's size adapts (larder_policy_window.c). Regions are limited
 * in count and, given a maximum, in weight; an entry's region is in bits
 * 4-5 of its state byte.
 *
 * This file keeps the lists, inserts, hits and removals; the eviction
 * decision (rounds, admission, the one-pass miss) is in
 * larder_wtinylfu_evict.c, and the steps both take in
 * larder_wtinylfu_inline.h.
 */
#include "larder_wtinylfu_inline.h"

#include <string.h>

static inline uint32_t larder_region_of(const larder_core *core, uint32_t slot)
{
    return larder_wtinylfu_region_of(core, slot);
}

void larder_wtinylfu_init(larder_core *core, uint64_t *sketch_table, uint32_t sketch_blocks, uint64_t *regret_table,
                          int adapts)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    larder_sketch_init(&w->sketch, sketch_table, sketch_blocks, core->capacity);
    larder_window_regret_init(w, regret_table, larder_window_regret_slots_for(core->capacity));
    w->rng = UINT64_C(0x9E3779B97F4A7C15) ^ core->capacity;
    w->adapts = (uint8_t)(adapts ? 1 : 0);
    w->rebalance = 0;
    w->counting = 0;
    w->window_ppm = 10000;  /* Caffeine's initial 1 % */
    larder_wtinylfu_clear(core);
    larder_window_size(core);
}

void larder_wtinylfu_set_maximum(larder_core *core)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    larder_flush_for_read(core);
    /* Without a maximum the sketch samples 10 requests per slot, as Caffeine
     * (per entry of its maximum size); with one, per entry the cache holds,
     * followed upward as it fills (larder_wtinylfu_insert). */
    larder_sketch_set_population(&w->sketch, core->max_weight == UINT64_MAX ? core->capacity
                                             : core->count > 0 ? core->count : 1u);
    larder_wtinylfu_age(core);
    larder_window_size(core);
    larder_window_rebalance(core);
}

void larder_wtinylfu_clear(larder_core *core)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    for (uint32_t k = 0; k < 3; k++) {
        w->region[k].count = 0;
        w->region[k].weight = 0;
    }
    w->rebalance = 0;
    larder_round_end(w);
    w->sketch.memo_block = LARDER_SKETCH_NO_MEMO;  /* its slot is emptied */
    memset(larder_slot_states(core), 0, larder_core_slot_state_bytes(core->capacity, core->flags));
}

/* Links `slot` (unlinked) into region `to`, at its front or back, and accounts it. */
static void larder_wtinylfu_link(larder_core *core, uint32_t slot, uint32_t to, int at_back)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    larder_meta *meta = &core->metas[slot];
    uint32_t sentinel = larder_sentinel(core, to);
    larder_list_link_after(core->nodes, at_back ? core->nodes[sentinel].prev : sentinel, slot);
    uint8_t *state = &larder_slot_states(core)[slot];
    *state = (uint8_t)((*state & LARDER_WTINYLFU_COUNT_MASK) | (to << LARDER_WTINYLFU_REGION_SHIFT));
    w->region[to].count++;
    w->region[to].weight += larder_meta_weight(meta);
}

static void larder_wtinylfu_unlink(larder_core *core, uint32_t slot)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    larder_region *r = &w->region[larder_region_of(core, slot)];
    larder_list_unlink(core->nodes, slot);
    r->count--;
    r->weight -= larder_meta_weight(&core->metas[slot]);
}

void larder_wtinylfu_move(larder_core *core, uint32_t slot, uint32_t to, int at_back)
{
    larder_wtinylfu_unlink(core, slot);
    larder_wtinylfu_link(core, slot, to, at_back);
}

/* Demotes protected's least recent entries to probation's front while
 * protected exceeds its limits. */
static void larder_protected_overflow(larder_core *core)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    while (larder_region_over(&w->region[LARDER_PROTECTED], 0, 0)) {
        uint32_t s = larder_back(core, LARDER_PROTECTED);
        if (s == LARDER_NIL) break;
        larder_wtinylfu_move(core, s, LARDER_PROBATION, 0);
    }
}

void larder_wtinylfu_insert(larder_core *core, uint32_t slot, int at_back)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    const larder_meta *meta = &core->metas[slot];
    uint64_t weight = larder_meta_weight(meta);
    larder_round_end(w);
    if (at_back) {  /* a restored entry: probation's least recent, not a request */
        larder_wtinylfu_link(core, slot, LARDER_PROBATION, 1);
        larder_set_stored_estimate(core, slot, larder_sketch_frequency(&w->sketch, meta->hash));
        return;
    }
    /* The window takes any entry it can hold at all (count limit >= 1). */
    int fits = weight <= w->region[LARDER_WINDOW].max_weight;
    larder_wtinylfu_link(core, slot, fits ? LARDER_WINDOW : LARDER_PROBATION, 0);
    (void)larder_window_overflow(core, 0, 0);
    larder_wtinylfu_arrived(core, slot, meta->hash, core->count + 1u, core->total_weight + weight);
}

/* A probation entry's hit: promoted to protected unless it could never fit
 * there (Caffeine's reorderProbation). Returns whether it moved. Out of
 * line: most hits land in the window or protected. */
static int larder_wtinylfu_promote(larder_core *core, uint32_t slot)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    uint64_t weight = larder_meta_weight(&core->metas[slot]);
    const larder_region *p = &w->region[LARDER_PROTECTED];
    if (p->max_count < 1u || weight > p->max_weight) return 0;
    larder_wtinylfu_move(core, slot, LARDER_PROTECTED, 0);
    larder_protected_overflow(core);
    return 1;
}

/* A hit: counted in the entry, moved to the front of its region. Inlined
 * into the loops that apply deferred hits, with the rare work (a
 * promotion, an aging) out of line: as one call per hit, its saved
 * registers took a third of a hit's instructions. */
static LARDER_ALWAYS_INLINE void larder_wtinylfu_hit(larder_core *core, uint32_t slot)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    assert(larder_slot_is_live(core, slot));
    uint8_t *state = &larder_slot_states(core)[slot];
    uint32_t byte = *state;
    /* Counted unless its count is full, without a branch: whether it is
     * depends on the key, and a branch on it was mispredicted at one hit
     * in four. */
    uint32_t counted = (uint32_t)(w->counting != 0) &
                       (uint32_t)((byte & LARDER_WTINYLFU_COUNT_MASK) != LARDER_WTINYLFU_COUNT_MASK);
    *state = (uint8_t)(byte + counted);
    larder_count_requests(core, counted);
    larder_round_end(w);
    uint32_t region = byte >> LARDER_WTINYLFU_REGION_SHIFT;
    if (region == LARDER_PROBATION && larder_wtinylfu_promote(core, slot)) return;
    larder_node *nodes = core->nodes;
    uint32_t sentinel = larder_sentinel(core, region);
    if (nodes[sentinel].next == slot) return;
    larder_list_unlink(nodes, slot);
    larder_list_link_after(nodes, sentinel, slot);
}

/* Hits are deferred (larder_core_touch_inline): the ring's oldest is
 * applied when it overflows, and every call that reads or decides on the
 * policy's state flushes it first (larder_flush_for_read). */
void larder_core_wtinylfu_apply_oldest(larder_core *core)
{
    if (core->touch_count == 0) return;
    uint32_t slot = core->touches[core->touch_head];
    core->touch_head = (uint16_t)((core->touch_head + 1u) % LARDER_TOUCH_RING);
    core->touch_count--;
    larder_wtinylfu_hit(core, slot);
}

void larder_wtinylfu_flush(larder_core *core)
{
    uint32_t count = core->touch_count, head = core->touch_head;
    core->touch_count = 0;
    core->touch_head = (uint16_t)((head + count) % LARDER_TOUCH_RING);
    for (uint32_t i = 0; i < count; i++) larder_wtinylfu_hit(core, core->touches[(head + i) % LARDER_TOUCH_RING]);
}

void larder_wtinylfu_touch_now(larder_core *core, uint32_t slot)
{
    larder_wtinylfu_hit(core, slot);
}

void larder_wtinylfu_remove(larder_core *core, uint32_t slot)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    /* The key's requests stay on record after it leaves. */
    larder_release(core, slot);
    larder_sketch_forget(&w->sketch, slot);
    if (slot == w->pending) {
        /* The victim named last: an eviction, remembered by its side. */
        if (w->pending_side != LARDER_SIDE_NONE) larder_window_record(w, core->metas[slot].hash, w->pending_side);
        /* The round goes on where it said. */
        w->candidate = w->pending_candidate;
        w->phase = w->pending_phase;
        w->pending = LARDER_NIL;
    } else {
        w->pending = LARDER_NIL;
        if (slot == w->candidate) w->candidate = larder_toward_front(core, slot);
    }
    larder_wtinylfu_unlink(core, slot);
    larder_slot_states(core)[slot] = 0;  /* a free slot's state is zero */
}

void larder_wtinylfu_reweigh(larder_core *core, uint32_t slot, uint64_t old_weight, uint64_t weight)
{
    larder_flush_for_read(core);  /* a deferred promotion depends on the weight */
    larder_region *r = &core->state.wtinylfu->region[larder_region_of(core, slot)];
    r->weight = r->weight - old_weight + weight;
}

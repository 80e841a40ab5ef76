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
 */
#include "larder_core_internal.h"
#include "larder_sketch_inline.h"
#include "larder_window_inline.h"
#include "larder_wtinylfu_counts_inline.h"

#include <string.h>

/* A candidate asked for at least this often may win a tie-or-worse at random. */
#define LARDER_ADMIT_HASHDOS_THRESHOLD 6u
/* Against a victim asked for at most this often, a candidate must lead by two. */
#define LARDER_ADMIT_MARGIN_BELOW 1u

static inline uint32_t larder_region_of(const larder_core *core, uint32_t slot)
{
    return larder_wtinylfu_region_of(core, slot);
}

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

static inline void larder_round_end(larder_wtinylfu *w)
{
    w->phase = LARDER_ROUND_NONE;
    w->candidate = LARDER_NIL;
    w->pending = LARDER_NIL;
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

/* Caffeine's lazy start: the sketch counts nothing until the cache is half
 * full (in count, or in weight given a maximum), and from then on always.
 * While a cache fills, nothing competes for room, so the counts of the fill
 * would only make its first residents look more valuable than the keys that
 * come after them (on the LIRS traces an eager sketch loses 1-2 points at
 * small sizes for it). `count` and `weight` are the core's with the entry
 * being inserted. */
static void larder_wtinylfu_start_counting(larder_core *core, uint32_t count, uint64_t weight)
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

static uint64_t larder_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* What admission decided. */
enum {
    LARDER_DECLINED = 0,
    LARDER_ADMITTED = 1,
    LARDER_NOT_YET = 2,  /* declined by the low-count margin alone (larder_admit) */
};
/* larder_admit computes its outcome as a sum of products, in which a decline
 * is the zero left when neither term applies. */
_Static_assert(LARDER_DECLINED == 0, "larder_admit's arithmetic takes a decline to be 0");

/* Whether a candidate asked for `candidate` times replaces a victim asked
 * for `victim` times: Caffeine's admit, except that against a victim asked
 * for at most once the candidate must lead by two, not one. At such counts
 * a lead of one is as often a collision in the sketch, or a key's second
 * request, as a real difference, and on loops and scans longer than the
 * cache (where every key is asked for equally often) each such admission
 * swaps a resident for a key worth no more: the LIRS traces' small caches
 * lost up to 7 points to that churn (lirs_gli at 1,000 entries 42.7 against
 * 50.0 with the margin; docs/Performance.md). A key declined by the margin
 * alone (LARDER_NOT_YET) wins at its next request, if it comes before the
 * victim's (so its return is no regret of the window's, see
 * larder_policy_window.c). */
static int larder_admit(larder_wtinylfu *w, uint32_t candidate, uint32_t victim)
{
    uint32_t margin = victim <= LARDER_ADMIT_MARGIN_BELOW ? 1u : 0u;
    uint32_t admitted = candidate > victim + margin;
    if (!admitted && candidate >= LARDER_ADMIT_HASHDOS_THRESHOLD)
        return (larder_xorshift(&w->rng) & 127u) == 0 ? LARDER_ADMITTED : LARDER_DECLINED;
    /* Computed, not branched on: which way a decision goes depends on the
     * keys, and branches on it were mispredicted at most evictions
     * (callgrind's branch model). */
    return (int)(admitted * LARDER_ADMITTED + (1u - admitted) * (uint32_t)(candidate > victim) * LARDER_NOT_YET);
}

/* Names `victim` and how the round goes on once it is removed. */
static larder_status larder_name(larder_wtinylfu *w, uint32_t victim, int side, uint32_t next_candidate,
                                 uint8_t next_phase, uint32_t *victim_out)
{
    w->pending = victim;
    w->pending_side = (uint8_t)side;
    w->pending_candidate = next_candidate;
    w->pending_phase = next_phase;
    *victim_out = victim;
    return LARDER_OK;
}

/* The new entry is declined: it still counts as requested, as in Caffeine,
 * where it was inserted and then evicted. Unless only the margin declined
 * it, it is recorded as the window's departure. */
static larder_status larder_decline(larder_core *core, uint64_t hash, int side)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    larder_round_end(w);
    uint32_t estimate;
    if (w->counting && larder_sketch_increment(&w->sketch, hash, &estimate)) larder_count_requests(core, 1);
    larder_window_miss(core, hash);
    if (side != LARDER_SIDE_NONE) larder_window_record(w, hash, side);
    return LARDER_REJECTED;
}

/* Called at a lookup's miss on a full core (larder_core_prefetch_for_miss):
 * the set that usually follows reads both lines at its start, too late for
 * the prefetch larder_wtinylfu_victim makes to hide much of either. */
void larder_core_prefetch_newcomer(const larder_core *core, uint64_t hash)
{
    if (core->policy != LARDER_POLICY_WTINYLFU) return;
    const larder_wtinylfu *w = core->state.wtinylfu;
    larder_sketch_prefetch(&w->sketch, hash);
    larder_window_prefetch(w, hash);
}

larder_status larder_wtinylfu_victim(larder_core *core, int newcomer, uint64_t hash, uint64_t weight,
                                     uint32_t *victim_out)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    if (newcomer) {  /* judged or counted soon, and looked up among the departures */
        larder_sketch_prefetch(&w->sketch, hash);
        larder_window_prefetch(w, hash);
    }
    larder_flush_for_read(core);  /* deferred hits count before any decision */
    if (w->pending != LARDER_NIL) {
        *victim_out = w->pending;
        return LARDER_OK;
    }
    /* A new round, or one whose newcomer was judged in a call whose victim
     * was not removed: start from the moved candidates. */
    if (w->phase == LARDER_ROUND_NONE || w->phase == LARDER_ROUND_NEWCOMER) {
        w->phase = LARDER_ROUND_MOVED;
        w->candidate = LARDER_NIL;
    }
    /* The window's overflow, as if the new entry had joined it. */
    int in_window = newcomer && weight <= w->region[LARDER_WINDOW].max_weight;
    uint32_t moved = larder_window_overflow(core, in_window ? 1u : 0u, in_window ? weight : 0u);
    /* Entries just moved are the next candidates (as each Caffeine maintenance
     * pass starts with them), unless earlier moved ones are still waiting:
     * those lead to these, toward probation's front. */
    if (moved != LARDER_NIL && (w->phase != LARDER_ROUND_MOVED || w->candidate == LARDER_NIL)) {
        w->phase = LARDER_ROUND_MOVED;
        w->candidate = moved;
    }

    /* The candidate, and where the next one comes from. */
    if (w->phase == LARDER_ROUND_MOVED && w->candidate == LARDER_NIL)
        w->phase = newcomer && !in_window ? LARDER_ROUND_NEWCOMER : LARDER_ROUND_WINDOW;
    if (w->phase == LARDER_ROUND_WINDOW) {
        w->candidate = larder_back(core, LARDER_WINDOW);
        w->phase = LARDER_ROUND_WINDOW_ON;
    }
    if (w->phase == LARDER_ROUND_WINDOW_ON && w->candidate == LARDER_NIL) w->phase = LARDER_ROUND_DONE;
    int judging_newcomer = w->phase == LARDER_ROUND_NEWCOMER;
    uint32_t candidate = judging_newcomer ? LARDER_NIL : w->candidate;
    uint8_t phase = w->phase;

    /* The victim: probation's least recent, else protected's, else the window's. */
    uint32_t victim = larder_back(core, LARDER_PROBATION);
    if (victim == LARDER_NIL) victim = larder_back(core, LARDER_PROTECTED);
    if (victim == LARDER_NIL) victim = larder_back(core, LARDER_WINDOW);

    if (victim == LARDER_NIL) {  /* empty: the new entry cannot be made room for */
        larder_round_end(w);
        return newcomer ? larder_decline(core, hash, LARDER_SIDE_WINDOW) : LARDER_REJECTED;
    }
    if (!judging_newcomer && candidate == LARDER_NIL)  /* no candidate: the victim leaves */
        return larder_name(w, victim, LARDER_SIDE_MAIN, LARDER_NIL, phase, victim_out);
    if (candidate == victim) {  /* both name the same entry: it leaves, candidates start over */
        return larder_name(w, victim, LARDER_SIDE_WINDOW, LARDER_NIL,
                           phase == LARDER_ROUND_MOVED ? LARDER_ROUND_MOVED : LARDER_ROUND_DONE, victim_out);
    }
    uint32_t candidate_frequency = judging_newcomer ? larder_sketch_frequency(&w->sketch, hash) : larder_carried_frequency_of(core, candidate);
    uint64_t candidate_weight = judging_newcomer ? weight : larder_meta_weight(&core->metas[candidate]);
    int decision = candidate_weight <= core->max_weight ? larder_admit(w, candidate_frequency, larder_frequency_of(core, victim))
                                                        : LARDER_DECLINED;
    /* A candidate declined by the margin alone is no regret of the window's
     * when it returns: its return is the request the margin waits for (see
     * larder_policy_window.c). */
    int loser_side = decision == LARDER_NOT_YET ? LARDER_SIDE_NONE : LARDER_SIDE_WINDOW;
    if (judging_newcomer) {
        if (decision != LARDER_ADMITTED) return larder_decline(core, hash, loser_side);
        return larder_name(w, victim, LARDER_SIDE_MAIN, LARDER_NIL, LARDER_ROUND_WINDOW, victim_out);
    }
    uint32_t next = larder_toward_front(core, candidate);
    if (phase == LARDER_ROUND_WINDOW_ON && next == LARDER_NIL) phase = LARDER_ROUND_DONE;
    /* The leaving entry and its side, selected without a branch (see larder_admit). */
    uint32_t admitted = decision == LARDER_ADMITTED;
    uint32_t leaving = candidate ^ ((candidate ^ victim) & (0u - admitted));
    int side = (int)(admitted * LARDER_SIDE_MAIN + (1u - admitted) * (uint32_t)loser_side);
    return larder_name(w, leaving, side, next, phase, victim_out);
}

/* The usual eviction, its candidate declined: the window's least recent
 * entry leaves, and the newcomer takes its slot at the window's front.
 * larder_wtinylfu_swap's removal and insert, fused: the window's count
 * stays, and no round is open (the caller checked that the budget allows
 * the swap and that the window then holds the newcomer). */
static larder_status larder_wtinylfu_turn(larder_core *core, uint32_t slot, uint64_t hash, uint64_t weight,
                                          uint32_t *slot_out)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    larder_meta *meta = &core->metas[slot];
    uint64_t old_weight = larder_meta_weight(meta);
    larder_unfile_and_unindex(core, slot);
    /* The key's requests stay on record after it leaves. */
    larder_release(core, slot);
    larder_sketch_forget(&w->sketch, slot);
    larder_node *nodes = core->nodes;
    uint32_t sentinel = larder_sentinel(core, LARDER_WINDOW);
    if (nodes[sentinel].next != slot) {
        larder_list_unlink(nodes, slot);
        larder_list_link_after(nodes, sentinel, slot);
    }
    larder_slot_states(core)[slot] = (uint8_t)(LARDER_WINDOW << LARDER_WTINYLFU_REGION_SHIFT);  /* no hits yet */
    if (weight != old_weight) {
        w->region[LARDER_WINDOW].weight = w->region[LARDER_WINDOW].weight - old_weight + weight;
        core->total_weight = core->total_weight - old_weight + weight;
    }
    meta->hash = hash;
    larder_meta_store_word_(meta, weight | LARDER_FLAG_LIVE);
    larder_round_end(w);
    larder_wtinylfu_arrived(core, slot, hash, core->count, core->total_weight);
    larder_index_insert(core, hash, slot);
    *slot_out = slot;
    return LARDER_OK;
}

/* larder_core_replace_lru under W-TinyLFU. The usual miss on a full cache
 * (no round open, the window overflowing by its least recent entry alone,
 * the budget allowing either side's eviction) is decided where the
 * candidate stands: the decision larder_wtinylfu_victim makes, without first
 * moving the candidate to probation's front and then unlinking it from
 * there when it loses (five times in six on the mixed workload), and a
 * declined candidate's slot goes to the newcomer in one pass
 * (larder_wtinylfu_turn). The order, the records and the sketch end up as
 * the general round leaves them; the differential tests hold both to the
 * model. Any other miss takes the general round, then its victim's removal
 * and the new entry's insert in one pass (larder_core_swap), with no
 * second flush of deferred hits. */
larder_status larder_wtinylfu_replace(larder_core *core, uint64_t hash, uint64_t weight, uint64_t max_total_weight,
                                      uint32_t *slot_out)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    if (w->pending == LARDER_NIL && (w->phase == LARDER_ROUND_NONE || w->phase == LARDER_ROUND_NEWCOMER)) {
        larder_sketch_prefetch(&w->sketch, hash);
        larder_window_prefetch(w, hash);
        larder_flush_for_read(core);
        larder_region *window = &w->region[LARDER_WINDOW];
        uint32_t candidate = larder_back(core, LARDER_WINDOW), victim = larder_back(core, LARDER_PROBATION);
        if (candidate != LARDER_NIL && victim != LARDER_NIL && weight <= window->max_weight) {
            uint64_t candidate_weight = larder_meta_weight(&core->metas[candidate]);
            uint64_t victim_weight = larder_meta_weight(&core->metas[victim]);
            larder_region rest = *window;
            rest.count--;
            rest.weight -= candidate_weight;
            uint64_t total = core->total_weight;
            if (larder_region_over(window, 1u, weight) && !larder_region_over(&rest, 1u, weight) &&
                weight <= max_total_weight && total - candidate_weight <= max_total_weight - weight &&
                total - victim_weight <= max_total_weight - weight) {
                int decision = candidate_weight <= core->max_weight
                                   ? larder_admit(w, larder_carried_frequency_of(core, candidate),
                                                  larder_frequency_of(core, victim))
                                   : LARDER_DECLINED;
                w->window_departures++;
                uint32_t leaving = candidate;
                if (decision == LARDER_ADMITTED) {
                    larder_wtinylfu_move(core, candidate, LARDER_PROBATION, 0);
                    larder_window_record(w, core->metas[victim].hash, LARDER_SIDE_MAIN);
                    leaving = victim;
                } else if (decision != LARDER_NOT_YET) {
                    larder_window_record(w, core->metas[candidate].hash, LARDER_SIDE_WINDOW);
                }
                if (leaving == candidate) return larder_wtinylfu_turn(core, candidate, hash, weight, slot_out);
                return larder_wtinylfu_swap(core, leaving, hash, weight, max_total_weight, slot_out);
            }
        }
    }
    uint32_t slot;
    larder_status status = larder_wtinylfu_victim(core, 1, hash, weight, &slot);
    if (status != LARDER_OK) return status;
    return larder_wtinylfu_swap(core, slot, hash, weight, max_total_weight, slot_out);
}

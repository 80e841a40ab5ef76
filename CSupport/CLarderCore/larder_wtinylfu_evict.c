/*
 * larder_wtinylfu_evict.c — W-TinyLFU's eviction decision: which entry
 * leaves to make room, by admission (larder_admit) between the window's
 * candidate and main's victim, in the rounds larder_core_victim_for walks
 * and in the one pass of the usual miss (larder_wtinylfu_replace). The
 * policy's lists, hits and removals are in larder_policy_wtinylfu.c, whose
 * opening comment describes the whole policy.
 */
#include "larder_wtinylfu_inline.h"

/* A candidate asked for at least this often may win a tie-or-worse at random. */
#define LARDER_ADMIT_HASHDOS_THRESHOLD 6u
/* Against a victim asked for at most this often, a candidate must lead by two. */
#define LARDER_ADMIT_MARGIN_BELOW 1u

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

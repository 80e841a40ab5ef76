/*
 * larder_policy_s3fifo.c — S3-FIFO (Yang et al., "FIFO queues are all you
 * need for cache eviction", SOSP 2023).
 *
 * Two FIFO queues over the arena's lists: small (list 0, 10 % of the cache)
 * and main (list 1, the rest), and a ghost of hashes recently evicted from
 * small (larder_ghost.c). Most new keys are requested once and never again;
 * small lets them go quickly, after one short pass, while the keys hit
 * during that pass move to main, where they stay as long as they keep being
 * hit. A returning key found in the ghost skips small.
 *
 * A hit only bumps the entry's 2-bit counter (saturating at 3;
 * larder_core_touch_inline) and moves nothing: no list write, no
 * lock-hungry reordering. The counters are a table of their own, four
 * slots a byte (larder_slot_states), small enough to stay in L2: a hit
 * reads no line of the entry's but its bucket and stored key. Eviction does the sorting
 * lazily:
 *  - small is evicted while it holds at least its share (or main is empty):
 *    its oldest entry moves to main's front with its counter cleared when
 *    it was hit at least once since it arrived (the paper's rule; Caffeine's
 *    simulator waits for a second hit, which measured 0.1 point worse in the
 *    mean over the LIRS/ARC traces, 5.3 points below LRU on lirs_gli at
 *    2000 entries, and 2.7-6.2 points worse on a sliding working set), and
 *    otherwise leaves, its hash into the ghost;
 *  - main is a CLOCK with a 2-bit counter: its oldest entry, if hit, goes
 *    back to the front with the counter decremented, else it leaves.
 * The queues' shares are in count and, given a maximum
 * (larder_core_set_maximum), in weight: small is at its share when either
 * is. Bit 62 tells which queue an entry is in.
 */
#include "larder_core_internal.h"
#include "larder_ghost_inline.h"

#include <string.h>

#define LARDER_S3FIFO_IN_MAIN (UINT64_C(1) << (LARDER_FLAG_POLICY_SHIFT + 2u))
/* Small's oldest moves to main when its counter is above this. */
#define LARDER_S3FIFO_MOVE_THRESHOLD 0u

static inline uint32_t larder_s3fifo_freq(const larder_core *core, uint32_t slot)
{
    return (larder_slot_states(core)[slot >> 2] >> larder_s3fifo_count_shift_(slot)) & 3u;
}

static inline void larder_s3fifo_set_freq(larder_core *core, uint32_t slot, uint32_t freq)
{
    uint32_t shift = larder_s3fifo_count_shift_(slot);
    uint8_t *byte = &larder_slot_states(core)[slot >> 2];
    *byte = (uint8_t)((*byte & ~(3u << shift)) | (freq << shift));
}

static inline uint32_t larder_s3fifo_queue(uint64_t word) { return (word & LARDER_S3FIFO_IN_MAIN) ? LARDER_MAIN : LARDER_SMALL; }

void larder_s3fifo_size(larder_core *core)
{
    larder_s3fifo *s = core->state.s3fifo;
    uint32_t small = core->capacity / 10u > 0 ? core->capacity / 10u : 1u;
    s->region[LARDER_SMALL].max_count = small;
    s->region[LARDER_MAIN].max_count = core->capacity - small;
    if (core->max_weight == UINT64_MAX) {
        s->region[LARDER_SMALL].max_weight = UINT64_MAX;
        s->region[LARDER_MAIN].max_weight = UINT64_MAX;
    } else {
        uint64_t small_weight = core->max_weight / 10u > 0 ? core->max_weight / 10u : 1u;
        s->region[LARDER_SMALL].max_weight = small_weight;
        s->region[LARDER_MAIN].max_weight = core->max_weight > small_weight ? core->max_weight - small_weight : 0;
    }
    s->pending = LARDER_NIL;
}

void larder_s3fifo_init(larder_core *core)
{
    /* The ghost is placed by the caller. */
    larder_s3fifo_clear(core);
    larder_s3fifo_size(core);
}

void larder_s3fifo_clear(larder_core *core)
{
    larder_s3fifo *s = core->state.s3fifo;
    for (uint32_t k = 0; k < 2; k++) {
        s->region[k].count = 0;
        s->region[k].weight = 0;
    }
    s->pending = LARDER_NIL;
    s->pending_ghost = 0;
    s->unplaced = LARDER_NIL;
    memset(larder_slot_states(core), 0, larder_core_slot_state_bytes(core->capacity, core->flags));
}

static inline void larder_s3fifo_account(larder_s3fifo *s, uint32_t queue, uint64_t weight, int sign)
{
    if (sign > 0) {
        s->region[queue].count++;
        s->region[queue].weight += weight;
    } else {
        s->region[queue].count--;
        s->region[queue].weight -= weight;
    }
}

void larder_s3fifo_insert(larder_core *core, uint32_t slot, int at_back)
{
    larder_s3fifo *s = core->state.s3fifo;
    assert(s->unplaced == LARDER_NIL);  /* settled by the insert's flush, or by the swap's victim */
    uint32_t sentinel = larder_sentinel(core, LARDER_SMALL);
    larder_list_link_after(core->nodes, at_back ? core->nodes[sentinel].prev : sentinel, slot);
    larder_s3fifo_account(s, LARDER_SMALL, larder_meta_weight(&core->metas[slot]), 1);
    /* A restored entry (at_back) was no eviction's victim: no ghost lookup. */
    if (!at_back) s->unplaced = slot;
    s->pending = LARDER_NIL;
}

/* How many hashes the ghost keeps: as many as main holds entries. Given a
 * maximum weight, main's count is estimated from the mean entry's weight,
 * so that a byte-bound cache does not remember far more than it could hold. */
static uint32_t larder_s3fifo_ghost_limit(const larder_core *core)
{
    const larder_s3fifo *s = core->state.s3fifo;
    uint32_t limit = s->ghost.max_records;
    if (core->max_weight != UINT64_MAX && core->count > 0) {
        uint64_t mean = core->total_weight / core->count;
        if (mean > 0 && s->region[LARDER_MAIN].max_weight / mean < limit)
            limit = (uint32_t)(s->region[LARDER_MAIN].max_weight / mean);
    }
    return limit;
}

/* Inlined into the fused eviction (larder_s3fifo_replace); the core's
 * removals call larder_s3fifo_remove. */
static LARDER_ALWAYS_INLINE void larder_s3fifo_unlink(larder_core *core, uint32_t slot)
{
    larder_s3fifo *s = core->state.s3fifo;
    assert(s->unplaced == LARDER_NIL);  /* settled by the removal's flush, or by the swap's victim */
    const larder_meta *meta = &core->metas[slot];
    if (slot == s->pending && s->pending_ghost) {
        /* Evicted from small: remember it (before the count drops, so the
         * estimate of main's count includes the victim's weight). */
        larder_ghost_add(&s->ghost, meta->hash, larder_s3fifo_ghost_limit(core));
    }
    s->pending = LARDER_NIL;
    larder_s3fifo_set_freq(core, slot, 0);  /* a free slot's counter is zero, ready for the next entry */
    larder_list_unlink(core->nodes, slot);
    larder_s3fifo_account(s, larder_s3fifo_queue(meta->word), larder_meta_weight(meta), -1);
}

void larder_s3fifo_remove(larder_core *core, uint32_t slot) { larder_s3fifo_unlink(core, slot); }

void larder_s3fifo_reweigh(larder_core *core, uint32_t slot, uint64_t old_weight, uint64_t weight)
{
    larder_s3fifo_settle(core);
    larder_region *r = &core->state.s3fifo->region[larder_s3fifo_queue(core->metas[slot].word)];
    r->weight = r->weight - old_weight + weight;
}

/* Moves `slot` from wherever it is to main's front. */
static void larder_s3fifo_to_main_front(larder_core *core, uint32_t slot)
{
    larder_list_unlink(core->nodes, slot);
    larder_list_link_after(core->nodes, larder_sentinel(core, LARDER_MAIN), slot);
}

/* A newcomer joins small's front at once and its ghost lookup waits for the
 * next call that reads the policy's state (larder_s3fifo_place): the ghost
 * bucket, a random line of a table as large as the cache's meta records,
 * has arrived by then (the insert starts loading it), where the insert would
 * wait for it. Nothing between changes the ghost or moves small's front, so
 * the entry lands where an immediate lookup would have put it: with its hash
 * found, at main's front. Hits in between bump the counter, which either
 * queue keeps. */
static LARDER_ALWAYS_INLINE void larder_s3fifo_place_now(larder_core *core)
{
    larder_s3fifo *s = core->state.s3fifo;
    uint32_t slot = s->unplaced;
    s->unplaced = LARDER_NIL;
    larder_meta *meta = &core->metas[slot];
    if (!larder_ghost_take(&s->ghost, meta->hash)) return;
    larder_meta_store_word_(meta, meta->word | LARDER_S3FIFO_IN_MAIN);
    larder_s3fifo_to_main_front(core, slot);
    uint64_t weight = larder_meta_weight(meta);
    larder_s3fifo_account(s, LARDER_SMALL, weight, -1);
    larder_s3fifo_account(s, LARDER_MAIN, weight, 1);
}

void larder_s3fifo_place(larder_core *core) { larder_s3fifo_place_now(core); }

/* Main's CLOCK: the oldest entry not hit since its last pass. */
static uint32_t larder_s3fifo_main_victim(larder_core *core)
{
    larder_node *nodes = core->nodes;
    uint32_t sentinel = larder_sentinel(core, LARDER_MAIN);
    for (;;) {
        uint32_t t = nodes[sentinel].prev;
        assert(t < core->capacity);
#if defined(__GNUC__) || defined(__clang__)
        /* A hit entry goes back to the front and its neighbour is judged
         * next: start loading that one's records while this one moves. */
        uint32_t after = nodes[t].prev;
        __builtin_prefetch(&core->metas[after], 1);
        __builtin_prefetch(&nodes[after], 1);
#endif
        uint32_t freq = larder_s3fifo_freq(core, t);
        if (freq == 0) return t;
        larder_s3fifo_set_freq(core, t, freq - 1u);
        larder_s3fifo_to_main_front(core, t);
    }
}

/* Inlined into the fused eviction, as the removal is. */
static LARDER_ALWAYS_INLINE uint32_t larder_s3fifo_choose(larder_core *core)
{
    larder_s3fifo *s = core->state.s3fifo;
    larder_region *small = &s->region[LARDER_SMALL], *main = &s->region[LARDER_MAIN];
    if (s->unplaced != LARDER_NIL) larder_s3fifo_place_now(core);  /* larder_s3fifo_settle, inlined */
    if (s->pending != LARDER_NIL) return s->pending;
    larder_node *nodes = core->nodes;
    uint32_t small_sentinel = larder_sentinel(core, LARDER_SMALL);
    while (small->count > 0 &&
           (small->count >= small->max_count || small->weight >= small->max_weight || main->count == 0)) {
        uint32_t t = nodes[small_sentinel].prev;
        if (larder_s3fifo_freq(core, t) <= LARDER_S3FIFO_MOVE_THRESHOLD) {
            s->pending = t;
            s->pending_ghost = 1;
            return t;
        }
        uint64_t weight = larder_meta_weight(&core->metas[t]);
        larder_meta_store_word_(&core->metas[t], core->metas[t].word | LARDER_S3FIFO_IN_MAIN);
        larder_s3fifo_set_freq(core, t, 0);
        larder_s3fifo_to_main_front(core, t);
        larder_s3fifo_account(s, LARDER_SMALL, weight, -1);
        larder_s3fifo_account(s, LARDER_MAIN, weight, 1);
        if (larder_region_over(main, 0, 0)) break;  /* main overflows: its victim leaves */
    }
    if (main->count == 0) return LARDER_NIL;
    s->pending = larder_s3fifo_main_victim(core);
    s->pending_ghost = 0;
    return s->pending;
}

uint32_t larder_s3fifo_victim(larder_core *core) { return larder_s3fifo_choose(core); }

/* larder_core_replace_lru under S3-FIFO: the victim, then its removal and
 * the new entry's insert in one pass over the same slot (larder_core_swap).
 * The ghost sees the same order as a removal and an insert: the victim's
 * hash is added, then the newcomer's is looked up (that lookup deferred). */
larder_status larder_s3fifo_replace(larder_core *core, uint64_t hash, uint64_t weight,
                                    uint64_t max_total_weight, uint32_t *slot_out)
{
    /* The newcomer's ghost lookup, made at the next call that reads the
     * queues (larder_s3fifo_place): start loading its bucket now. */
    larder_ghost_prefetch(&core->state.s3fifo->ghost, hash);
    uint32_t slot = larder_s3fifo_choose(core);
    if (slot == LARDER_NIL) return LARDER_REJECTED;
    return larder_core_swap(core, slot, hash, weight, max_total_weight, slot_out, larder_s3fifo_unlink, larder_s3fifo_insert);
}

/* Starts loading what the next eviction will read (see
 * larder_core_prefetch_lru): small's oldest entry's bucket, its ghost bucket
 * and the records of the entry behind it; main's oldest entry's records.
 * Which queue the victim comes from is not known yet: both are loaded.
 * Returns small's oldest (or main's when small is empty), the likely
 * victim, or LARDER_NIL. Here rather than in larder_core.c, so that the
 * ghost's prefetches inline into it. */
uint32_t larder_core_prefetch_victims(const larder_core *core)
{
    if (core->policy != LARDER_POLICY_S3FIFO) return LARDER_NIL;
    const larder_s3fifo *s = core->state.s3fifo;
    const larder_node *nodes = core->nodes;
    uint32_t small = nodes[larder_sentinel(core, LARDER_SMALL)].prev;
    uint32_t main = nodes[larder_sentinel(core, LARDER_MAIN)].prev;
#if defined(__GNUC__) || defined(__clang__)
    if (main < core->capacity) {
        __builtin_prefetch(&core->metas[main], 1);
        __builtin_prefetch(&nodes[main], 1);
    }
    if (small < core->capacity) {
        uint64_t hash = core->metas[small].hash;
        __builtin_prefetch(&core->buckets[larder_tag_of(hash) & core->mask], 1);
        larder_ghost_prefetch(&s->ghost, hash);
        uint32_t after = nodes[small].prev;
        __builtin_prefetch(&nodes[after], 1);
        __builtin_prefetch(&core->metas[after], 1);
    }
#endif
    return small < core->capacity ? small : main < core->capacity ? main : LARDER_NIL;
}

void larder_core_prefetch_ghost(const larder_core *core, uint64_t hash)
{
    if (core->policy == LARDER_POLICY_S3FIFO) larder_ghost_prefetch(&core->state.s3fifo->ghost, hash);
}

int larder_s3fifo_check(const larder_core *core)
{
    const larder_s3fifo *s = core->state.s3fifo;
    if (s->pending != LARDER_NIL && !larder_slot_is_live(core, s->pending)) return LARDER_CHECK_ROUND;
    /* The entry awaiting its ghost lookup is small's newest. */
    if (s->unplaced != LARDER_NIL &&
        (!larder_slot_is_live(core, s->unplaced) || larder_s3fifo_queue(core->metas[s->unplaced].word) != LARDER_SMALL ||
         core->nodes[larder_sentinel(core, LARDER_SMALL)].next != s->unplaced))
        return LARDER_CHECK_ROUND;
    if (s->pending != LARDER_NIL && s->pending_ghost && larder_s3fifo_queue(core->metas[s->pending].word) != LARDER_SMALL)
        return LARDER_CHECK_ROUND;
    const larder_region *small = &s->region[LARDER_SMALL], *main = &s->region[LARDER_MAIN];
    uint32_t small_count = core->capacity / 10u > 0 ? core->capacity / 10u : 1u;
    if (small->max_count != small_count || main->max_count != core->capacity - small_count) return LARDER_CHECK_LIMITS;
    if ((core->max_weight == UINT64_MAX) != (small->max_weight == UINT64_MAX)) return LARDER_CHECK_LIMITS;
    for (uint32_t i = 0; i < core->capacity; i++) {
        uint64_t word = core->metas[i].word;
        /* Only bit 62 is S3-FIFO's; a free slot's counter is zero. */
        if ((word & LARDER_FLAG_LIVE) && (word & LARDER_FLAG_POLICY & ~LARDER_S3FIFO_IN_MAIN))
            return LARDER_CHECK_LIST_REGION;
        if (!(word & LARDER_FLAG_LIVE) && larder_s3fifo_freq(core, i) != 0) return LARDER_CHECK_LIST_REGION;
    }
    return larder_ghost_check(&s->ghost);
}

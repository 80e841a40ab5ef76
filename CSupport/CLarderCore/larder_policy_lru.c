/*
 * larder_policy_lru.c — exact LRU, the default policy, and the hit paths
 * every policy enters through (larder_core_touch, larder_core_touch_batch).
 *
 * LRU's whole state is one recency list (nodes[capacity] its sentinel), cut
 * at a hand (core->lru_hand, see Lists in larder_core_internal.h): a hit
 * moves the entry to the front, an insert links it there, the victim is the
 * back, and an eviction's new entry takes the victim's slot and place. Its
 * hits are deferred a few at a time in a small ring so that each
 * move finds its neighbours' cache lines already loaded (see
 * larder_core_touch_inline); larder_flush_for_read (larder_core_internal.h)
 * applies them before anything reads or changes the list. W-TinyLFU defers its
 * hits through the same ring (larder_policy_wtinylfu.c); S3-FIFO's hit moves
 * nothing, so it never defers.
 *
 * Hits that threads share may be applied as marks instead
 * (larder_core_mark_batch): the entry stays where it is, and the eviction
 * that reaches a marked entry at the back makes it the front unmarked
 * (CLOCK's second chance: the hand steps past it) and goes on. Exact LRU
 * is the order with no marks.
 */
#include "larder_core_internal.h"

void larder_core_touch(larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    larder_core_touch_inline(core, slot);
}

void larder_core_apply_oldest_touch(larder_core *core)
{
    if (core->touch_count == 0) return;
    uint32_t slot = core->touches[core->touch_head];
    core->touch_head = (uint16_t)((core->touch_head + 1u) % LARDER_TOUCH_RING);
    core->touch_count--;
    larder_apply_touch(core, slot);
}

/* S3-FIFO's hits: each bumps its entry's 2-bit counter, as the inlined hit does. */
static void larder_s3fifo_touch_batch(larder_core *core, const uint32_t *slots, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        assert(larder_slot_is_live(core, slots[i]));
        larder_core_touch_inline(core, slots[i]);
    }
}

/* W-TinyLFU's hits, in two passes so that their misses overlap across the
 * batch: the meta records (regions, counts) and list neighbours, then the
 * hits themselves. */
static void larder_wtinylfu_touch_batch(larder_core *core, const uint32_t *slots, uint32_t count)
{
    larder_flush_for_read(core);  /* hits deferred earlier go first */
#if defined(__GNUC__) || defined(__clang__)
    larder_node *nodes = core->nodes;
    for (uint32_t i = 0; i < count; i++) {
        __builtin_prefetch(&larder_slot_states(core)[slots[i]], 0);
        __builtin_prefetch(&nodes[nodes[slots[i]].prev], 1);
        __builtin_prefetch(&nodes[nodes[slots[i]].next], 1);
    }
#endif
    for (uint32_t i = 0; i < count; i++) {
        assert(larder_slot_is_live(core, slots[i]));
        larder_wtinylfu_touch_now(core, slots[i]);
    }
}

void larder_core_touch_batch(larder_core *core, const uint32_t *slots, uint32_t count)
{
    if (core->policy == LARDER_POLICY_S3FIFO) {
        larder_s3fifo_touch_batch(core, slots, count);
        return;
    }
    if (core->policy == LARDER_POLICY_WTINYLFU) {
        larder_wtinylfu_touch_batch(core, slots, count);
        return;
    }
    larder_flush_for_read(core);  /* touches deferred earlier go first */
    larder_node *nodes = core->nodes;
#if defined(__GNUC__) || defined(__clang__)
    /* All the neighbours' loads first, so that their misses overlap rather
     * than each move waiting for its own (the nodes themselves were
     * prefetched when the hits were recorded). */
    for (uint32_t i = 0; i < count; i++) {
        __builtin_prefetch(&nodes[nodes[slots[i]].prev], 1);
        __builtin_prefetch(&nodes[nodes[slots[i]].next], 1);
    }
#endif
    for (uint32_t i = 0; i < count; i++) larder_apply_touch(core, slots[i]);
}

void larder_core_mark_batch(larder_core *core, const uint32_t *slots, uint32_t count)
{
    if (core->policy != LARDER_POLICY_LRU) {
        larder_core_touch_batch(core, slots, count);
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        assert(larder_slot_is_live(core, slots[i]));
        /* Written only when it changes: an entry hit again before its next
         * pass keeps its line clean, and shared, in every reader's cache. */
        if (!larder_lru_marked(core, slots[i])) larder_lru_set_mark(core, slots[i], 1);
    }
}

uint32_t larder_lru_victim(larder_core *core)
{
    larder_flush_for_read(core);
    for (;;) {
        uint32_t slot = core->lru_hand;
        if (slot == LARDER_NIL) return LARDER_NIL;
        if (!larder_lru_marked(core, slot)) return slot;
        /* Hit since it last passed: most recent again, unmarked, by the
         * hand's step past it. Each turn clears a mark (a reader's mark
         * landing meanwhile adds one turn at most), so the walk ends. */
        larder_lru_set_mark(core, slot, 0);
        larder_lru_pass(core, slot);
    }
}

/* larder_core_replace_lru under LRU: the least-recent entry's removal and the
 * new entry's insert fused into one pass over the same slot. */
larder_status larder_lru_replace(larder_core *core, uint64_t hash, uint64_t weight,
                                 uint64_t max_total_weight, uint32_t *slot_out)
{
    uint32_t slot = larder_lru_victim(core);  /* not empty: larder_core_replace_lru checked */
    larder_meta *metas = core->metas;
    uint64_t rest = core->total_weight - larder_meta_weight(&metas[slot]);
    if (weight > max_total_weight || rest > max_total_weight - weight) return LARDER_ERR_FULL;
    /* The victim's removal, as larder_core_remove does it, without returning
     * the slot to the free list ... */
    larder_unfile_and_unindex(core, slot);
    /* ... and the new entry's insert into the same slot and place in the
     * circle, made the most recent by the hand's step past it. */
    larder_lru_pass(core, slot);
    metas[slot].hash = hash;
    larder_meta_store_word_(&metas[slot], weight | LARDER_FLAG_LIVE);
    larder_lru_set_mark(core, slot, 0);  /* a reader may have marked the victim meanwhile */
    larder_index_insert(core, hash, slot);
    /* Stored only when it changes (entries of equal weight, the usual set):
     * the header line it shares with the count, which other threads' sets
     * read, then stays clean in their caches. */
    if (rest + weight != core->total_weight) core->total_weight = rest + weight;
    *slot_out = slot;
    return LARDER_OK;
}

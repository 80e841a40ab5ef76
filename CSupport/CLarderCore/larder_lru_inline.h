/*
 * larder_lru_inline.h — LRU's recency circle and its hand (see Lists in
 * larder_core_internal.h), its deferred touches, and the flush that every
 * reader of the lists calls first. Included by larder_core_internal.h once
 * the core's struct is complete; not meant to be included on its own.
 */
#ifndef LARDER_LRU_INLINE_H
#define LARDER_LRU_INLINE_H

/* ---- LRU's circle and hand (see Lists) ------------------------------------ */

/* The entry one step toward the front of `slot` (the most recent's is the
 * least recent), passing over the sentinel. */
static inline uint32_t larder_lru_newer_raw(const larder_node *nodes, uint32_t sentinel, uint32_t slot)
{
    uint32_t s = nodes[slot].prev;
    return s != sentinel ? s : nodes[sentinel].prev;
}

/* The entry one step toward the back of `slot` (the least recent's is the
 * most recent), passing over the sentinel. */
static inline uint32_t larder_lru_older_raw(const larder_node *nodes, uint32_t sentinel, uint32_t slot)
{
    uint32_t s = nodes[slot].next;
    return s != sentinel ? s : nodes[sentinel].next;
}

/* Links `slot` (unlinked) as the most recent entry, or with `at_back` as the
 * least recent. */
static inline void larder_lru_link(larder_core *core, uint32_t slot, int at_back)
{
    if (core->lru_hand == LARDER_NIL) {
        larder_list_link_after(core->nodes, core->capacity, slot);
        core->lru_hand = slot;
        core->lru_front = slot;
        return;
    }
    larder_list_link_after(core->nodes, core->lru_hand, slot);
    if (at_back) core->lru_hand = slot;
    else core->lru_front = slot;
}

/* Unlinks `slot`, moving the hand and the front off it first. */
static inline void larder_lru_unlink(larder_core *core, uint32_t slot)
{
    if (slot == core->lru_hand) {
        uint32_t newer = larder_lru_newer_raw(core->nodes, core->capacity, slot);
        core->lru_hand = newer != slot ? newer : LARDER_NIL;
    }
    if (slot == core->lru_front) {
        uint32_t older = larder_lru_older_raw(core->nodes, core->capacity, slot);
        core->lru_front = older != slot ? older : LARDER_NIL;
    }
    larder_list_unlink(core->nodes, slot);
}

/* The hand's step past `slot` (the least recent): it becomes the most
 * recent without a link written. */
static inline void larder_lru_pass(larder_core *core, uint32_t slot)
{
    core->lru_hand = larder_lru_newer_raw(core->nodes, core->capacity, slot);
    core->lru_front = slot;
}

/* ---- LRU's deferred touches (larder_core_touch_inline) -------------------- */

/* Moves one deferred touch's slot to the front (its hit found it live, and
 * nothing removes a slot without flushing first). */
static inline void larder_apply_touch(larder_core *core, uint32_t slot)
{
    larder_node *nodes = core->nodes;
    uint32_t hand = core->lru_hand;
    assert(larder_slot_is_live(core, slot));
    if (slot == core->lru_front) return;
    if (slot == hand) {  /* the least recent: the hand's step makes it the most recent */
        larder_lru_pass(core, slot);
        return;
    }
    larder_list_unlink(nodes, slot);  /* neither the hand nor the front: they stay */
    larder_lru_link(core, slot, 0);
}

/* Applies every deferred touch, in order (their neighbours were prefetched
 * by their hits). Every function that reads or changes the lists calls it
 * first, so no caller can observe the deferral. The const readers (lru,
 * mru, older, newer) flush through a cast: a core is never a const object
 * (it is allocated), and a flush changes no order a caller can see. LRU
 * and W-TinyLFU defer (W-TinyLFU's hits also count in its sketch, so its
 * eviction decisions flush first too); S3-FIFO's ring stays empty, and
 * its flush is the newest entry's ghost lookup. */
LARDER_INTERNAL void larder_wtinylfu_flush(larder_core *core);
LARDER_INTERNAL void larder_s3fifo_place(larder_core *core);

/* Makes S3-FIFO's deferred ghost lookup of its newest entry, if one waits
 * (larder_s3fifo_place). Every S3-FIFO call that reads or changes the
 * queues or the ghost does this first, as the others flush their touches. */
static inline void larder_s3fifo_settle(larder_core *core)
{
    if (core->state.s3fifo->unplaced != LARDER_NIL) larder_s3fifo_place(core);
}

static inline void larder_flush_for_read(const larder_core *core)
{
    larder_core *mutable_core = (larder_core *)(uintptr_t)core;
    uint32_t count = mutable_core->touch_count;
    if (count == 0) {
        if (mutable_core->policy == LARDER_POLICY_S3FIFO) larder_s3fifo_settle(mutable_core);
        return;
    }
    if (mutable_core->policy == LARDER_POLICY_WTINYLFU) {
        larder_wtinylfu_flush(mutable_core);
        return;
    }
    /* One loop rather than a call per touch: a set pays for up to
     * LARDER_TOUCH_LAG of them. */
    uint32_t head = mutable_core->touch_head;
    for (uint32_t i = 0; i < count; i++) {
        larder_apply_touch(mutable_core, mutable_core->touches[(head + i) % LARDER_TOUCH_RING]);
    }
    mutable_core->touch_head = (uint16_t)((head + count) % LARDER_TOUCH_RING);
    mutable_core->touch_count = 0;
}

/* LRU's victim: the least recent entry without a mark; marked ones it
 * passes get their second chance (larder_policy_lru.c). */
LARDER_INTERNAL uint32_t larder_lru_victim(larder_core *core);

#endif

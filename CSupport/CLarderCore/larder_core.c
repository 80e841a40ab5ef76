/*
 * larder_core.c — lifetime and layout, entries, the policy's order walks and
 * the top of larder_core_check: what every policy shares, dispatching to
 * the policy's file where they differ (larder_policy_lru.c,
 * larder_policy_wtinylfu.c, larder_policy_s3fifo.c). The index is in
 * larder_index.c, the timer wheel in larder_expiry_wheel.c.
 *
 * Lists: circular through sentinel nodes after the slots (see
 * larder_core_internal.h). Under LRU there is one, the recency list, cut at
 * a hand rather than at its sentinel nodes[capacity] (core->lru: the least
 * recent entry, and the most recent after it); the sentinels remove every
 * first/last branch from touch, insert and unlink.
 * Free list: singly linked through `next` from free_head, ending in LARDER_NIL.
 */
#include "larder_core_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Layout ------------------------------------------------------------- */

typedef struct larder_layout {
    uint64_t nodes_offset;
    uint64_t metas_offset;
    uint64_t buckets_offset;
    uint64_t touches_offset;
    uint64_t wheel_offset;   /* == policy_offset when there is no wheel */
    uint64_t policy_offset;  /* the policy's state and arrays; == total under LRU */
    uint64_t total;
    uint32_t bucket_count;
    uint32_t lists;
    uint32_t sketch_blocks;  /* W-TinyLFU */
    uint32_t ghost_records;  /* S3-FIFO */
    uint32_t ghost_table;
} larder_layout;

static uint64_t larder_round8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

/* The policy's table of 64-byte blocks (the sketch's, the ghost's buckets)
 * starts on a cache line, so that each block is one line and not two: the
 * layout reserves the most an 8-aligned address needs to reach one. */
#define LARDER_LINE_SLACK 56u

static unsigned char *larder_line_align(unsigned char *p)
{
    return p + ((64u - ((uintptr_t)p & 63u)) & 63u);
}

/* The main queue's count under S3-FIFO, which bounds its ghost: capacity
 * less the small queue's 10 % (at least one entry). */
static uint32_t larder_s3fifo_main_count(uint32_t capacity)
{
    uint32_t small = capacity / 10u > 0 ? capacity / 10u : 1u;
    return capacity - small;
}

size_t larder_core_slot_state_bytes(uint32_t capacity, uint32_t flags)
{
    switch (flags & (uint32_t)LARDER_CORE_POLICY_MASK) {
    case LARDER_CORE_WTINYLFU: return (size_t)larder_round8(capacity);
    case LARDER_CORE_S3FIFO: return (size_t)larder_round8(((uint64_t)capacity + 3u) / 4u);
    default: return (size_t)larder_round8(capacity);  /* LRU's marks */
    }
}

size_t larder_core_sketch_bytes(uint32_t capacity, uint32_t flags)
{
    if ((flags & (uint32_t)LARDER_CORE_POLICY_MASK) != LARDER_CORE_WTINYLFU) return 0;
    return (size_t)larder_sketch_blocks_for(capacity) * 64u;
}

/* One block holds the header, the nodes, their meta records, the buckets,
 * the deferred-touch buffer and the slots' states after it, the wheel
 * records and the policy's state and arrays, in that order; every part is a
 * multiple of 8 bytes, so each stays aligned. */
static int larder_layout_of(uint32_t capacity, uint32_t flags, larder_layout *layout)
{
    if (capacity == 0 || capacity > LARDER_MAX_CAPACITY) return LARDER_ERR_CAPACITY;
    uint32_t known = (uint32_t)LARDER_CORE_EXPIRY | (uint32_t)LARDER_CORE_POLICY_MASK | (uint32_t)LARDER_CORE_FIXED_WINDOW;
    uint32_t policy = flags & (uint32_t)LARDER_CORE_POLICY_MASK;
    if ((flags & ~known) != 0) return LARDER_ERR_UNSUPPORTED;
    if (policy != LARDER_CORE_LRU && policy != LARDER_CORE_WTINYLFU && policy != LARDER_CORE_S3FIFO)
        return LARDER_ERR_UNSUPPORTED;
    if ((flags & LARDER_CORE_FIXED_WINDOW) && policy != LARDER_CORE_WTINYLFU) return LARDER_ERR_UNSUPPORTED;
    /* Load at most 1/2: the smallest power of two >= 2 * capacity (<= 2^31). */
    uint64_t buckets = 2;
    while (buckets < 2 * (uint64_t)capacity) buckets <<= 1;
    uint64_t header = larder_round8(sizeof(struct larder_core));
    uint32_t lists = policy == LARDER_CORE_WTINYLFU ? 3u : policy == LARDER_CORE_S3FIFO ? 2u : 1u;
    layout->bucket_count = (uint32_t)buckets;
    layout->lists = lists;
    /* The nodes end where a line starts (in a line-aligned block), so that
     * the sentinels open a line of their own, whose other half holds the
     * owner's words (larder_core_owner_words): a write moves the sentinels
     * and the owner's sequence together, one line. */
    uint64_t sentinel_at = header + (uint64_t)capacity * sizeof(larder_node);
    layout->nodes_offset = header + ((64u - (sentinel_at & 63u)) & 63u);
    layout->metas_offset = layout->nodes_offset + (uint64_t)capacity * sizeof(larder_node) + LARDER_SENTINEL_LINE;
    layout->buckets_offset = layout->metas_offset + ((uint64_t)capacity + lists) * sizeof(larder_meta);
    layout->touches_offset = layout->buckets_offset + buckets * sizeof(larder_bucket);
    layout->wheel_offset = layout->touches_offset + LARDER_TOUCH_RING * sizeof(uint32_t) +
                           larder_core_slot_state_bytes(capacity, flags);
    layout->policy_offset = layout->wheel_offset;
    if (flags & LARDER_CORE_EXPIRY)
        layout->policy_offset += ((uint64_t)capacity + LARDER_WHEEL_SENTINELS) * sizeof(larder_wlink);
    layout->total = layout->policy_offset;
    layout->sketch_blocks = layout->ghost_records = layout->ghost_table = 0;
    if (policy == LARDER_CORE_WTINYLFU) {
        layout->sketch_blocks = larder_sketch_blocks_for(capacity);
        layout->total += larder_round8(sizeof(larder_wtinylfu)) + LARDER_LINE_SLACK + (uint64_t)layout->sketch_blocks * 64u +
                         (uint64_t)larder_window_regret_slots_for(capacity) * sizeof(uint64_t);
    } else if (policy == LARDER_CORE_S3FIFO) {
        layout->ghost_records = larder_s3fifo_main_count(capacity);
        larder_ghost_sizes(capacity, layout->ghost_records, &layout->ghost_table);
        layout->total += larder_round8(sizeof(larder_s3fifo)) + LARDER_LINE_SLACK + (uint64_t)layout->ghost_table * sizeof(uint32_t);
    }
    if (layout->total > SIZE_MAX) return LARDER_ERR_NOMEM;
    return LARDER_OK;
}

size_t larder_core_footprint(uint32_t capacity, uint32_t flags)
{
    larder_layout layout;
    if (larder_layout_of(capacity, flags, &layout) != LARDER_OK) return 0;
    return (size_t)layout.total;
}

/* Empties the arena: every slot free, in slot order, so a fresh core hands
 * out slots 0, 1, 2, ...; every list empty. */
static void larder_arena_reset(larder_core *core)
{
    larder_node *nodes = core->nodes;
    larder_meta *metas = core->metas;
    uint32_t capacity = core->capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        nodes[i].prev = LARDER_NIL;
        nodes[i].next = i + 1 < capacity ? i + 1 : LARDER_NIL;
        metas[i].hash = 0;
        larder_meta_store_word_(&metas[i], 0);
    }
    for (uint32_t k = 0; k < core->lists; k++) {
        uint32_t sentinel = capacity + k;
        nodes[sentinel].prev = sentinel;
        nodes[sentinel].next = sentinel;
        metas[sentinel].hash = 0;
        larder_meta_store_word_(&metas[sentinel], 0);
    }
    /* LRU's marks, one store at a time: optimistic readers may be setting
     * some (larder_lru_set_mark). */
    if (core->policy == LARDER_POLICY_LRU)
        for (uint32_t i = 0; i < capacity; i++) larder_lru_set_mark(core, i, 0);
    core->free_head = 0;
    core->lru_hand = LARDER_NIL;
    core->lru_front = LARDER_NIL;
    core->count = 0;
    core->total_weight = 0;
    core->touch_head = 0;
    core->touch_count = 0;
}

/* Lays a fresh core out in `block` (layout.total bytes, 16-aligned). */
static larder_core *larder_core_place(unsigned char *block, const larder_layout *layout, uint32_t capacity,
                                      uint32_t flags, uint8_t owns_block)
{
    larder_core *core = (larder_core *)(void *)block;
    memset(core, 0, sizeof *core);
    core->nodes = (larder_node *)(void *)(block + layout->nodes_offset);
    core->metas = (larder_meta *)(void *)(block + layout->metas_offset);
    core->buckets = (larder_bucket *)(void *)(block + layout->buckets_offset);
    core->touches = (uint32_t *)(void *)(block + layout->touches_offset);
    core->wheel = (flags & LARDER_CORE_EXPIRY) ? (larder_wlink *)(void *)(block + layout->wheel_offset) : NULL;
    core->capacity = capacity;
    core->mask = layout->bucket_count - 1u;
    core->flags = flags;
    core->owns_block = owns_block;
    core->lists = (uint8_t)layout->lists;
    core->max_weight = UINT64_MAX;
    core->wheel_time = 0;
    core->policy = (flags & LARDER_CORE_POLICY_MASK) >> 8;
    memset(larder_core_owner_words(core), 0, LARDER_CORE_OWNER_WORDS * sizeof(uint64_t));
    larder_arena_reset(core);
    larder_index_reset(core);
    if (core->wheel) larder_wheel_reset(core);
    unsigned char *policy = block + layout->policy_offset;
    if (core->policy == LARDER_POLICY_WTINYLFU) {
        core->state.wtinylfu = (larder_wtinylfu *)(void *)policy;
        memset(core->state.wtinylfu, 0, sizeof(larder_wtinylfu));
        uint64_t *table = (uint64_t *)(void *)larder_line_align(policy + larder_round8(sizeof(larder_wtinylfu)));
        larder_wtinylfu_init(core, table, layout->sketch_blocks, table + (size_t)layout->sketch_blocks * 8u,
                             !(flags & LARDER_CORE_FIXED_WINDOW));
    } else if (core->policy == LARDER_POLICY_S3FIFO) {
        core->state.s3fifo = (larder_s3fifo *)(void *)policy;
        memset(core->state.s3fifo, 0, sizeof(larder_s3fifo));
        uint32_t *table = (uint32_t *)(void *)larder_line_align(policy + larder_round8(sizeof(larder_s3fifo)));
        larder_ghost_init(&core->state.s3fifo->ghost, table, layout->ghost_records, layout->ghost_table);
        larder_s3fifo_init(core);
    }
    return core;
}

larder_status larder_core_create(uint32_t capacity, uint32_t flags, larder_core **out)
{
    larder_layout layout;
    int status = larder_layout_of(capacity, flags, &layout);
    if (status != LARDER_OK) return (larder_status)status;
    unsigned char *block = malloc((size_t)layout.total);  /* malloc's alignment (16) suffices */
    if (block == NULL) return LARDER_ERR_NOMEM;
    *out = larder_core_place(block, &layout, capacity, flags, 1);
    return LARDER_OK;
}

size_t larder_core_lock_offset(void) { return offsetof(struct larder_core, owner_lock); }

uint64_t *larder_core_owner_words(larder_core *core)
{
    return (uint64_t *)(void *)(core->nodes + core->capacity + LARDER_OWNER_WORDS_NODE);
}

larder_status larder_core_init(void *block, size_t bytes, uint32_t capacity, uint32_t flags, larder_core **out)
{
    larder_layout layout;
    int status = larder_layout_of(capacity, flags, &layout);
    if (status != LARDER_OK) return (larder_status)status;
    if (block == NULL || bytes < layout.total || ((uintptr_t)block & 15u) != 0) return LARDER_ERR_NOMEM;
    *out = larder_core_place(block, &layout, capacity, flags, 0);
    return LARDER_OK;
}

void larder_core_destroy(larder_core *core)
{
    /* One block: header, arena, index, wheel, policy. A caller's block stays the caller's. */
    if (core != NULL && core->owns_block) free(core);
}

uint32_t larder_core_capacity(const larder_core *core) { return core->capacity; }
int larder_core_has_expiry(const larder_core *core) { return core->wheel != NULL; }
uint32_t larder_core_policy(const larder_core *core) { return core->policy << 8; }

uint32_t larder_core_window_limit(const larder_core *core)
{
    return core->policy == LARDER_POLICY_WTINYLFU ? core->state.wtinylfu->region[LARDER_WINDOW].max_count : 0;
}

void larder_core_set_maximum(larder_core *core, uint64_t max_total_weight)
{
    core->max_weight = max_total_weight;
    if (core->policy == LARDER_POLICY_WTINYLFU) {
        larder_wtinylfu_set_maximum(core);
    } else if (core->policy == LARDER_POLICY_S3FIFO) {
        larder_s3fifo_size(core);
    }
}

/* ---- The policy's order ------------------------------------------------- */

/* The lists from most to least valuable, per policy (see larder_core.h). */
static const uint8_t larder_chain[3][LARDER_MAX_LISTS] = {
    { 0, 0, 0 },
    { LARDER_PROTECTED, LARDER_WINDOW, LARDER_PROBATION },
    { LARDER_MAIN, LARDER_SMALL, 0 },
};

/* The first entry of the lists after (direction > 0) or before position
 * `at` of the policy's chain, at the end facing the walk; LARDER_NIL. */
static uint32_t larder_chain_step(const larder_core *core, int at, int direction)
{
    if (core->policy == LARDER_POLICY_LRU) {  /* one list, cut at its hand */
        if (at + direction != 0) return LARDER_NIL;
        return direction > 0 ? core->lru_front : core->lru_hand;
    }
    const uint8_t *chain = larder_chain[core->policy];
    for (int i = at + direction; i >= 0 && i < (int)core->lists; i += direction) {
        uint32_t sentinel = larder_sentinel(core, chain[i]);
        uint32_t s = direction > 0 ? core->nodes[sentinel].next : core->nodes[sentinel].prev;
        if (s < core->capacity) return s;
    }
    return LARDER_NIL;
}

/* Where list `list` sits in the policy's chain. */
static int larder_chain_position(const larder_core *core, uint32_t list)
{
    const uint8_t *chain = larder_chain[core->policy];
    int i = 0;
    while (chain[i] != list) i++;
    return i;
}

uint32_t larder_core_lru(const larder_core *core)
{
    larder_flush_for_read(core);
    return larder_chain_step(core, (int)core->lists, -1);
}

uint32_t larder_core_mru(const larder_core *core)
{
    larder_flush_for_read(core);
    return larder_chain_step(core, -1, 1);
}

uint32_t larder_core_older(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    larder_flush_for_read(core);
    if (core->policy == LARDER_POLICY_LRU)
        return slot == core->lru_hand ? LARDER_NIL : larder_lru_older_raw(core->nodes, core->capacity, slot);
    uint32_t s = core->nodes[slot].next;
    if (s < core->capacity) return s;
    return larder_chain_step(core, larder_chain_position(core, s - core->capacity), 1);
}

uint32_t larder_core_newer(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    larder_flush_for_read(core);
    if (core->policy == LARDER_POLICY_LRU)
        return slot == core->lru_front ? LARDER_NIL : larder_lru_newer_raw(core->nodes, core->capacity, slot);
    uint32_t s = core->nodes[slot].prev;
    if (s < core->capacity) return s;
    return larder_chain_step(core, larder_chain_position(core, s - core->capacity), -1);
}

/* ---- Entries ------------------------------------------------------------ */

static larder_status larder_insert_at(larder_core *core, uint64_t hash, uint64_t weight,
                                      int at_back, uint32_t *slot_out)
{
    larder_flush_for_read(core);
    if (core->count == core->capacity) return LARDER_ERR_FULL;
    if (weight > LARDER_MAX_WEIGHT) return LARDER_ERR_WEIGHT;
    larder_node *nodes = core->nodes;
    larder_meta *metas = core->metas;
    uint32_t slot = core->free_head;
    assert(slot < core->capacity && metas[slot].word == 0);
    core->free_head = nodes[slot].next;
    metas[slot].hash = hash;
    larder_meta_store_word_(&metas[slot], weight | LARDER_FLAG_LIVE);
    switch (core->policy) {
    case LARDER_POLICY_WTINYLFU: larder_wtinylfu_insert(core, slot, at_back); break;
    case LARDER_POLICY_S3FIFO: larder_s3fifo_insert(core, slot, at_back); break;
    default:
        larder_lru_set_mark(core, slot, 0);  /* a reader's stray mark on the free slot */
        larder_lru_link(core, slot, at_back);
    }
    larder_index_insert(core, hash, slot);
    core->count++;
    core->total_weight += weight;
    *slot_out = slot;
    return LARDER_OK;
}

larder_status larder_core_insert(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out)
{
    return larder_insert_at(core, hash, weight, 0, slot_out);
}

larder_status larder_core_insert_lru(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out)
{
    return larder_insert_at(core, hash, weight, 1, slot_out);
}

uint32_t larder_core_victim(larder_core *core)
{
    uint32_t victim = LARDER_NIL;
    switch (core->policy) {
    case LARDER_POLICY_WTINYLFU: (void)larder_wtinylfu_victim(core, 0, 0, 0, &victim); return victim;
    case LARDER_POLICY_S3FIFO: return larder_s3fifo_victim(core);
    default: return larder_lru_victim(core);
    }
}

larder_status larder_core_victim_for(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *victim_out)
{
    uint32_t victim;
    if (core->policy == LARDER_POLICY_WTINYLFU) return larder_wtinylfu_victim(core, 1, hash, weight, victim_out);
    victim = core->policy == LARDER_POLICY_S3FIFO ? larder_s3fifo_victim(core) : larder_lru_victim(core);
    if (victim == LARDER_NIL) return LARDER_REJECTED;
    *victim_out = victim;
    return LARDER_OK;
}

larder_status larder_core_replace_lru(larder_core *core, uint64_t hash, uint64_t weight,
                                     uint64_t max_total_weight, uint32_t *slot_out)
{
    if (weight > LARDER_MAX_WEIGHT) return LARDER_ERR_WEIGHT;
    if (core->count == 0) return LARDER_ERR_FULL;  /* nothing to evict */
    if (core->policy == LARDER_POLICY_LRU) return larder_lru_replace(core, hash, weight, max_total_weight, slot_out);
    if (core->policy == LARDER_POLICY_S3FIFO) return larder_s3fifo_replace(core, hash, weight, max_total_weight, slot_out);
    return larder_wtinylfu_replace(core, hash, weight, max_total_weight, slot_out);
}

/* W-TinyLFU's swap stays out of line: inlined into its replace, with its
 * remove and insert still calls, its mixed time rose 5 % (five alternating
 * pairs of the throughput suite). */
larder_status larder_wtinylfu_swap(larder_core *core, uint32_t slot, uint64_t hash, uint64_t weight,
                                   uint64_t max_total_weight, uint32_t *slot_out)
{
    return larder_core_swap(core, slot, hash, weight, max_total_weight, slot_out, larder_wtinylfu_remove,
                            larder_wtinylfu_insert);
}

void larder_core_remove(larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    /* The slot may be among the deferred touches, and is about to be reused. */
    larder_flush_for_read(core);
    larder_node *nodes = core->nodes;
    larder_meta *metas = core->metas;
    larder_unfile_and_unindex(core, slot);
    switch (core->policy) {
    case LARDER_POLICY_WTINYLFU: larder_wtinylfu_remove(core, slot); break;
    case LARDER_POLICY_S3FIFO: larder_s3fifo_remove(core, slot); break;
    default: larder_lru_unlink(core, slot);
    }
    core->total_weight -= larder_meta_weight(&metas[slot]);
    core->count--;
    nodes[slot].prev = LARDER_NIL;
    nodes[slot].next = core->free_head;
    metas[slot].hash = 0;
    larder_meta_store_word_(&metas[slot], 0);
    core->free_head = slot;
}

void larder_core_clear(larder_core *core)
{
    /* W-TinyLFU's deferred hits still count, and its residents' counts stay
     * on record in the sketch; S3-FIFO's ghost outlives the entries, so a
     * waiting lookup still takes its record. */
    larder_flush_for_read(core);
    if (core->policy == LARDER_POLICY_WTINYLFU) larder_wtinylfu_release_all(core);
    larder_arena_reset(core);
    larder_index_reset(core);
    if (core->wheel) larder_wheel_reset(core);  /* keeps wheel_time: the clock is monotonic */
    if (core->policy == LARDER_POLICY_WTINYLFU) larder_wtinylfu_clear(core);
    else if (core->policy == LARDER_POLICY_S3FIFO) larder_s3fifo_clear(core);
}

uint64_t larder_core_hash(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    return core->metas[slot].hash;
}

uint64_t larder_core_weight(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    return larder_meta_weight(&core->metas[slot]);
}

larder_status larder_core_set_weight(larder_core *core, uint32_t slot, uint64_t weight)
{
    assert(larder_slot_is_live(core, slot));
    if (weight > LARDER_MAX_WEIGHT) return LARDER_ERR_WEIGHT;
    larder_meta *node = &core->metas[slot];
    uint64_t old = larder_meta_weight(node);
    if (core->policy == LARDER_POLICY_WTINYLFU) larder_wtinylfu_reweigh(core, slot, old, weight);
    else if (core->policy == LARDER_POLICY_S3FIFO) larder_s3fifo_reweigh(core, slot, old, weight);
    core->total_weight = core->total_weight - old + weight;
    larder_meta_store_word_(node, (node->word & ~LARDER_MAX_WEIGHT) | weight);
    return LARDER_OK;
}

/*
 * larder_core.c — lifetime, the arena and its recency list, entries, and the
 * top of larder_core_check. The index is in larder_index.c, the timer wheel
 * in larder_expiry_wheel.c.
 *
 * Recency list: circular through the sentinel node nodes[capacity], whose
 * `next` is the most recent entry and whose `prev` is the least recent; an
 * entry's `next` is the next older one. The sentinel removes every
 * first/last branch from touch, insert and unlink.
 * Free list: singly linked through `next` from free_head, ending in LARDER_NIL.
 */
#include "larder_core_internal.h"

#include <stdlib.h>
#include <string.h>

static inline void larder_flush_for_read(const larder_core *core);  /* deferred touches, below */

/* ---- Layout ------------------------------------------------------------- */

typedef struct larder_layout {
    uint64_t nodes_offset;
    uint64_t metas_offset;
    uint64_t buckets_offset;
    uint64_t touches_offset;
    uint64_t wheel_offset;  /* == total when there is no wheel */
    uint64_t total;
    uint32_t bucket_count;
} larder_layout;

/* One block holds the header, the nodes, their meta records, the buckets, the deferred-touch
 * buffer and the wheel records,
 * in that order; every part is a multiple of 8 bytes, so each stays aligned. */
static int larder_layout_of(uint32_t capacity, uint32_t flags, larder_layout *layout)
{
    if (capacity == 0 || capacity > LARDER_MAX_CAPACITY) return LARDER_ERR_CAPACITY;
    if ((flags & ~(uint32_t)LARDER_CORE_EXPIRY) != 0) return LARDER_ERR_UNSUPPORTED;
    /* Load at most 1/2: the smallest power of two >= 2 * capacity (<= 2^31). */
    uint64_t buckets = 2;
    while (buckets < 2 * (uint64_t)capacity) buckets <<= 1;
    uint64_t header = (sizeof(struct larder_core) + 7u) & ~(uint64_t)7u;
    layout->bucket_count = (uint32_t)buckets;
    layout->nodes_offset = header;
    layout->metas_offset = header + ((uint64_t)capacity + 1u) * sizeof(larder_node);
    layout->buckets_offset = layout->metas_offset + ((uint64_t)capacity + 1u) * sizeof(larder_meta);
    layout->touches_offset = layout->buckets_offset + buckets * sizeof(larder_bucket);
    layout->wheel_offset = layout->touches_offset + LARDER_TOUCH_RING * sizeof(uint32_t);
    layout->total = layout->wheel_offset;
    if (flags & LARDER_CORE_EXPIRY)
        layout->total += ((uint64_t)capacity + LARDER_WHEEL_SENTINELS) * sizeof(larder_wlink);
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
 * out slots 0, 1, 2, ... */
static void larder_arena_reset(larder_core *core)
{
    larder_node *nodes = core->nodes;
    larder_meta *metas = core->metas;
    uint32_t capacity = core->capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        nodes[i].prev = LARDER_NIL;
        nodes[i].next = i + 1 < capacity ? i + 1 : LARDER_NIL;
        metas[i].hash = 0;
        metas[i].word = 0;
    }
    nodes[capacity].prev = capacity;
    nodes[capacity].next = capacity;
    metas[capacity].hash = 0;
    metas[capacity].word = 0;
    core->free_head = 0;
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
    core->wheel_time = 0;
    larder_arena_reset(core);
    larder_index_reset(core);
    if (core->wheel) larder_wheel_reset(core);
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
    /* One block: header, arena, index, wheel. A caller's block stays the caller's. */
    if (core != NULL && core->owns_block) free(core);
}

uint32_t larder_core_capacity(const larder_core *core) { return core->capacity; }
int larder_core_has_expiry(const larder_core *core) { return core->wheel != NULL; }

/* ---- Recency list ------------------------------------------------------- */

static inline void larder_list_unlink(larder_node *nodes, uint32_t slot)
{
    uint32_t prev = nodes[slot].prev, next = nodes[slot].next;
    nodes[prev].next = next;
    nodes[next].prev = prev;
}

/* Links `slot` just older than `at` (at == sentinel: as the most recent). */
static inline void larder_list_link_after(larder_node *nodes, uint32_t at, uint32_t slot)
{
    uint32_t next = nodes[at].next;
    nodes[slot].prev = at;
    nodes[slot].next = next;
    nodes[next].prev = slot;
    nodes[at].next = slot;
}

uint32_t larder_core_lru(const larder_core *core)
{
    larder_flush_for_read(core);
    uint32_t s = core->nodes[core->capacity].prev;
    return s == core->capacity ? LARDER_NIL : s;
}

uint32_t larder_core_mru(const larder_core *core)
{
    larder_flush_for_read(core);
    uint32_t s = core->nodes[core->capacity].next;
    return s == core->capacity ? LARDER_NIL : s;
}

uint32_t larder_core_older(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    larder_flush_for_read(core);
    uint32_t s = core->nodes[slot].next;
    return s == core->capacity ? LARDER_NIL : s;
}

uint32_t larder_core_newer(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    larder_flush_for_read(core);
    uint32_t s = core->nodes[slot].prev;
    return s == core->capacity ? LARDER_NIL : s;
}

void larder_core_touch(larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    larder_core_touch_inline(core, slot);
}

/* Moves one deferred touch's slot to the front (its hit found it live, and
 * nothing removes a slot without flushing first). */
static inline void larder_apply_touch(larder_core *core, uint32_t slot)
{
    larder_node *nodes = core->nodes;
    uint32_t sentinel = core->capacity;
    assert(larder_slot_is_live(core, slot));
    if (nodes[sentinel].next == slot) return;
    larder_list_unlink(nodes, slot);
    larder_list_link_after(nodes, sentinel, slot);
}

void larder_core_apply_oldest_touch(larder_core *core)
{
    if (core->touch_count == 0) return;
    uint32_t slot = core->touches[core->touch_head];
    core->touch_head = (core->touch_head + 1u) % LARDER_TOUCH_RING;
    core->touch_count--;
    larder_apply_touch(core, slot);
}

/* Applies every deferred touch, in order (their neighbours were prefetched
 * by their hits). Every function that reads or changes the recency list
 * calls it first, so no caller can observe the deferral. The const readers
 * (lru, mru, older, newer) flush through a cast: a core is never a const
 * object (it is allocated), and a flush changes no order a caller can see. */
static inline void larder_flush_for_read(const larder_core *core)
{
    larder_core *mutable_core = (larder_core *)(uintptr_t)core;
    uint32_t count = mutable_core->touch_count;
    if (count == 0) return;
    /* One loop rather than a call per touch: a set pays for up to
     * LARDER_TOUCH_LAG of them. */
    uint32_t head = mutable_core->touch_head;
    for (uint32_t i = 0; i < count; i++) {
        larder_apply_touch(mutable_core, mutable_core->touches[(head + i) % LARDER_TOUCH_RING]);
    }
    mutable_core->touch_head = (head + count) % LARDER_TOUCH_RING;
    mutable_core->touch_count = 0;
}

void larder_core_touch_batch(larder_core *core, const uint32_t *slots, uint32_t count)
{
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

/* ---- Entries ------------------------------------------------------------ */

static larder_status larder_insert_after(larder_core *core, uint64_t hash, uint64_t weight,
                                         int at_lru, uint32_t *slot_out)
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
    metas[slot].word = weight | LARDER_FLAG_LIVE;
    uint32_t sentinel = core->capacity;
    larder_list_link_after(nodes, at_lru ? nodes[sentinel].prev : sentinel, slot);
    larder_index_insert(core, hash, slot);
    core->count++;
    core->total_weight += weight;
    *slot_out = slot;
    return LARDER_OK;
}

larder_status larder_core_insert(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out)
{
    return larder_insert_after(core, hash, weight, 0, slot_out);
}

larder_status larder_core_insert_lru(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out)
{
    return larder_insert_after(core, hash, weight, 1, slot_out);
}

larder_status larder_core_replace_lru(larder_core *core, uint64_t hash, uint64_t weight,
                                     uint64_t max_total_weight, uint32_t *slot_out)
{
    if (weight > LARDER_MAX_WEIGHT) return LARDER_ERR_WEIGHT;
    larder_flush_for_read(core);
    larder_node *nodes = core->nodes;
    larder_meta *metas = core->metas;
    uint32_t sentinel = core->capacity;
    uint32_t slot = nodes[sentinel].prev;
    if (slot == sentinel) return LARDER_ERR_FULL;  /* empty: nothing to evict */
    uint64_t rest = core->total_weight - larder_meta_weight(&metas[slot]);
    if (weight > max_total_weight || rest > max_total_weight - weight) return LARDER_ERR_FULL;
    /* The victim's removal, as larder_core_remove does it (the index needs
     * its old hash), without returning the slot to the free list ... */
    if (metas[slot].word & LARDER_FLAG_FILED) larder_wheel_unfile(core, slot);
    if (metas[slot].word & LARDER_FLAG_DATED) __atomic_store_n(&core->wheel[slot].deadline, LARDER_NO_DEADLINE, __ATOMIC_RELAXED);
    larder_index_remove(core, slot);
    /* ... and the new entry's insert into the same slot, at the front. */
    if (nodes[sentinel].next != slot) {
        larder_list_unlink(nodes, slot);
        larder_list_link_after(nodes, sentinel, slot);
    }
    metas[slot].hash = hash;
    metas[slot].word = weight | LARDER_FLAG_LIVE;
    larder_index_insert(core, hash, slot);
    core->total_weight = rest + weight;
    *slot_out = slot;
    return LARDER_OK;
}

void larder_core_remove(larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    /* The slot may be among the deferred touches, and is about to be reused. */
    larder_flush_for_read(core);
    larder_node *nodes = core->nodes;
    larder_meta *metas = core->metas;
    if (metas[slot].word & LARDER_FLAG_FILED) larder_wheel_unfile(core, slot);
    /* Only a dated entry's record needs resetting: sparing the others this
     * write spares an eviction a cache miss on the wheel records. */
    if (metas[slot].word & LARDER_FLAG_DATED) __atomic_store_n(&core->wheel[slot].deadline, LARDER_NO_DEADLINE, __ATOMIC_RELAXED);
    larder_index_remove(core, slot);
    larder_list_unlink(nodes, slot);
    core->total_weight -= larder_meta_weight(&metas[slot]);
    core->count--;
    nodes[slot].prev = LARDER_NIL;
    nodes[slot].next = core->free_head;
    metas[slot].hash = 0;
    metas[slot].word = 0;
    core->free_head = slot;
}

void larder_core_clear(larder_core *core)
{
    larder_arena_reset(core);
    larder_index_reset(core);
    if (core->wheel) larder_wheel_reset(core);  /* keeps wheel_time: the clock is monotonic */
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
    core->total_weight = core->total_weight - larder_meta_weight(node) + weight;
    node->word = (node->word & ~LARDER_MAX_WEIGHT) | weight;
    return LARDER_OK;
}

/* ---- Check -------------------------------------------------------------- */

static int larder_list_check(const larder_core *core)
{
    const larder_node *nodes = core->nodes;
    const larder_meta *metas = core->metas;
    uint32_t capacity = core->capacity, sentinel = capacity;

    /* Recency list, from the sentinel through `next`, at most count + 1 steps.
     * Links agreeing both ways along a walk that starts and ends at the
     * sentinel visit no slot twice. */
    uint32_t at = sentinel, steps = 0;
    for (;;) {
        uint32_t next = nodes[at].next;
        if (next > capacity || nodes[next].prev != at) return LARDER_CHECK_LIST_LINK;
        if (next == sentinel) break;
        if (!(metas[next].word & LARDER_FLAG_LIVE)) return LARDER_CHECK_LIST_NOT_LIVE;
        if (++steps > core->count) return LARDER_CHECK_LIST_LENGTH;
        at = next;
    }
    if (steps != core->count) return LARDER_CHECK_LIST_LENGTH;

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

int larder_core_check(const larder_core *core)
{
    if (core->count > core->capacity) return LARDER_CHECK_HEADER;
    if (core->mask < 1 || (core->mask & (core->mask + 1u)) != 0 ||
        (uint64_t)core->mask + 1u < 2 * (uint64_t)core->capacity)
        return LARDER_CHECK_HEADER;
    if (core->touch_count > LARDER_TOUCH_LAG || core->touch_head >= LARDER_TOUCH_RING) return LARDER_CHECK_TOUCHES;
    for (uint32_t i = 0; i < core->touch_count; i++)
        if (!larder_slot_is_live(core, core->touches[(core->touch_head + i) % LARDER_TOUCH_RING]))
            return LARDER_CHECK_TOUCHES;
    int code = larder_list_check(core);
    if (code) return code;
    code = larder_index_check(core);
    if (code) return code;
    if (core->wheel) return larder_wheel_check(core);
    for (uint32_t i = 0; i < core->capacity; i++)
        if (core->metas[i].word & LARDER_FLAG_FILED) return LARDER_CHECK_NO_WHEEL_STATE;
    return 0;
}

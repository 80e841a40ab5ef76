/*
 * larder_core_internal.h — the layout shared by the core's source files.
 * Not part of the public module: only larder_core.h is under include/.
 * It reads best whole: every struct, bit of the meta word and internal
 * declaration the policy files share is defined once, here, beside the
 * others it must agree with.
 */
#ifndef LARDER_CORE_INTERNAL_H
#define LARDER_CORE_INTERNAL_H

#include "larder_core.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bound on the timer wheel's sentinel records (see below). */
#define LARDER_WHEEL_SENTINELS_MAX 1024u

/* The public limits are plain literals so that Swift imports them; pin
 * them to the values they stand for. */
_Static_assert(LARDER_MAX_CAPACITY == (UINT32_C(1) << 30), "LARDER_MAX_CAPACITY is 2^30");
_Static_assert(LARDER_MAX_WEIGHT == (UINT64_C(1) << 52) - 1, "LARDER_MAX_WEIGHT is 2^52 - 1");
_Static_assert(LARDER_NO_DEADLINE == UINT64_MAX, "LARDER_NO_DEADLINE is UINT64_MAX");
_Static_assert(LARDER_NIL == UINT32_MAX, "LARDER_NIL is UINT32_MAX");
_Static_assert(sizeof(larder_cursor) == 8, "a cursor is two 32-bit words");
/* Slots, the sentinel and the bucket count (<= 2 * capacity rounded up)
 * must all fit below LARDER_NIL. */
_Static_assert((uint64_t)LARDER_MAX_CAPACITY * 2u + LARDER_WHEEL_SENTINELS_MAX < UINT32_MAX, "slot numbers fit");

/* ---- Node (links, 8 bytes) and meta (hash and weight word, 16 bytes) ---- */

/** Bits 52-55 of a slot's weight word: above the largest weight, zero
 *  under every policy (larder_core_check). */
#define LARDER_FREQ_SHIFT 52u
#define LARDER_FREQ_MASK (UINT64_C(15) << LARDER_FREQ_SHIFT)

/** Policy and state bits in the top byte of a slot's weight word. */
#define LARDER_FLAG_LIVE  (UINT64_C(1) << 56) /* slot holds an entry (larder_core_slot_matches tests this bit too) */
#define LARDER_FLAG_FILED (UINT64_C(1) << 57) /* in a wheel bucket or the expired list */
#define LARDER_FLAG_MARK  (UINT64_C(1) << 58) /* scratch bit of larder_core_check only */
#define LARDER_FLAG_DATED (UINT64_C(1) << 59) /* has a deadline: its wheel record must be reset on removal */
/* Bits 60-63 belong to the policy: S3-FIFO keeps its queue in 62 (its hit
 * counters are a table of their own); W-TinyLFU keeps its region and count,
 * and LRU its mark, in a byte of their own (see their files). Every new
 * entry starts with them clear. */
#define LARDER_FLAG_POLICY_SHIFT 60u
#define LARDER_FLAG_POLICY (UINT64_C(0xF) << LARDER_FLAG_POLICY_SHIFT)

/* The line that opens at the first sentinel (nodes[capacity]): the
 * sentinels (at most 4), then, from its second half, the owner's words
 * (larder_core_owner_words), which the core never reads or writes after
 * creation. */
#define LARDER_SENTINEL_LINE 64u
#define LARDER_OWNER_WORDS_NODE 4u
_Static_assert(LARDER_OWNER_WORDS_NODE * 8u + LARDER_CORE_OWNER_WORDS * 8u <= LARDER_SENTINEL_LINE,
               "the owner's words fit the sentinels' line");
/* W-TinyLFU's three sentinels, the most a policy has (larder_layout_of). */
_Static_assert(3u <= LARDER_OWNER_WORDS_NODE, "every policy's sentinels come before the owner's words");

/* larder_node is declared in larder_core_inline.h (the inlined hit path reads it). */
_Static_assert(sizeof(larder_node) == 8, "a node is 8 bytes");
_Static_assert(sizeof(larder_meta) == 16, "a slot's meta record is 16 bytes");
_Static_assert(LARDER_MAX_WEIGHT == ((UINT64_C(1) << 52) - 1), "weight uses the low 52 bits");

static inline uint64_t larder_meta_weight(const larder_meta *m) { return m->word & LARDER_MAX_WEIGHT; }

/* ---- Index bucket (8 bytes) --------------------------------------------- */

/* larder_bucket is declared in larder_core_inline.h. An empty bucket has
 * slot == LARDER_NIL (all bits set, see larder_index_reset). */
_Static_assert(sizeof(larder_bucket) == 8, "a bucket is 8 bytes");

static inline uint32_t larder_tag_of(uint64_t hash) { return (uint32_t)(hash >> 32); }

/* ---- Timer wheel (only with LARDER_CORE_EXPIRY) ------------------------- */

/** Per-slot wheel links and deadline (16 bytes); the same record serves as
 *  the sentinel of each wheel bucket and of the expired list. */
typedef struct larder_wlink {
    uint32_t prev;
    uint32_t next;
    uint64_t deadline;  /* LARDER_NO_DEADLINE when none */
} larder_wlink;

_Static_assert(sizeof(larder_wlink) == 16, "a wheel link is 16 bytes");
_Static_assert(offsetof(larder_wlink, deadline) == 8, "larder_core_deadline_concurrent reads the deadline at byte 8");

/* Levels of 64 buckets each. Level i ticks every 2^(20 + 6 i) ns:
 * 1.05 ms, 67 ms, 4.3 s, 4.6 min, 4.9 h; level i holds deadlines fewer
 * than 64 of its ticks ahead. Beyond level 4 (about 13 days) entries wait
 * in one overflow bucket, rescanned each time 2^50 ns (13 days) pass. */
#define LARDER_WHEEL_LEVELS 5u
#define LARDER_WHEEL_BITS 6u
#define LARDER_WHEEL_SIZE (1u << LARDER_WHEEL_BITS)
#define LARDER_WHEEL_SHIFT0 20u
#define LARDER_WHEEL_OVERFLOW_SHIFT (LARDER_WHEEL_SHIFT0 + LARDER_WHEEL_LEVELS * LARDER_WHEEL_BITS)
/* Sentinels after the per-slot records: the buckets, the overflow bucket,
 * the expired list. */
#define LARDER_WHEEL_OVERFLOW_INDEX (LARDER_WHEEL_LEVELS * LARDER_WHEEL_SIZE)
#define LARDER_WHEEL_EXPIRED_INDEX (LARDER_WHEEL_OVERFLOW_INDEX + 1u)
#define LARDER_WHEEL_SENTINELS (LARDER_WHEEL_EXPIRED_INDEX + 1u)
_Static_assert(LARDER_WHEEL_SENTINELS <= LARDER_WHEEL_SENTINELS_MAX, "sentinel budget");

static inline unsigned larder_wheel_shift(uint32_t level) { return LARDER_WHEEL_SHIFT0 + level * LARDER_WHEEL_BITS; }

/* ---- Lists -------------------------------------------------------------
 *
 * Every policy's queues are circular doubly linked lists through the nodes,
 * each closed by a sentinel node after the slots: nodes[capacity + k] is the
 * sentinel of list k. A sentinel's `next` is the list's front (most recent,
 * or newest) and its `prev` its back (least recent, or oldest); an entry's
 * `next` is the next one toward the back. LRU has one list; W-TinyLFU three
 * (window, probation, protected); S3-FIFO two (small, main).
 *
 * LRU's list is cut at a hand instead (core->lru_hand, CLOCK's): the least
 * recent entry; following `next` from it leads to the most recent, then on
 * toward the least recent, the sentinel passed over wherever it sits. An
 * eviction puts the new entry in its victim's slot, which keeps its place
 * in the circle, and moves the hand one entry toward the front: the new
 * entry is then the most recent, and no other node is written. A marked
 * entry's second chance is the same step. Cut at the sentinel, the set wrote
 * the sentinel, the front's node and the back's neighbour, lines that
 * another thread's sets on the same shard write too (docs/Performance.md,
 * "What two threads still pay on one cache"). */

#define LARDER_MAX_LISTS 3u

static inline void larder_list_unlink(larder_node *nodes, uint32_t slot)
{
    uint32_t prev = nodes[slot].prev, next = nodes[slot].next;
    nodes[prev].next = next;
    nodes[next].prev = prev;
}

/* Links `slot` just behind `at` (at == a sentinel: at that list's front). */
static inline void larder_list_link_after(larder_node *nodes, uint32_t at, uint32_t slot)
{
    uint32_t next = nodes[at].next;
    nodes[slot].prev = at;
    nodes[slot].next = next;
    nodes[next].prev = slot;
    nodes[at].next = slot;
}

#include "larder_policy_state.h"

/* ---- The core ----------------------------------------------------------- */

/* The policy numbers kept in the core (the creation flags' policy field). */
enum { LARDER_POLICY_LRU = 0, LARDER_POLICY_WTINYLFU = 1, LARDER_POLICY_S3FIFO = 2 };

struct larder_core {
    /* The view's fields first, in its order (larder_core_view in
     * larder_core_inline.h reads them from the inlined paths).
     * The first cache line: read by every lookup, optimistic readers on
     * other threads included, and written only at creation. What writes and
     * touches move starts on the second line, so that a touch or a write
     * does not take the line other threads' lookups read from their caches
     * (the core is line-aligned in ShardMemory). */
    larder_node *nodes;      /* capacity + lists; nodes[capacity + k] is list k's sentinel */
    larder_meta *metas;      /* capacity + lists */
    larder_bucket *buckets;  /* mask + 1 buckets */
    uint32_t capacity;
    uint32_t mask;           /* bucket count - 1 */
    uint32_t *touches;       /* ring of LARDER_TOUCH_RING deferred touches, then the slots' states */
    uint32_t policy;         /* LARDER_POLICY_* */
    uint32_t flags;
    larder_wlink *wheel;     /* capacity + LARDER_WHEEL_SENTINELS, or NULL without expiry */
    union {
        larder_wtinylfu *wtinylfu;
        larder_s3fifo *s3fifo;
    } state;                 /* in the core's block; NULL for LRU */
    /* The second line: moved by touches and writes, and the owner's lock
     * (larder_core_lock_offset), which every write takes: a write on one
     * thread after another thread's then fetches one line less from it. */
    uint16_t touch_head;     /* the oldest deferred touch (ring index) */
    uint16_t touch_count;
    uint32_t count;
    uint64_t total_weight;
    uint32_t free_head;      /* first free slot, LARDER_NIL when full */
    uint32_t lru_hand;       /* LRU: the least recent entry, LARDER_NIL when empty (see Lists) */
    /* LRU: the most recent entry, LARDER_NIL when empty. The hand's `next`
     * gives it too, but a hit's "already the most recent?" check would then
     * load the hand's node, a line the hit has no other use for. */
    uint32_t lru_front;
    uint32_t unused_;        /* the owner's lock starts 8-byte aligned */
    uint32_t owner_lock[LARDER_CORE_LOCK_BYTES / 4u];  /* the owner's; never read or written here */
    uint8_t owns_block;      /* 1: from larder_core_create, freed by larder_core_destroy */
    uint8_t lists;           /* 1 (LRU), 3 (W-TinyLFU) or 2 (S3-FIFO) */
    /* The third line: what expiry and budget changes read. */
    uint64_t wheel_time;     /* the latest `now` given to larder_core_expire */
    uint64_t max_weight;     /* larder_core_set_maximum; UINT64_MAX: none */
};

_Static_assert(offsetof(struct larder_core, nodes) == offsetof(larder_core_view, nodes), "view: nodes");
_Static_assert(offsetof(struct larder_core, metas) == offsetof(larder_core_view, metas), "view: metas");
_Static_assert(offsetof(struct larder_core, buckets) == offsetof(larder_core_view, buckets), "view: buckets");
_Static_assert(offsetof(struct larder_core, capacity) == offsetof(larder_core_view, capacity), "view: capacity");
_Static_assert(offsetof(struct larder_core, mask) == offsetof(larder_core_view, mask), "view: mask");
_Static_assert(offsetof(struct larder_core, touches) == offsetof(larder_core_view, touches), "view: touches");
_Static_assert(offsetof(struct larder_core, policy) == offsetof(larder_core_view, policy), "view: policy");
_Static_assert(offsetof(struct larder_core, wheel) == offsetof(larder_core_view, wheel), "view: wheel");
_Static_assert(offsetof(struct larder_core, touch_head) == offsetof(larder_core_view, touch_head), "view: touch_head");
_Static_assert(offsetof(struct larder_core, touch_count) == offsetof(larder_core_view, touch_count), "view: touch_count");
_Static_assert(offsetof(struct larder_core, count) == offsetof(larder_core_view, count), "view: count");
_Static_assert(offsetof(struct larder_core, total_weight) == offsetof(larder_core_view, total_weight), "view: total_weight");
_Static_assert(offsetof(struct larder_core, lru_hand) == offsetof(larder_core_view, lru_hand), "view: lru_hand");
_Static_assert(offsetof(struct larder_core, lru_front) == offsetof(larder_core_view, lru_front), "view: lru_front");
_Static_assert(offsetof(struct larder_core, owner_lock) % 8 == 0 &&
                   offsetof(struct larder_core, owner_lock) + LARDER_CORE_LOCK_BYTES <= 128,
               "the owner's lock is 8-byte aligned on the second line");
_Static_assert(sizeof(void *) != 8 || offsetof(struct larder_core, touch_head) == 64,
               "what touches and writes move starts on the second line");
_Static_assert(LARDER_TOUCH_LAG < LARDER_TOUCH_RING, "the ring holds the lag and the hit that exceeds it");
_Static_assert(LARDER_POLICY_S3FIFO == LARDER_VIEW_POLICY_S3FIFO, "the inlined hit tells S3-FIFO by this number");

/* W-TinyLFU's byte per slot (larder_slot_states_): the entry's count of
 * hits in bits 0-3, its region in bits 4-5; zero for a free slot. */
#define LARDER_WTINYLFU_COUNT_MASK 15u
#define LARDER_WTINYLFU_REGION_SHIFT 4u

/* The policy's state of each slot (larder_core_slot_state_bytes). */
static inline uint8_t *larder_slot_states(const larder_core *core) { return larder_slot_states_(core->touches); }

/* LRU's mark (larder_core_mark_batch, larder_core_mark_concurrent): 1 when
 * the slot's entry was hit since the hand last passed it. No access reads,
 * modifies and writes it: a reader's 1 racing the hand's 0 leaves one or
 * the other, and either is a valid state. */
static inline int larder_lru_marked(const larder_core *core, uint32_t slot)
{
    return larder_lru_mark_load_(core->touches, slot);
}

static inline void larder_lru_set_mark(larder_core *core, uint32_t slot, uint8_t mark)
{
    larder_lru_mark_store_(core->touches, slot, mark);
}

static inline uint32_t larder_wtinylfu_region_of(const larder_core *core, uint32_t slot)
{
    return (uint32_t)(larder_slot_states(core)[slot] >> LARDER_WTINYLFU_REGION_SHIFT) & 3u;
}

/* The sentinel of list k. */
static inline uint32_t larder_sentinel(const larder_core *core, uint32_t list) { return core->capacity + list; }

static inline int larder_slot_is_live(const larder_core *core, uint32_t slot)
{
    return slot < core->capacity && (core->metas[slot].word & LARDER_FLAG_LIVE) != 0;
}

/* Shared between the core's files only: kept out of the library's exports. */
#if defined(__GNUC__) || defined(__clang__)
#define LARDER_INTERNAL __attribute__((visibility("hidden")))
#else
#define LARDER_INTERNAL
#endif

/* Forced inlining, where the compiler would call (W-TinyLFU's hit in each
 * loop that applies hits, its window's overflow in the eviction and the
 * insert), and rare work kept out of those inlined paths, whose registers
 * it would take. */
#if defined(__GNUC__) || defined(__clang__)
#define LARDER_ALWAYS_INLINE inline __attribute__((always_inline))
#define LARDER_COLD __attribute__((noinline, cold))
#else
#define LARDER_ALWAYS_INLINE inline
#define LARDER_COLD
#endif

#include "larder_lru_inline.h"

/* Index (larder_index.c). */
LARDER_INTERNAL void larder_index_reset(larder_core *core);
LARDER_INTERNAL void larder_index_insert(larder_core *core, uint64_t hash, uint32_t slot);
LARDER_INTERNAL void larder_index_remove(larder_core *core, uint32_t slot);
LARDER_INTERNAL int larder_index_check(const larder_core *core);

/* Timer wheel (larder_expiry_wheel.c). */
LARDER_INTERNAL void larder_wheel_reset(larder_core *core);
LARDER_INTERNAL void larder_wheel_unfile(larder_core *core, uint32_t slot);
LARDER_INTERNAL int larder_wheel_check(const larder_core *core);

/* What every removal of a live entry does before its policy unlinks it:
 * out of the wheel (or the expired list) and out of the index, which needs
 * its old hash. Only a dated entry's wheel record is reset: sparing the
 * others this write spares an eviction a cache miss on the wheel records. */
static inline void larder_unfile_and_unindex(larder_core *core, uint32_t slot)
{
    uint64_t word = core->metas[slot].word;
    if (word & LARDER_FLAG_FILED) larder_wheel_unfile(core, slot);
    if (word & LARDER_FLAG_DATED) __atomic_store_n(&core->wheel[slot].deadline, LARDER_NO_DEADLINE, __ATOMIC_RELAXED);
    larder_index_remove(core, slot);
}

/* Per-policy pieces, called by larder_core.c with a policy's own core.
 * `insert` links a slot whose meta record is set (live, hash, weight) and
 * accounts it; `remove` unlinks and unaccounts one (its meta still set). */

/* Exact LRU (larder_policy_lru.c). */
LARDER_INTERNAL larder_status larder_lru_replace(larder_core *core, uint64_t hash, uint64_t weight,
                                                 uint64_t max_total_weight, uint32_t *slot_out);

/* W-TinyLFU (larder_policy_wtinylfu.c; its eviction decision in larder_wtinylfu_evict.c, its
 * window sizing in larder_policy_window.c, its counts in larder_wtinylfu_counts.c). */
LARDER_INTERNAL void larder_wtinylfu_init(larder_core *core, uint64_t *sketch_table, uint32_t sketch_blocks,
                                          uint64_t *regret_table, int adapts);
LARDER_INTERNAL void larder_wtinylfu_clear(larder_core *core);
LARDER_INTERNAL void larder_wtinylfu_set_maximum(larder_core *core);
LARDER_INTERNAL void larder_wtinylfu_insert(larder_core *core, uint32_t slot, int at_back);
LARDER_INTERNAL void larder_wtinylfu_remove(larder_core *core, uint32_t slot);
/* Every resident's count into the sketch, as if each left (before a clear). */
LARDER_INTERNAL void larder_wtinylfu_release_all(larder_core *core);
/* Ages the frequencies once the period's count has reached its sample. */
LARDER_INTERNAL LARDER_COLD void larder_wtinylfu_age(larder_core *core);
LARDER_INTERNAL void larder_wtinylfu_reweigh(larder_core *core, uint32_t slot, uint64_t old_weight, uint64_t weight);
LARDER_INTERNAL larder_status larder_wtinylfu_victim(larder_core *core, int newcomer, uint64_t hash, uint64_t weight,
                                                     uint32_t *victim_out);
/* larder_core_swap (below) under W-TinyLFU, out of line (larder_core.c). */
LARDER_INTERNAL larder_status larder_wtinylfu_swap(larder_core *core, uint32_t slot, uint64_t hash, uint64_t weight,
                                                   uint64_t max_total_weight, uint32_t *slot_out);
LARDER_INTERNAL larder_status larder_wtinylfu_replace(larder_core *core, uint64_t hash, uint64_t weight,
                                                      uint64_t max_total_weight, uint32_t *slot_out);
LARDER_INTERNAL int larder_wtinylfu_check(const larder_core *core);
LARDER_INTERNAL void larder_wtinylfu_move(larder_core *core, uint32_t slot, uint32_t to, int at_back);
LARDER_INTERNAL void larder_wtinylfu_touch_now(larder_core *core, uint32_t slot);
LARDER_INTERNAL void larder_window_size(larder_core *core);
LARDER_INTERNAL void larder_window_rebalance(larder_core *core);
LARDER_INTERNAL int larder_window_check(const larder_core *core);
LARDER_INTERNAL uint32_t larder_window_regret_slots_for(uint32_t capacity);
LARDER_INTERNAL void larder_window_regret_init(larder_wtinylfu *w, uint64_t *table, uint32_t slots);
LARDER_INTERNAL void larder_window_regret(larder_core *core, int grow);

/* S3-FIFO (larder_policy_s3fifo.c). */
LARDER_INTERNAL void larder_s3fifo_init(larder_core *core);
LARDER_INTERNAL larder_status larder_s3fifo_replace(larder_core *core, uint64_t hash, uint64_t weight,
                                                    uint64_t max_total_weight, uint32_t *slot_out);
LARDER_INTERNAL void larder_s3fifo_size(larder_core *core);
LARDER_INTERNAL void larder_s3fifo_clear(larder_core *core);
LARDER_INTERNAL void larder_s3fifo_insert(larder_core *core, uint32_t slot, int at_back);
LARDER_INTERNAL void larder_s3fifo_remove(larder_core *core, uint32_t slot);
LARDER_INTERNAL void larder_s3fifo_reweigh(larder_core *core, uint32_t slot, uint64_t old_weight, uint64_t weight);
LARDER_INTERNAL uint32_t larder_s3fifo_victim(larder_core *core);
LARDER_INTERNAL int larder_s3fifo_check(const larder_core *core);

/* Frequency sketch (larder_sketch.c). */
LARDER_INTERNAL uint32_t larder_sketch_blocks_for(uint32_t capacity);
LARDER_INTERNAL void larder_sketch_init(larder_sketch *sketch, uint64_t *table, uint32_t blocks, uint32_t population);
LARDER_INTERNAL void larder_sketch_set_population(larder_sketch *sketch, uint32_t population);
LARDER_INTERNAL uint64_t larder_sketch_halve(larder_sketch *sketch);
LARDER_INTERNAL int larder_sketch_check(const larder_sketch *sketch);

/* Ghost of evicted hashes (larder_ghost.c; its lookup and addition are in
 * larder_ghost_inline.h). */
LARDER_INTERNAL void larder_ghost_sizes(uint32_t capacity, uint32_t max_records, uint32_t *table_size);
LARDER_INTERNAL void larder_ghost_init(larder_ghost *ghost, uint32_t *table, uint32_t max_records, uint32_t table_size);
LARDER_INTERNAL int larder_ghost_check(const larder_ghost *ghost);

/* A hash's mix for the ghost (the SplitMix64 finalizer): the fingerprint
 * from its upper 20 bits, the bucket from its lower 32. Inline, with the
 * prefetches below, because a miss under S3-FIFO computes it for the victim
 * and the newcomer several times over (prefetches, addition, lookup). */
static inline uint64_t larder_ghost_mix(uint64_t hash)
{
    uint64_t z = (hash ^ (hash >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint32_t *larder_ghost_bucket_of(const larder_ghost *ghost, uint64_t mixed)
{
    uint32_t b = (uint32_t)(((uint64_t)(uint32_t)mixed * ghost->buckets) >> 32);
    return ghost->table + (size_t)b * LARDER_GHOST_BUCKET_WORDS;
}

/* Starts loading the bucket of `hash`: the ghost check of an insert, or the
 * filing of a victim, a few cache misses later. */
static inline void larder_ghost_prefetch(const larder_ghost *ghost, uint64_t hash)
{
#if defined(__GNUC__) || defined(__clang__)
    if (ghost->buckets) __builtin_prefetch(larder_ghost_bucket_of(ghost, larder_ghost_mix(hash)), 1);
#else
    (void)ghost;
    (void)hash;
#endif
}

/* The second half of the W-TinyLFU and S3-FIFO replace
 * (larder_core_replace_lru): the named victim in `slot` removed and the new
 * entry inserted in its place, in one pass over the slot as LRU's
 * (larder_lru_replace): no trip through the free list. The policy sees what
 * a removal and an insert show it, in that order, with the count and weight
 * the core would have between them. Inline, with the policy's own `remove`
 * and `insert` passed as constants, so that S3-FIFO's file compiles one copy
 * with its removal, insert and ghost inlined (its mixed time 1.005x LRU's
 * against 1.04x with those as calls across files, ten alternating pairs of
 * the throughput suite); W-TinyLFU's copy is larder_wtinylfu_swap. */
static inline larder_status larder_core_swap(larder_core *core, uint32_t slot, uint64_t hash, uint64_t weight,
                                             uint64_t max_total_weight, uint32_t *slot_out,
                                             void (*remove)(larder_core *, uint32_t),
                                             void (*insert)(larder_core *, uint32_t, int))
{
    larder_meta *meta = &core->metas[slot];
    uint64_t rest = core->total_weight - larder_meta_weight(meta);
    /* Too tight for one eviction: the victim stays named, so the caller's
     * loop of larder_core_victim_for continues this same round. */
    if (weight > max_total_weight || rest > max_total_weight - weight) return LARDER_ERR_FULL;
    larder_unfile_and_unindex(core, slot);
    remove(core, slot);
    core->count--;
    core->total_weight = rest;
    meta->hash = hash;
    larder_meta_store_word_(meta, weight | LARDER_FLAG_LIVE);
    insert(core, slot, 0);
    larder_index_insert(core, hash, slot);
    core->count++;
    core->total_weight = rest + weight;
    *slot_out = slot;
    return LARDER_OK;
}

/* The part `ppm` parts per million of `total`, rounded down, without overflow. */
static inline uint64_t larder_part(uint64_t total, uint32_t ppm)
{
    return total / 1000000u * ppm + total % 1000000u * ppm / 1000000u;
}

/* larder_core_check codes, in the order the checks run. */
enum {
    LARDER_CHECK_HEADER = 1,          /* count > capacity, or a bad bucket mask */
    LARDER_CHECK_LIST_LINK = 2,       /* a policy list: prev/next disagree, or a slot out of range */
    LARDER_CHECK_LIST_NOT_LIVE = 3,   /* a policy list reaches a free slot */
    LARDER_CHECK_LIST_LENGTH = 4,     /* the lists' lengths do not add up to count */
    LARDER_CHECK_LIVE_COUNT = 5,      /* number of live slots != count */
    LARDER_CHECK_WEIGHT = 6,          /* sum of live weights != total weight */
    LARDER_CHECK_FREE_LIST = 7,       /* free list reaches a live slot or leaves the arena */
    LARDER_CHECK_FREE_LENGTH = 8,     /* free list length != capacity - count */
    LARDER_CHECK_FREE_STATE = 9,      /* a free slot carries flags, weight or a deadline */
    LARDER_CHECK_INDEX_SLOT = 10,     /* a bucket points at a free slot or outside the arena */
    LARDER_CHECK_INDEX_TAG = 11,      /* a bucket's tag is not its slot's hash tag */
    LARDER_CHECK_INDEX_REACH = 12,    /* an empty bucket lies between a bucket and its home */
    LARDER_CHECK_INDEX_TWICE = 13,    /* a slot is indexed more than once */
    LARDER_CHECK_INDEX_COUNT = 14,    /* indexed slots != count */
    LARDER_CHECK_WHEEL_LINK = 15,     /* a wheel list: prev/next disagree or out of range */
    LARDER_CHECK_WHEEL_MEMBER = 16,   /* a wheel list holds a free, unfiled or undated slot */
    LARDER_CHECK_WHEEL_PLACE = 17,    /* an entry is in the wrong bucket for its deadline */
    LARDER_CHECK_WHEEL_COUNT = 18,    /* filed slots != wheel list members */
    LARDER_CHECK_NO_WHEEL_STATE = 19, /* a core without expiry has a filed slot */
    LARDER_CHECK_TOUCHES = 20,        /* a deferred touch names a free slot, or too many */
    LARDER_CHECK_LIST_REGION = 21,    /* an entry's policy bits do not name the list it is in */
    LARDER_CHECK_REGION = 22,         /* a region's count or weight is not that of its list */
    LARDER_CHECK_ROUND = 23,          /* the eviction round names a slot it cannot */
    LARDER_CHECK_LIMITS = 24,         /* region limits disagree with the window share or maximum */
    LARDER_CHECK_SKETCH = 25,         /* the sketch's counters of increments are inconsistent */
    LARDER_CHECK_GHOST = 26,          /* the ghost's clock or a record is out of range */
    LARDER_CHECK_HAND = 27,           /* LRU's hand or front is not where its circle says */
};

#endif /* LARDER_CORE_INTERNAL_H */

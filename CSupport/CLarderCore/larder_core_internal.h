/*
 * larder_core_internal.h — the layout shared by the core's source files.
 * Not part of the public module: only larder_core.h is under include/.
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
_Static_assert(LARDER_MAX_WEIGHT == (UINT64_C(1) << 56) - 1, "LARDER_MAX_WEIGHT is 2^56 - 1");
_Static_assert(LARDER_NO_DEADLINE == UINT64_MAX, "LARDER_NO_DEADLINE is UINT64_MAX");
_Static_assert(LARDER_NIL == UINT32_MAX, "LARDER_NIL is UINT32_MAX");
_Static_assert(sizeof(larder_cursor) == 8, "a cursor is two 32-bit words");
/* Slots, the sentinel and the bucket count (<= 2 * capacity rounded up)
 * must all fit below LARDER_NIL. */
_Static_assert((uint64_t)LARDER_MAX_CAPACITY * 2u + LARDER_WHEEL_SENTINELS_MAX < UINT32_MAX, "slot numbers fit");

/* ---- Node (links, 8 bytes) and meta (hash and weight word, 16 bytes) ---- */

/** Policy and state bits in the top byte of a slot's weight word. */
#define LARDER_FLAG_LIVE  (UINT64_C(1) << 56) /* slot holds an entry (larder_core_slot_matches tests this bit too) */
#define LARDER_FLAG_FILED (UINT64_C(1) << 57) /* in a wheel bucket or the expired list */
#define LARDER_FLAG_MARK  (UINT64_C(1) << 58) /* scratch bit of larder_core_check only */
#define LARDER_FLAG_DATED (UINT64_C(1) << 59) /* has a deadline: its wheel record must be reset on removal */

/* larder_node is declared in larder_core_inline.h (the inlined hit path reads it). */
_Static_assert(sizeof(larder_node) == 8, "a node is 8 bytes");
_Static_assert(sizeof(larder_meta) == 16, "a slot's meta record is 16 bytes");
_Static_assert(LARDER_MAX_WEIGHT == ((UINT64_C(1) << 56) - 1), "weight uses the low 56 bits");

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

/* ---- The core ----------------------------------------------------------- */

struct larder_core {
    /* These first, in this order, down to `count`: larder_core_view
     * (larder_core_inline.h) reads them from the inlined paths. */
    larder_node *nodes;      /* capacity + 1; nodes[capacity] is the recency sentinel */
    larder_meta *metas;      /* capacity + 1 */
    larder_bucket *buckets;  /* mask + 1 buckets */
    uint32_t capacity;
    uint32_t mask;           /* bucket count - 1 */
    uint32_t *touches;       /* ring of LARDER_TOUCH_RING deferred touches */
    uint32_t touch_head;     /* the oldest deferred touch (ring index) */
    uint32_t touch_count;
    larder_wlink *wheel;     /* capacity + LARDER_WHEEL_SENTINELS, or NULL without expiry */
    uint64_t total_weight;
    uint64_t wheel_time;     /* the latest `now` given to larder_core_expire */
    uint32_t count;
    uint32_t free_head;      /* first free slot, LARDER_NIL when full */
    uint32_t flags;
    uint8_t owns_block;      /* 1: from larder_core_create, freed by larder_core_destroy */
};

_Static_assert(offsetof(struct larder_core, nodes) == offsetof(larder_core_view, nodes), "view: nodes");
_Static_assert(offsetof(struct larder_core, metas) == offsetof(larder_core_view, metas), "view: metas");
_Static_assert(offsetof(struct larder_core, buckets) == offsetof(larder_core_view, buckets), "view: buckets");
_Static_assert(offsetof(struct larder_core, capacity) == offsetof(larder_core_view, capacity), "view: capacity");
_Static_assert(offsetof(struct larder_core, mask) == offsetof(larder_core_view, mask), "view: mask");
_Static_assert(offsetof(struct larder_core, touches) == offsetof(larder_core_view, touches), "view: touches");
_Static_assert(offsetof(struct larder_core, touch_head) == offsetof(larder_core_view, touch_head), "view: touch_head");
_Static_assert(offsetof(struct larder_core, touch_count) == offsetof(larder_core_view, touch_count), "view: touch_count");
_Static_assert(offsetof(struct larder_core, wheel) == offsetof(larder_core_view, wheel), "view: wheel");
_Static_assert(offsetof(struct larder_core, total_weight) == offsetof(larder_core_view, total_weight), "view: total_weight");
_Static_assert(offsetof(struct larder_core, wheel_time) == offsetof(larder_core_view, wheel_time), "view: wheel_time");
_Static_assert(offsetof(struct larder_core, count) == offsetof(larder_core_view, count), "view: count");
_Static_assert(LARDER_TOUCH_LAG < LARDER_TOUCH_RING, "the ring holds the lag and the hit that exceeds it");


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

/* Index (larder_index.c). */
LARDER_INTERNAL void larder_index_reset(larder_core *core);
LARDER_INTERNAL void larder_index_insert(larder_core *core, uint64_t hash, uint32_t slot);
LARDER_INTERNAL void larder_index_remove(larder_core *core, uint32_t slot);
LARDER_INTERNAL int larder_index_check(const larder_core *core);

/* Timer wheel (larder_expiry_wheel.c). */
LARDER_INTERNAL void larder_wheel_reset(larder_core *core);
LARDER_INTERNAL void larder_wheel_unfile(larder_core *core, uint32_t slot);
LARDER_INTERNAL int larder_wheel_check(const larder_core *core);

/* larder_core_check codes, in the order the checks run. */
enum {
    LARDER_CHECK_HEADER = 1,          /* count > capacity, or a bad bucket mask */
    LARDER_CHECK_LIST_LINK = 2,       /* recency list: prev/next disagree, or a slot out of range */
    LARDER_CHECK_LIST_NOT_LIVE = 3,   /* recency list reaches a free slot */
    LARDER_CHECK_LIST_LENGTH = 4,     /* recency list length != count */
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
};

#endif /* LARDER_CORE_INTERNAL_H */

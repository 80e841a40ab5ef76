/*
 * larder_core_inline.h — header-inlined fast paths of larder_core.h: the
 * lookup and the touch of a cache hit, compiled into the caller (Swift
 * inlines `static inline` C functions) so that a hit makes no call into the
 * core. Included by larder_core.h; not meant to be included on its own.
 *
 * They read the core through larder_core_view, a copy of the first fields
 * of the (otherwise private) struct larder_core; larder_core_internal.h pins
 * the two together with _Static_assert. The view and the node and bucket
 * records are layout, not API: only these functions and the core use them;
 * callers keep treating a larder_core as opaque.
 */
#ifndef LARDER_CORE_INLINE_H
#define LARDER_CORE_INLINE_H

#include <stdint.h>

/* The hot per-slot record (24 bytes). */
typedef struct larder_node {
    uint32_t prev;  /* newer neighbour (recency list); unused when free */
    uint32_t next;  /* older neighbour (recency list), or next free slot */
    uint64_t hash;  /* the key's full hash */
    uint64_t word;  /* weight (low 56 bits) | flags (top 8 bits) */
} larder_node;

/* An index bucket (8 bytes); an empty one has slot == LARDER_NIL. */
typedef struct larder_bucket {
    uint32_t tag;   /* (uint32_t)(hash >> 32); the home bucket is tag & mask */
    uint32_t slot;
} larder_bucket;

/* The first fields of struct larder_core, fixed from creation on. */
typedef struct larder_core_view {
    larder_node *nodes;      /* capacity + 1; nodes[capacity] is the recency sentinel */
    larder_bucket *buckets;  /* mask + 1 buckets */
    uint32_t capacity;
    uint32_t mask;           /* bucket count - 1 */
} larder_core_view;

static inline const larder_core_view *larder_core_view_of_(const larder_core *core)
{
    return (const larder_core_view *)(const void *)core;
}

/* Probes from bucket `i` for the next bucket carrying `tag`. */
static inline uint32_t larder_core_probe_(const larder_core *core, uint32_t tag, uint32_t i, larder_cursor *cursor)
{
    const larder_core_view *view = larder_core_view_of_(core);
    const larder_bucket *buckets = view->buckets;
    uint32_t mask = view->mask;
    for (;; i = (i + 1u) & mask) {
        larder_bucket bucket = buckets[i];
        if (bucket.slot == LARDER_NIL) break;
        if (bucket.tag == tag) {
            cursor->bucket = i;
            cursor->tag = tag;
#if defined(__GNUC__) || defined(__clang__)
            /* The touch that follows a hit needs the node; start its load
             * now so it overlaps the caller's key comparison. */
            __builtin_prefetch(&view->nodes[bucket.slot], 1);
#endif
            return bucket.slot;
        }
    }
    cursor->bucket = LARDER_NIL;
    cursor->tag = tag;
    return LARDER_NIL;
}

/**
 * Starts a fast lookup: the first live slot whose index tag (the hash's upper
 * 32 bits) equals that of `hash`, or LARDER_NIL.
 *
 * Unlike larder_core_find_first it does not load the candidate's node to
 * compare the full 64-bit hash (that load would sit between the bucket's and
 * the key's cache misses); a candidate may therefore differ from `hash` in
 * its low 32 bits, which the caller's key comparison rejects as it rejects
 * any other collision. Continue with larder_core_lookup_next on a mismatch.
 */
static inline uint32_t larder_core_lookup_first(const larder_core *core, uint64_t hash, larder_cursor *cursor)
{
    uint32_t tag = (uint32_t)(hash >> 32);
    return larder_core_probe_(core, tag, tag & larder_core_view_of_(core)->mask, cursor);
}

/** Continues a lookup started by larder_core_lookup_first (same contract as
 *  larder_core_find_next: the core must not change between the calls). */
static inline uint32_t larder_core_lookup_next(const larder_core *core, larder_cursor *cursor)
{
    if (cursor->bucket == LARDER_NIL) return LARDER_NIL;
    uint32_t next = (cursor->bucket + 1u) & larder_core_view_of_(core)->mask;
    return larder_core_probe_(core, cursor->tag, next, cursor);
}

/** larder_core_touch, inlined: marks a live entry most recent; nothing to do
 *  when it already is (the hottest keys of a skewed workload usually are). */
static inline void larder_core_touch_inline(larder_core *core, uint32_t slot)
{
    const larder_core_view *view = larder_core_view_of_(core);
    larder_node *nodes = view->nodes;
    uint32_t sentinel = view->capacity;
    uint32_t head = nodes[sentinel].next;
    if (head == slot) return;
    uint32_t prev = nodes[slot].prev, next = nodes[slot].next;
    nodes[prev].next = next;
    nodes[next].prev = prev;
    nodes[slot].prev = sentinel;
    nodes[slot].next = head;
    nodes[head].prev = slot;
    nodes[sentinel].next = slot;
}

#endif /* LARDER_CORE_INLINE_H */

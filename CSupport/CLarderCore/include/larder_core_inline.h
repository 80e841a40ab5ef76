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

/* The hot per-slot record (8 bytes): the recency list's links only, so that
 * a hit's touch (its own links and its two neighbours') reads an array of
 * 8 bytes a slot, a third of what it was with the hash and weight beside
 * them: at 100,000 entries, 800 KB, which a core's L2 cache can hold. */
typedef struct larder_node {
    uint32_t prev;  /* newer neighbour (recency list); unused when free */
    uint32_t next;  /* older neighbour (recency list), or next free slot */
} larder_node;

/* The colder per-slot record (16 bytes): read by evictions, removals,
 * weight and expiry bookkeeping, not by a hit. */
typedef struct larder_meta {
    uint64_t hash;  /* the key's full hash */
    uint64_t word;  /* weight (low 52 bits) | policy's 4 bits (W-TinyLFU's carried estimate) | flags (top 8 bits) */
} larder_meta;

/* Writes a meta record's word whole, with an atomic store (a plain one on
 * x86-64 and arm64). Reads under the core's serialization stay plain.
 * (LRU's mark, which optimistic readers read and set, is a byte of the
 * states table: larder_lru_mark_load_.) */
static inline void larder_meta_store_word_(larder_meta *meta, uint64_t word)
{
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(&meta->word, word, __ATOMIC_RELAXED);
#else
    meta->word = word;
#endif
}

/* An index bucket (8 bytes); an empty one has slot == LARDER_NIL. */
typedef struct larder_bucket {
    uint32_t tag;   /* (uint32_t)(hash >> 32); the home bucket is tag & mask */
    uint32_t slot;
} larder_bucket;

/* Deferred touches (see larder_core_touch_inline): the ring's size, and how
 * many hits a move lags behind its hit. */
#define LARDER_TOUCH_RING 16u
#define LARDER_TOUCH_LAG 8u

/* The policy numbers the inlined hit tells apart (0 is exact LRU). */
#define LARDER_VIEW_POLICY_WTINYLFU 1u
#define LARDER_VIEW_POLICY_S3FIFO 2u

/* The policy's state of each slot, right after the deferred-touch ring
 * (larder_core_slot_state_bytes): W-TinyLFU's byte per slot (its count of
 * hits and its region), S3-FIFO's 2-bit hit counters, four slots a byte,
 * LRU's byte per slot (its mark of a hit applied without a move). A
 * table of its own rather than bits of the meta record, small enough to stay
 * in L2 (100 KB and 25 KB at 100,000 entries), so that a hit reads no meta
 * record. */
static inline uint8_t *larder_slot_states_(uint32_t *touches) { return (uint8_t *)(touches + LARDER_TOUCH_RING); }

/* LRU's mark of `slot`, its byte of the states table: read and written with
 * atomic byte loads and stores only (plain ones on x86-64 and arm64),
 * because optimistic readers set it without the lock
 * (larder_core_mark_concurrent). */
static inline int larder_lru_mark_load_(uint32_t *touches, uint32_t slot)
{
    return __atomic_load_n(&larder_slot_states_(touches)[slot], __ATOMIC_RELAXED) != 0;
}

static inline void larder_lru_mark_store_(uint32_t *touches, uint32_t slot, uint8_t mark)
{
    __atomic_store_n(&larder_slot_states_(touches)[slot], mark, __ATOMIC_RELAXED);
}

/* Where S3-FIFO's counter of `slot` is: byte slot / 4, at this bit. */
static inline uint32_t larder_s3fifo_count_shift_(uint32_t slot) { return (slot & 3u) * 2u; }

/* The first fields of struct larder_core (larder_core_internal.h pins them):
 * a first cache line written only at creation, then what touches and writes
 * move. */
typedef struct larder_core_view {
    larder_node *nodes;      /* capacity + lists; nodes[capacity] is the first list's sentinel */
    larder_meta *metas;      /* capacity + lists, beside nodes */
    larder_bucket *buckets;  /* mask + 1 buckets */
    uint32_t capacity;
    uint32_t mask;           /* bucket count - 1 */
    uint32_t *touches;       /* ring of LARDER_TOUCH_RING deferred touches, then the slots' states */
    uint32_t policy;         /* 0: exact LRU; else the policy's number */
    uint32_t flags_;         /* (not read here) */
    void *wheel;             /* (the timer wheel; not read here) */
    void *state_;            /* (not read here) */
    uint16_t touch_head;     /* the oldest deferred touch (ring index) */
    uint16_t touch_count;    /* deferred touches */
    uint32_t count;          /* live entries */
    uint64_t total_weight;   /* sum of the live entries' weights */
    uint32_t free_head_;     /* (not read here) */
    uint32_t lru_hand;       /* LRU: the least recent entry, LARDER_NIL when empty */
    uint32_t lru_front;      /* LRU: the most recent entry, LARDER_NIL when empty */
} larder_core_view;

static inline const larder_core_view *larder_core_view_of_(const larder_core *core)
{
    return (const larder_core_view *)(const void *)core;
}

/** The number of live entries (inlined: the write path reads it per eviction). */
static inline uint32_t larder_core_count(const larder_core *core) { return larder_core_view_of_(core)->count; }

/** The sum of the weights of the live entries (inlined, as larder_core_count). */
static inline uint64_t larder_core_total_weight(const larder_core *core)
{
    return larder_core_view_of_(core)->total_weight;
}

/** Applies the oldest deferred touch (larder_core.c). */
void larder_core_apply_oldest_touch(larder_core *core);

/** Applies the oldest deferred W-TinyLFU hit: counts it in the entry and
 *  moves the entry in its region (larder_policy_wtinylfu.c). */
void larder_core_wtinylfu_apply_oldest(larder_core *core);

/** larder_core_prefetch_lru for S3-FIFO, whose next victim is not one
 *  list's back: starts loading what the next eviction reads; returns the
 *  likely victim, or LARDER_NIL under another policy
 *  (larder_policy_s3fifo.c). */
uint32_t larder_core_prefetch_victims(const larder_core *core);

/** Starts loading the S3-FIFO ghost bucket an insert of `hash` will look
 *  up (larder_policy_s3fifo.c). */
void larder_core_prefetch_ghost(const larder_core *core, uint64_t hash);

/** Under W-TinyLFU, starts loading the sketch block and the departures'
 *  bucket of a key about to be inserted; under another policy nothing
 *  (larder_wtinylfu_evict.c). */
void larder_core_prefetch_newcomer(const larder_core *core, uint64_t hash);

/* What a hit's touch of `slot` reads first and writes: under S3-FIFO the
 * entry's counter (the node is never read), else its list node (the move's
 * links). A select, not a branch, on a line the probe has read. */
static inline const void *larder_core_touched_(const larder_core_view *view, uint32_t slot)
{
    return view->policy == LARDER_VIEW_POLICY_S3FIFO ? (const void *)&larder_slot_states_(view->touches)[slot >> 2]
                                                     : (const void *)&view->nodes[slot];
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
            /* The touch that follows a hit needs what it writes; start its
             * load now so it overlaps the caller's key comparison. */
            __builtin_prefetch(larder_core_touched_(view, bucket.slot), 1);
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

/* ---- Optimistic reads, concurrent with one writer -----------------------
 *
 * The functions below may run on other threads while the core is being
 * changed. Every value they read may be stale or belong to an entry that is
 * being removed: the caller validates the whole read afterwards (a sequence
 * counter its writers move around every change) and discards it on any
 * change. What they promise is only that they terminate, read inside the
 * core's arrays, and read each bucket and deadline with one atomic load, as
 * the core writes them. */

/* One bucket, loaded whole (the core stores each bucket with one atomic store). */
static inline larder_bucket larder_bucket_load_(const larder_bucket *bucket)
{
    uint64_t bits = __atomic_load_n((const uint64_t *)(const void *)bucket, __ATOMIC_RELAXED);
    larder_bucket value;
    __builtin_memcpy(&value, &bits, sizeof value);
    return value;
}

/* Probes from bucket `i`, at most one lap, for the next bucket carrying `tag`
 * whose slot is within the arena. */
static inline uint32_t larder_core_probe_concurrent_(const larder_core *core, uint32_t tag, uint32_t i,
                                                     uint32_t steps, larder_cursor *cursor)
{
    const larder_core_view *view = larder_core_view_of_(core);
    uint32_t mask = view->mask;
    for (; steps <= mask; i = (i + 1u) & mask, steps++) {
        larder_bucket bucket = larder_bucket_load_(&view->buckets[i]);
        if (bucket.slot == LARDER_NIL) break;
        if (bucket.tag == tag && bucket.slot < view->capacity) {
            cursor->bucket = i;
            cursor->tag = steps;  /* buckets probed so far, bounding the lap */
            return bucket.slot;
        }
    }
    cursor->bucket = LARDER_NIL;
    return LARDER_NIL;
}

/** larder_core_lookup_first for an optimistic reader (see above): a slot
 *  whose bucket carried the tag of `hash` at some moment, or LARDER_NIL. */
static inline uint32_t larder_core_lookup_concurrent_first(const larder_core *core, uint64_t hash,
                                                           larder_cursor *cursor)
{
    uint32_t tag = (uint32_t)(hash >> 32);
    return larder_core_probe_concurrent_(core, tag, tag & larder_core_view_of_(core)->mask, 0, cursor);
}

/** Continues larder_core_lookup_concurrent_first; `hash` as given to it. */
static inline uint32_t larder_core_lookup_concurrent_next(const larder_core *core, uint64_t hash,
                                                          larder_cursor *cursor)
{
    if (cursor->bucket == LARDER_NIL) return LARDER_NIL;
    uint32_t next = (cursor->bucket + 1u) & larder_core_view_of_(core)->mask;
    return larder_core_probe_concurrent_(core, (uint32_t)(hash >> 32), next, cursor->tag + 1u, cursor);
}

/** A slot's deadline for an optimistic reader (see above); LARDER_NO_DEADLINE
 *  on a core without expiry. Wheel records are {prev, next, deadline}. */
static inline uint64_t larder_core_deadline_concurrent(const larder_core *core, uint32_t slot)
{
    const larder_core_view *view = larder_core_view_of_(core);
    if (view->wheel == NULL || slot >= view->capacity) return LARDER_NO_DEADLINE;
    const uint64_t *record = (const uint64_t *)view->wheel + 2u * (size_t)slot;
    return __atomic_load_n(record + 1, __ATOMIC_RELAXED);
}

/** Nonzero when `slot` holds a live entry whose index tag is `tag` (the
 *  upper 32 bits of its hash): checks a touch recorded earlier, outside the
 *  lock, against the entry the slot holds now. Call with the core serialized. */
static inline int larder_core_slot_matches(const larder_core *core, uint32_t slot, uint32_t tag)
{
    const larder_core_view *view = larder_core_view_of_(core);
    if (slot >= view->capacity) return 0;
    const larder_meta *meta = &view->metas[slot];
    return (meta->word & (UINT64_C(1) << 56)) != 0 && (uint32_t)(meta->hash >> 32) == tag;
}

/** Nonzero when `slot` holds an entry that LRU has marked (larder_core_mark_batch,
 *  larder_core_mark_concurrent) since the eviction hand last passed it.
 *  Safe from an optimistic reader, without the lock (an atomic load of the
 *  mark's byte, which every write stores atomically); the answer may be
 *  stale when it returns. */
static inline int larder_core_slot_marked_concurrent(const larder_core *core, uint32_t slot)
{
    const larder_core_view *view = larder_core_view_of_(core);
    if (view->policy != 0 || slot >= view->capacity) return 0;
    return larder_lru_mark_load_(view->touches, slot);
}

/** Marks `slot` for LRU from an optimistic reader, without the lock: the
 *  hit's second chance at the hand, as larder_core_mark_batch gives it
 *  under the lock, written only when the mark is clear (a hot entry's byte
 *  then stays clean, and shared, in every reader's cache). One atomic byte
 *  store, no read-modify-write: the slot may have been emptied or refilled
 *  since the read, and a stray mark only gives its next entry a second
 *  chance (an insert clears it). Under another policy it does nothing. */
static inline void larder_core_mark_concurrent(larder_core *core, uint32_t slot)
{
    const larder_core_view *view = larder_core_view_of_(core);
    if (view->policy != 0 || slot >= view->capacity) return;
    if (!larder_lru_mark_load_(view->touches, slot)) larder_lru_mark_store_(view->touches, slot, 1);
}

/** Starts loading what applying a recorded hit of `slot` later reads and
 *  writes: with `marks` (larder_core_mark_batch, and the check of the record
 *  before it) its meta record; else (larder_core_touch_batch) its list node,
 *  or under S3-FIFO its state byte. Safe from an optimistic reader (a
 *  prefetch reads nothing). */
static inline void larder_core_prefetch_recorded(const larder_core *core, uint32_t slot, int marks)
{
#if defined(__GNUC__) || defined(__clang__)
    const larder_core_view *view = larder_core_view_of_(core);
    if (slot >= view->capacity) return;
    __builtin_prefetch(marks ? (const void *)&view->metas[slot] : larder_core_touched_(view, slot), 1);
#else
    (void)core;
    (void)slot;
    (void)marks;
#endif
}

/** larder_core_touch, inlined: records a hit on a live entry.
 *
 *  Under S3-FIFO the hit only bumps the entry's 2-bit counter in its meta
 *  word; under W-TinyLFU it is deferred like LRU's, through a three-stage
 *  pipeline (below). Under LRU, which the one test of the view's policy
 *  field (in the ring's cache line) leaves as cheap as before, it marks the
 *  entry most recent, as follows.
 *
 *  The move to the front of the list lags LARDER_TOUCH_LAG hits behind: the
 *  slot joins a small ring, its list neighbours are prefetched, and the hit
 *  applies the oldest deferred move instead, whose neighbours were prefetched
 *  hits ago and are warm by now. A hit on a cold entry thus waits for two
 *  dependent cache misses (bucket, then node and key) instead of three (the
 *  neighbours' lines last), and costs no burst later. Every core function
 *  that reads or changes the order applies the pending moves first, so the
 *  order any caller observes is exactly that of immediate moves. Nothing to
 *  do when the entry already is (or is about to be) the most recent: the
 *  hottest keys of a skewed workload usually are. */
static inline void larder_core_touch_inline(larder_core *core, uint32_t slot)
{
    larder_core_view *view = (larder_core_view *)(void *)core;
    larder_node *nodes = view->nodes;
    if (view->policy != 0) {
        /* S3-FIFO: a hit bumps the entry's 2-bit counter (saturating at 3)
         * and moves nothing. */
        if (view->policy == LARDER_VIEW_POLICY_S3FIFO) {
            uint8_t *byte = &larder_slot_states_(view->touches)[slot >> 2];
            uint32_t shift = larder_s3fifo_count_shift_(slot);
            if (((*byte >> shift) & 3u) != 3u) *byte = (uint8_t)(*byte + (1u << shift));
            return;
        }
        /* W-TinyLFU: deferred through the same ring: now the entry's state
         * byte (its region and its count of hits) and its neighbours start
         * loading; eight hits later the hit is applied with them warm. Never
         * skipped: every hit counts. */
        uint32_t pending = view->touch_count;
        view->touches[(view->touch_head + pending) % LARDER_TOUCH_RING] = slot;
        view->touch_count = (uint16_t)(pending + 1u);
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(&larder_slot_states_(view->touches)[slot], 0);
        __builtin_prefetch(&nodes[nodes[slot].prev], 1);
        __builtin_prefetch(&nodes[nodes[slot].next], 1);
#endif
        if (pending + 1u > LARDER_TOUCH_LAG) larder_core_wtinylfu_apply_oldest(core);
        return;
    }
    uint32_t n = view->touch_count;
    uint32_t latest = n ? view->touches[(view->touch_head + n - 1u) % LARDER_TOUCH_RING] : view->lru_front;
    if (latest == slot) return;
    view->touches[(view->touch_head + n) % LARDER_TOUCH_RING] = slot;
    view->touch_count = (uint16_t)(n + 1u);
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(&nodes[nodes[slot].prev], 1);
    __builtin_prefetch(&nodes[nodes[slot].next], 1);
#endif
    if (n + 1u > LARDER_TOUCH_LAG) larder_core_apply_oldest_touch(core);
}

/* Starts loading `slot`'s index bucket, and the node and meta record of
 * the entry behind it in its list: the next victim under LRU (the hand
 * steps to it), whose link a W-TinyLFU eviction rewrites; its miss would
 * otherwise hold up the next eviction. */
static inline void larder_core_prefetch_evictee_(const larder_core_view *view, uint32_t slot)
{
#if defined(__GNUC__) || defined(__clang__)
    uint32_t tag = (uint32_t)(view->metas[slot].hash >> 32);
    __builtin_prefetch(&view->buckets[tag & view->mask], 1);
    __builtin_prefetch(&view->nodes[view->nodes[slot].prev], 1);
    __builtin_prefetch(&view->metas[view->nodes[slot].prev], 1);
#else
    (void)view;
    (void)slot;
#endif
}

/** Starts loading what evicting the least-recent entry will read: its node
 *  and its index bucket. Returns the least-recent slot (under W-TinyLFU
 *  the window's, under S3-FIFO the small queue's oldest: the likely next
 *  victim, a hint only), or LARDER_NIL when that list is empty.
 *
 *  Call after an eviction, while the cache is full: the next miss evicts that
 *  entry unless it is read first, and its node, bucket and record are cold
 *  (it is the entry nobody has used for longest), so the eviction would wait
 *  for two dependent misses. Loading them now overlaps them with the work in
 *  between. Reads the node's hash, which the eviction just brought into the
 *  cache (unlinking the old victim wrote this node's `next`). */
static inline uint32_t larder_core_prefetch_lru(const larder_core *core)
{
    const larder_core_view *view = larder_core_view_of_(core);
    if (view->policy == LARDER_VIEW_POLICY_S3FIFO) return larder_core_prefetch_victims(core);
    /* Before deferred touches are applied this may name an entry just read:
     * then the loads are wasted, never wrong. The list's least recent entry
     * (the window's, list 0, under W-TinyLFU) is a hint for the loads only
     * (larder_core_victim decides). */
    uint32_t lru = view->policy == 0 ? view->lru_hand : view->nodes[view->capacity].prev;
    if (lru >= view->capacity) return LARDER_NIL;
    if (view->policy == 0 && larder_lru_mark_load_(view->touches, lru)) {
        /* Marked: the eviction passes it over (a second chance), so the
         * entry behind it is the likelier victim (one marked in three on
         * the mixed workload when every hit is a mark; two in a row, one in
         * ten). */
        uint32_t behind = view->nodes[lru].prev;
        if (behind == view->capacity) behind = view->nodes[behind].prev;
        if (behind < view->capacity) lru = behind;
    }
    larder_core_prefetch_evictee_(view, lru);
    if (view->policy == LARDER_VIEW_POLICY_WTINYLFU) {
        /* The window's least recent is the next round's candidate, and on
         * the mixed workload the one evicted five times in six (it loses
         * admission); else probation's least recent leaves: load both. */
        uint32_t other = view->nodes[view->capacity + 1u].prev;
        if (other < view->capacity) larder_core_prefetch_evictee_(view, other);
#if defined(__GNUC__) || defined(__clang__)
        /* Their state bytes too: the candidate's move out of the window
         * reads its region there, and the decision both entries' counts of
         * hits. Random lines of a table that L2 does not keep beside the
         * entries: the candidate's was the eviction's longest wait (perf). */
        const uint8_t *states = larder_slot_states_(view->touches);
        __builtin_prefetch(&states[lru], 1);
        if (other < view->capacity) __builtin_prefetch(&states[other], 0);
#endif
    }
    return lru;
}

/** The loads a lookup's miss of `hash` on a full cache starts, for the
 *  insert and eviction that usually follow (see Cache.lookUp):
 *  larder_core_prefetch_lru's, except under S3-FIFO. Its hits move nothing,
 *  so what the last eviction loaded still names the next victims, and
 *  loading that again cost about 70 instructions a miss; the one cold line
 *  left is the newcomer's ghost bucket (its lookup, deferred to the next
 *  eviction, reads it). W-TinyLFU also loads the two random lines its
 *  eviction reads for the newcomer, its sketch block and its bucket of
 *  recent departures, which the eviction would otherwise start loading
 *  only when it begins (larder_core_prefetch_newcomer). Returns the likely
 *  victim, or LARDER_NIL when none was loaded. */
static inline uint32_t larder_core_prefetch_for_miss(const larder_core *core, uint64_t hash)
{
    if (larder_core_view_of_(core)->policy == LARDER_VIEW_POLICY_S3FIFO) {
        larder_core_prefetch_ghost(core, hash);
        return LARDER_NIL;
    }
    if (larder_core_view_of_(core)->policy == LARDER_VIEW_POLICY_WTINYLFU) larder_core_prefetch_newcomer(core, hash);
    return larder_core_prefetch_lru(core);
}

/** Where a core's index is: its buckets and their mask, fixed when the core
 *  is created. A cache keeps one per shard beside its table of shards, so
 *  that an operation starts loading its bucket as soon as it has the hash,
 *  rather than after reading the shard and then the core to find it. */
typedef struct larder_index_view {
    const larder_bucket *buckets;
    uint64_t mask;
} larder_index_view;

/** `core`'s index view (larder_index_view_prefetch). */
static inline larder_index_view larder_core_index_view(const larder_core *core)
{
    const larder_core_view *view = larder_core_view_of_(core);
    return (larder_index_view){ .buckets = view->buckets, .mask = view->mask };
}

/** Starts loading the bucket where a lookup of `hash` in the index of `view`
 *  begins (no effect on results; safe from any thread: a prefetch reads
 *  nothing). */
static inline void larder_index_view_prefetch(const larder_index_view *view, uint64_t hash)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(&view->buckets[(hash >> 32) & view->mask], 0);
#else
    (void)view;
    (void)hash;
#endif
}

/** A write prefetch of the cache line at `address` (no effect on results). */
static inline void larder_prefetch_for_write(const void *address)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address, 1);
#else
    (void)address;
#endif
}

#endif /* LARDER_CORE_INLINE_H */

/*
 * larder_core.h — the bookkeeping of one Larder cache shard.
 *
 * A fixed arena of `capacity` nodes, allocated once at creation, holds a
 * doubly linked recency list (most recent at the head), an open-addressing
 * index from key hash to slot, and (optionally) a hierarchical timer wheel of
 * deadlines. Nothing here allocates after larder_core_create, nothing knows
 * what a key or a value is: the caller keeps keys and values in its own
 * slot-indexed storage, and confirms key equality for the candidate slots the
 * index yields for a hash.
 *
 * Single-threaded: the caller serializes all calls on one core. No threads,
 * no system calls; memory is allocated once, at creation (or brought by the
 * caller, larder_core_init).
 * Slot numbers are stable for an entry's whole life, from insert to remove.
 * Times are unsigned nanoseconds on whatever monotonic clock the caller uses.
 */
#ifndef LARDER_CORE_H
#define LARDER_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** "No slot": returned by lookups and list walks that find nothing. */
#define LARDER_NIL UINT32_MAX

/** The largest capacity a core accepts. Slot numbers and bucket numbers
 *  (at least twice the capacity) must fit in 32 bits with room for sentinels. */
#define LARDER_MAX_CAPACITY 0x40000000u /* 2^30 (a plain literal so Swift imports it) */

/** The largest weight one entry may carry (the top byte of the weight word
 *  holds policy bits). */
#define LARDER_MAX_WEIGHT 0x00FFFFFFFFFFFFFFull /* 2^56 - 1 */

/** "No deadline": an entry that never expires. */
#define LARDER_NO_DEADLINE 0xFFFFFFFFFFFFFFFFull /* UINT64_MAX */

/** Result codes. Zero is success; every failure leaves the core unchanged. */
typedef enum larder_status {
    LARDER_OK = 0,
    /** Capacity 0, or more than LARDER_MAX_CAPACITY. */
    LARDER_ERR_CAPACITY = 1,
    /** The arena or index could not be allocated. */
    LARDER_ERR_NOMEM = 2,
    /** Insert into a core that already holds `capacity` entries: evict first. */
    LARDER_ERR_FULL = 3,
    /** A weight over LARDER_MAX_WEIGHT. */
    LARDER_ERR_WEIGHT = 4,
    /** A deadline on a core created without LARDER_CORE_EXPIRY, or unknown flags. */
    LARDER_ERR_UNSUPPORTED = 5,
} larder_status;

/** Creation flags. */
enum {
    /** Allocate deadlines and the timer wheel (16 more bytes per slot).
     *  A core without it costs less per entry and rejects deadlines. */
    LARDER_CORE_EXPIRY = 1u << 0,
};

/** One shard's bookkeeping. Opaque: only these functions touch it. */
typedef struct larder_core larder_core;

/** A position in a lookup's probe sequence; owned by the caller, on its stack. */
typedef struct larder_cursor {
    uint32_t bucket;
    uint32_t tag;
} larder_cursor;

/* ---- Lifetime ---------------------------------------------------------- */

/**
 * Creates a core for up to `capacity` entries.
 *
 * Allocates everything the core will ever use (see larder_core_footprint).
 * @param capacity 1 ... LARDER_MAX_CAPACITY.
 * @param flags    0 or LARDER_CORE_EXPIRY.
 * @param out      receives the core on LARDER_OK; untouched otherwise.
 * @return LARDER_OK, LARDER_ERR_CAPACITY, LARDER_ERR_UNSUPPORTED (unknown
 *         flags) or LARDER_ERR_NOMEM.
 */
larder_status larder_core_create(uint32_t capacity, uint32_t flags, larder_core **out);

/** Frees a core from larder_core_create and everything it allocated;
 *  for a core from larder_core_init, does nothing. NULL is ignored. */
void larder_core_destroy(larder_core *core);

/**
 * Creates a core for up to `capacity` entries inside `block`, memory the
 * caller allocated (at least larder_core_footprint bytes, 16-byte aligned)
 * and frees after the core's last use: for callers that place the core in
 * memory of their own choosing (huge pages, say). larder_core_destroy leaves
 * such a block alone.
 * @return as larder_core_create; LARDER_ERR_NOMEM when the block is NULL,
 *         too small or misaligned.
 */
larder_status larder_core_init(void *block, size_t bytes, uint32_t capacity, uint32_t flags, larder_core **out);

/** Bytes a core of this capacity and flags allocates in all (arena, index,
 *  wheel, header), in one block; 0 when the arguments are invalid.
 *  Per slot: an 8-byte node (links) and a 16-byte record (hash, weight), 8-byte buckets numbering the power of two
 *  >= 2 * capacity (16 to 32 bytes per slot; 16.8 at a million), and with
 *  LARDER_CORE_EXPIRY 16 bytes of wheel links and deadline, plus about 5 KiB
 *  of wheel sentinels per core. */
size_t larder_core_footprint(uint32_t capacity, uint32_t flags);

/** The capacity the core was created with. */
uint32_t larder_core_capacity(const larder_core *core);

/* larder_core_count (live entries) and larder_core_total_weight (the sum of
 * their weights) are inline, in larder_core_inline.h. */

/** Nonzero when the core was created with LARDER_CORE_EXPIRY. */
int larder_core_has_expiry(const larder_core *core);

/* ---- Index ------------------------------------------------------------- */

/**
 * Starts a lookup: returns the first live slot whose stored hash equals
 * `hash`, or LARDER_NIL. The caller checks key equality and, on a mismatch,
 * asks larder_core_find_next with the same cursor.
 * Hot paths use larder_core_lookup_first (inline, compares the index's 32-bit
 * tag only, so it loads no node).
 */
uint32_t larder_core_find_first(const larder_core *core, uint64_t hash, larder_cursor *cursor);

/** Continues a lookup started by larder_core_find_first; LARDER_NIL when the
 *  probe sequence holds no further slot with that hash. The core must not be
 *  modified between the calls of one lookup. */
uint32_t larder_core_find_next(const larder_core *core, larder_cursor *cursor);

/* ---- Entries ----------------------------------------------------------- */

/**
 * Inserts a new entry at the most-recent end and indexes it under `hash`.
 * The caller has made sure no live entry has an equal key.
 * @param slot_out receives the new entry's slot on LARDER_OK.
 * @return LARDER_OK, LARDER_ERR_FULL (count == capacity: evict first) or
 *         LARDER_ERR_WEIGHT.
 */
larder_status larder_core_insert(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out);

/**
 * Evicts the least-recent entry and inserts a new one, as most recent, into
 * the slot it frees: larder_core_lru, larder_core_remove and
 * larder_core_insert in one pass, for the steady state of a full cache (the
 * slot skips the free list, the count stays, deferred touches are applied
 * once). The caller's record of the victim is still at *slot_out in its own
 * storage: move it out before storing the new entry's there.
 * @param max_total_weight the largest total weight the core may carry after
 *        the swap (UINT64_MAX: no limit).
 * @return LARDER_OK; LARDER_ERR_FULL, changing nothing, when the core is
 *         empty or one eviction does not make room under max_total_weight
 *         (evict with larder_core_remove until it does); LARDER_ERR_WEIGHT.
 */
larder_status larder_core_replace_lru(larder_core *core, uint64_t hash, uint64_t weight,
                                     uint64_t max_total_weight, uint32_t *slot_out);

/** Like larder_core_insert, but at the least-recent end: for rebuilding a
 *  recency order from most recent to least recent (recovery from disk). */
larder_status larder_core_insert_lru(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out);

/** Marks a live entry most recent. O(1). The move itself may be deferred
 *  (see larder_core_touch_inline); no function of this API can tell.
 *  Functions taking a `slot` require a live one (from insert or a lookup, not
 *  yet removed); debug builds assert it, release builds do not check. */
void larder_core_touch(larder_core *core, uint32_t slot);

/** Marks live entries most recent, in the order given (the last given ends
 *  most recent): touches recorded elsewhere and applied together, with their
 *  list neighbours' loads overlapped. Each slot must be live. */
void larder_core_touch_batch(larder_core *core, const uint32_t *slots, uint32_t count);

/** Removes a live entry from the list, the index and the wheel (or the
 *  expired list), and frees its slot for a later insert. O(1) plus the
 *  backward shift of its probe run. */
void larder_core_remove(larder_core *core, uint32_t slot);

/** Removes every entry (the timer wheel keeps its time). O(capacity + buckets). */
void larder_core_clear(larder_core *core);

/** The stored hash of a live entry. */
uint64_t larder_core_hash(const larder_core *core, uint32_t slot);

/** The weight of a live entry. */
uint64_t larder_core_weight(const larder_core *core, uint32_t slot);

/** Replaces the weight of a live entry (an update of its value).
 *  @return LARDER_OK or LARDER_ERR_WEIGHT (nothing changed). */
larder_status larder_core_set_weight(larder_core *core, uint32_t slot, uint64_t weight);

/* ---- Recency order ----------------------------------------------------- */

/** The least recent entry (the eviction victim of exact LRU), or LARDER_NIL. */
uint32_t larder_core_lru(const larder_core *core);

/** The most recent entry, or LARDER_NIL. */
uint32_t larder_core_mru(const larder_core *core);

/** The next older entry after `slot`, or LARDER_NIL at the least recent. */
uint32_t larder_core_older(const larder_core *core, uint32_t slot);

/** The next newer entry after `slot`, or LARDER_NIL at the most recent. */
uint32_t larder_core_newer(const larder_core *core, uint32_t slot);

/* ---- Expiry (cores created with LARDER_CORE_EXPIRY) -------------------- */

/**
 * Sets or clears (LARDER_NO_DEADLINE) a live entry's deadline and files it
 * in the timer wheel. Deadlines are absolute, in the caller's nanoseconds.
 * A deadline at or before the latest `now` given to larder_core_expire is
 * due at once: the next larder_core_expire hands the entry out. O(1).
 * @return LARDER_OK or LARDER_ERR_UNSUPPORTED (core without expiry).
 */
larder_status larder_core_set_deadline(larder_core *core, uint32_t slot, uint64_t deadline);

/** A live entry's deadline; LARDER_NO_DEADLINE when it has none (always, on a
 *  core without expiry). */
uint64_t larder_core_deadline(const larder_core *core, uint32_t slot);

/**
 * Advances the timer wheel to `now` and hands out expired entries.
 *
 * Entries whose deadline is <= now are moved from the wheel to an internal
 * "expired" list (cost proportional to the entries that expire and the wheel
 * buckets passed, not to the size of the core); up to `max` of them are then
 * written to `out` and unfiled. They stay live: the caller removes each one
 * with larder_core_remove (after releasing its key and value), or gives it a
 * new deadline. Call again while the result equals `max`. A handed-out entry
 * keeps its (past) deadline, reported by larder_core_deadline, but is no
 * longer filed: it is not handed out again unless given a new deadline.
 * Times earlier than a previous call's `now` are treated as that time.
 * Expiry is exact: an entry is handed out by the first call whose `now` is
 * >= its deadline, never before. The wheel's time starts at 0; call
 * larder_core_expire(core, now, NULL, 0) once after creation so that the
 * first deadlines are filed relative to the caller's clock (correct either
 * way, but cheaper). `out` may be NULL when `max` is 0.
 * @return the number of slots written to `out` (0 on a core without expiry).
 */
uint32_t larder_core_expire(larder_core *core, uint64_t now, uint32_t *out, uint32_t max);

/* ---- Diagnostics ------------------------------------------------------- */

/**
 * Verifies every invariant: list links agree both ways and reach `count`
 * entries, every live entry is indexed exactly once at a reachable probe
 * position, no bucket points at a free slot, the free list holds exactly the
 * other slots, total weight adds up, and every entry with a deadline is in
 * exactly one wheel bucket or the expired list. O(capacity + buckets).
 * Logically const, but borrows a scratch bit in each node while it runs:
 * do not call it concurrently with any other call on the same core.
 * @return 0 when consistent, otherwise a positive code naming the first
 *         broken invariant (LARDER_CHECK_* in larder_core_internal.h).
 */
int larder_core_check(const larder_core *core);

/* ---- Inline fast paths ------------------------------------------------ */

/* larder_core_lookup_first, larder_core_lookup_next, larder_core_touch_inline:
 * the hit path, inlined into the caller (see larder_core_inline.h). */
#include "larder_core_inline.h"

#ifdef __cplusplus
}
#endif

#endif /* LARDER_CORE_H */

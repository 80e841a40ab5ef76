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
 * Which entry leaves when room is needed is the eviction policy's choice,
 * fixed at creation (see "Policies" below): exact LRU (the default),
 * an adaptive W-TinyLFU, or S3-FIFO. All three share the arena, the index,
 * the weights and the wheel; only the lists and the per-entry policy bits
 * differ.
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
#define LARDER_MAX_WEIGHT 0x000FFFFFFFFFFFFFull /* 2^52 - 1 */

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
    /** A deadline on a core created without LARDER_CORE_EXPIRY, or unknown
     *  or contradictory flags (an unknown policy, LARDER_CORE_FIXED_WINDOW
     *  with a policy other than W-TinyLFU). */
    LARDER_ERR_UNSUPPORTED = 5,
    /** The policy declines the new entry (W-TinyLFU's admission: it is rarer
     *  than what it would displace), or nothing is left to evict: do not
     *  insert it. Nothing was evicted or inserted; the request was counted
     *  (see larder_core_victim_for). */
    LARDER_REJECTED = 6,
} larder_status;

/** Creation flags: LARDER_CORE_EXPIRY, one policy, and its options. */
enum {
    /** Allocate deadlines and the timer wheel (16 more bytes per slot).
     *  A core without it costs less per entry and rejects deadlines. */
    LARDER_CORE_EXPIRY = 1u << 0,

    /** Policies (bits 8-11; one of them, 0 when none is named):
     *  exact LRU, the default: the least recently used entry leaves. */
    LARDER_CORE_LRU = 0u << 8,
    /** Adaptive W-TinyLFU: new entries enter an LRU window (1 % of the
     *  maximum at first); the window's overflow is admitted into a segmented
     *  LRU main region (probation, protected at 80 %) only when a 4-bit
     *  count-min sketch of recent requests says it is asked for more often
     *  than main's victim. The window grows when a miss finds a key that
     *  lost admission shortly before (while such misses are the majority),
     *  and shrinks, down to 1 %, when it finds one of main's recent
     *  victims. Per slot: 8 bytes of sketch and 2 bytes of
     *  recent departures, and a byte of state in which a resident's hits
     *  are counted until it leaves. */
    LARDER_CORE_WTINYLFU = 1u << 8,
    /** S3-FIFO: new entries enter a small FIFO (10 %); those hit again
     *  before they reach its end move to the main FIFO, the others leave
     *  and their hashes join a ghost queue, which sends them straight to
     *  main when they return. A hit sets a 2-bit counter and moves nothing.
     *  Per slot: 8 bytes of ghost. */
    LARDER_CORE_S3FIFO = 2u << 8,
    /** The policy field of the flags. */
    LARDER_CORE_POLICY_MASK = 0xFu << 8,
    /** With LARDER_CORE_WTINYLFU only: keep the window at 1 % (no
     *  adaptation), Caffeine 2.6's static W-TinyLFU, for comparisons. */
    LARDER_CORE_FIXED_WINDOW = 1u << 12,
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

/** Bytes the core keeps for its owner's lock (larder_core_lock_offset). */
#define LARDER_CORE_LOCK_BYTES 32u

/** Where, from the start of a core, its owner may keep a lock of up to
 *  LARDER_CORE_LOCK_BYTES bytes (8-byte aligned), after larder_core_init:
 *  on the cache line that every write to the core moves, so that a write
 *  made under that lock touches one line fewer. The core never reads or
 *  writes those bytes after creating itself, which zeroes them. */
size_t larder_core_lock_offset(void);

/** Words the core keeps for its owner (larder_core_owner_words). */
#define LARDER_CORE_OWNER_WORDS 4u

/** LARDER_CORE_OWNER_WORDS 8-byte words (8-byte aligned) the owner may
 *  keep in the core: on the line of its list sentinels (in a block aligned
 *  to 64 bytes), which every insert and eviction writes, so that a sequence
 *  or counter the owner moves at each write costs no line of its own. The
 *  core zeroes them when it is created and never reads or writes them
 *  after, larder_core_clear included. */
uint64_t *larder_core_owner_words(larder_core *core);

/** Bytes a core of this capacity and flags allocates in all (arena, index,
 *  wheel, policy, header), in one block; 0 when the arguments are invalid.
 *  Per slot: an 8-byte node (links) and a 16-byte record (hash, weight), 8-byte buckets numbering the power of two
 *  >= 2 * capacity (16 to 32 bytes per slot; 16.8 at a million), the
 *  policy's state (larder_core_slot_state_bytes), and with
 *  LARDER_CORE_EXPIRY 16 bytes of wheel links and deadline, plus about 5 KiB
 *  of wheel sentinels per core. W-TinyLFU adds 10 bytes per slot: 8 of
 *  frequency sketch (64 bytes at least) and 2 of departures, S3-FIFO 8 bytes per
 *  slot of ghost; either adds a few hundred bytes of state and list
 *  sentinels per core. */
size_t larder_core_footprint(uint32_t capacity, uint32_t flags);

/** The part of larder_core_footprint that holds the policy's state of each
 *  slot: a byte per slot under W-TinyLFU (its count of hits and its
 *  region), 2 bits under S3-FIFO (its hit counter), a byte under LRU (its
 *  mark of a hit applied without a move, larder_core_mark_batch); rounded
 *  up to 8 bytes. */
size_t larder_core_slot_state_bytes(uint32_t capacity, uint32_t flags);

/** The part of larder_core_footprint that holds W-TinyLFU's frequency
 *  sketch (8 bytes per slot, 64 at least); 0 under the other policies. */
size_t larder_core_sketch_bytes(uint32_t capacity, uint32_t flags);

/** The capacity the core was created with. */
uint32_t larder_core_capacity(const larder_core *core);

/** The policy the core was created with: LARDER_CORE_LRU,
 *  LARDER_CORE_WTINYLFU or LARDER_CORE_S3FIFO. */
uint32_t larder_core_policy(const larder_core *core);

/** W-TinyLFU's window: how many entries it may hold now (its count limit,
 *  which the adaptive policy moves between 1 % and 99 % of the capacity);
 *  0 under the other policies. For statistics and tests. */
uint32_t larder_core_window_limit(const larder_core *core);

/**
 * Tells the policy the largest total weight the caller keeps (its byte
 * budget), so that it sizes its regions in weight as well as in count:
 * W-TinyLFU's window and protected region, S3-FIFO's small queue, and the
 * weights the ghost's length and the sketch's sample follow. A region is
 * full when either its count or its weight share is. UINT64_MAX (the
 * default) sizes them by count only. The core does not enforce the maximum
 * (the caller evicts until it fits); lowering it evicts nothing by itself.
 * No effect on LRU. O(1), plus W-TinyLFU's bounded move of entries between
 * its regions.
 */
void larder_core_set_maximum(larder_core *core, uint64_t max_total_weight);

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
 * Inserts a new entry and indexes it under `hash`: at the most-recent end
 * (LRU), into the window (W-TinyLFU; into probation when it weighs more than
 * the window), or into the small queue (S3-FIFO; into main when its hash is
 * in the ghost). W-TinyLFU also counts the request in its sketch.
 * The caller has made sure no live entry has an equal key.
 * @param slot_out receives the new entry's slot on LARDER_OK.
 * @return LARDER_OK, LARDER_ERR_FULL (count == capacity: evict first) or
 *         LARDER_ERR_WEIGHT.
 */
larder_status larder_core_insert(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out);

/**
 * Evicts the policy's victim for a new entry and inserts the new one into the
 * slot it frees: larder_core_victim_for, larder_core_remove and
 * larder_core_insert in one call, for the steady state of a full cache
 * (in one pass: the victim's slot skips the free list, deferred touches are
 * applied once). The caller's record of the victim is still at *slot_out in
 * its own storage: move it out before storing the new entry's there.
 * @param max_total_weight the largest total weight the core may carry after
 *        the swap (UINT64_MAX: no limit).
 * @return LARDER_OK; LARDER_ERR_FULL, evicting and inserting nothing, when
 *         the core is empty or one eviction does not make room under
 *         max_total_weight (evict with larder_core_victim_for and
 *         larder_core_remove until it does); LARDER_REJECTED (W-TinyLFU:
 *         the new entry is declined; drop it); LARDER_ERR_WEIGHT.
 */
larder_status larder_core_replace_lru(larder_core *core, uint64_t hash, uint64_t weight,
                                     uint64_t max_total_weight, uint32_t *slot_out);

/** Like larder_core_insert, but at the least valuable end of the policy's
 *  order (see larder_core_mru): for rebuilding an order from most to least
 *  valuable (recovery from disk). Under W-TinyLFU the entry joins probation's
 *  least-recent end, under S3-FIFO the small queue's oldest end; no policy
 *  counts it as a request. */
larder_status larder_core_insert_lru(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *slot_out);

/** Records a hit on a live entry. O(1). LRU marks it most recent (the move
 *  itself may be deferred, see larder_core_touch_inline; no function of this
 *  API can tell); W-TinyLFU counts it in the entry and moves it to the
 *  front of its region (from probation into protected); S3-FIFO bumps its
 *  2-bit counter and moves nothing.
 *  Functions taking a `slot` require a live one (from insert or a lookup, not
 *  yet removed); debug builds assert it, release builds do not check. */
void larder_core_touch(larder_core *core, uint32_t slot);

/** Records hits on live entries, in the order given, as larder_core_touch
 *  does for each (under LRU the last given ends most recent): touches
 *  recorded elsewhere and applied together, with their list neighbours'
 *  loads overlapped. Each slot must be live. */
void larder_core_touch_batch(larder_core *core, const uint32_t *slots, uint32_t count);

/** Records hits on live entries as marks, where threads share a cache:
 *  under LRU each entry is marked instead of moved, and an eviction that
 *  reaches a marked least-recent entry moves it to the front and clears the
 *  mark instead of evicting it (a second chance, as CLOCK gives). So the
 *  hits write no list node, whose lines the other threads write too; the
 *  order becomes approximate: an entry hit once since its last pass is
 *  kept as if hit when it reached the end. Under W-TinyLFU and S3-FIFO, the
 *  same as larder_core_touch_batch. Each slot must be live. */
void larder_core_mark_batch(larder_core *core, const uint32_t *slots, uint32_t count);

/** Removes a live entry from its list, the index and the wheel (or the
 *  expired list), and frees its slot for a later insert. O(1) plus the
 *  backward shift of its probe run. Removing the victim the policy named
 *  last (larder_core_victim, larder_core_victim_for) is an eviction: S3-FIFO
 *  then remembers its hash in the ghost. Any other removal is not. */
void larder_core_remove(larder_core *core, uint32_t slot);

/** Removes every entry (the timer wheel keeps its time; W-TinyLFU keeps its
 *  sketch and window size, S3-FIFO its ghost: the history of requests stays
 *  valid). O(capacity + buckets). */
void larder_core_clear(larder_core *core);

/** The stored hash of a live entry. */
uint64_t larder_core_hash(const larder_core *core, uint32_t slot);

/** The weight of a live entry. */
uint64_t larder_core_weight(const larder_core *core, uint32_t slot);

/** Replaces the weight of a live entry (an update of its value).
 *  @return LARDER_OK or LARDER_ERR_WEIGHT (nothing changed). */
larder_status larder_core_set_weight(larder_core *core, uint32_t slot, uint64_t weight);

/* ---- Eviction ----------------------------------------------------------- */

/**
 * The entry the policy evicts next when no new entry is waiting (pressure
 * eviction, draining): LRU's least recent; W-TinyLFU's probation victim or
 * window candidate, whichever its sketch ranks lower (then protected, then
 * window entries); S3-FIFO's small or main victim. LARDER_NIL when empty.
 * The caller removes it with larder_core_remove (asking again before that
 * names the same entry). It may rearrange the policy's queues (S3-FIFO
 * moves entries hit in small to main and gives main's a second round).
 */
uint32_t larder_core_victim(larder_core *core);

/**
 * The entry to evict so that a new entry with this hash and weight can be
 * inserted: call it while the core is full (count == capacity) or the new
 * entry does not fit the caller's weight budget, remove the victim with
 * larder_core_remove, and repeat until it fits; then larder_core_insert.
 * Asking again before removing names the same victim.
 *
 * W-TinyLFU decides admission here, as Caffeine does after an insert: the
 * window's overflow (as if the new entry had joined it) moves to probation
 * as candidates, each compared with probation's least-recent victim by
 * frequency (the sketch's estimate plus the entry's own count of hits); the rarer leaves (the candidate on a tie, and
 * against a victim asked for at most once unless it leads by two; a warm
 * candidate wins one time in 128 against hash flooding). An entry heavier
 * than the window is itself such a candidate, and may lose: then the call
 * returns LARDER_REJECTED and counts it as requested, and the caller drops
 * it (entries evicted before for it stay evicted, as in Caffeine).
 * LRU and S3-FIFO ignore hash and weight (their victim does not depend on
 * the newcomer) and reject only when the core is empty.
 * @return LARDER_OK with *victim_out set; LARDER_REJECTED (nothing to evict,
 *         or the new entry declined: do not insert it).
 */
larder_status larder_core_victim_for(larder_core *core, uint64_t hash, uint64_t weight, uint32_t *victim_out);

/* ---- Order ---------------------------------------------------------------
 *
 * Every policy orders its entries from most to least valuable: LRU by
 * recency; W-TinyLFU protected, then window, then probation, each from
 * most to least recent; S3-FIFO main, then small, each from newest to
 * oldest. The walks below follow that order (to persist it and restore it
 * with larder_core_insert_lru, or to list entries). Under LRU the least
 * valuable is the next victim unless it is marked (larder_core_mark_batch);
 * under the others larder_core_victim decides. */

/** The least valuable entry (under LRU the least recent, the eviction
 *  victim unless marked), or LARDER_NIL. */
uint32_t larder_core_lru(const larder_core *core);

/** The most valuable entry (under LRU the most recent), or LARDER_NIL. */
uint32_t larder_core_mru(const larder_core *core);

/** The next less valuable entry after `slot`, or LARDER_NIL at the least. */
uint32_t larder_core_older(const larder_core *core, uint32_t slot);

/** The next more valuable entry after `slot`, or LARDER_NIL at the most. */
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
 * Verifies every invariant: list links agree both ways and the policy's
 * lists together reach `count` entries, each in the list its policy bits
 * name, every live entry is indexed exactly once at a reachable probe
 * position, no bucket points at a free slot, the free list holds exactly the
 * other slots, total weight adds up, and every entry with a deadline is in
 * exactly one wheel bucket or the expired list. Per policy: each region's
 * count and weight are its list's, its limits follow the window share and
 * the maximum, the eviction round names live entries where it may, the
 * sketch's and the ghost's bookkeeping agree. O(capacity + buckets + sketch
 * + ghost).
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

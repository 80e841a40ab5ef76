/*
 * larder_policy_state.h — W-TinyLFU's and S3-FIFO's state in the core's
 * block: regions, the sketch, the window's bookkeeping, the ghost. Included
 * by larder_core_internal.h before the core's struct, whose union points at
 * them; not meant to be included on its own.
 */
#ifndef LARDER_POLICY_STATE_H
#define LARDER_POLICY_STATE_H

/* ---- Policy state (not for LRU, whose whole state is its list) ----------- */

/** A region's population and limits. A region is over its limit when either
 *  its count or its weight is: the core has a hard count (its capacity) and
 *  the caller a weight budget (larder_core_set_maximum), and whichever binds
 *  must size the regions. Without a budget the weight limits are UINT64_MAX. */
typedef struct larder_region {
    uint64_t weight;
    uint64_t max_weight;
    uint32_t count;
    uint32_t max_count;
} larder_region;

static inline int larder_region_over(const larder_region *r, uint32_t count, uint64_t weight)
{
    return r->count + (uint64_t)count > r->max_count || weight > r->max_weight || r->weight > r->max_weight - weight;
}

/** The 4-bit count-min frequency sketch (larder_sketch.c). */
typedef struct larder_sketch {
    uint64_t *table;     /* blocks * 8 words of sixteen 4-bit counters */
    uint32_t blocks;     /* 64-byte blocks; an item's four counters share one */
    uint32_t population; /* entries the sketch sizes its sample for */
    uint64_t sample;     /* increments between halvings: 10 * population */
    uint64_t size;       /* increments since the last halving (decayed by it) */
    /* Main's victim's estimate, kept across the eviction rounds it survives
     * (larder_sketch_memo_frequency): valid while `memo_block` is not
     * LARDER_SKETCH_NO_MEMO, the block of slot `memo_slot`'s hash. */
    uint32_t memo_block;
    uint32_t memo_slot;
    uint32_t memo_estimate;
} larder_sketch;

#define LARDER_SKETCH_NO_MEMO UINT32_MAX

/** The ghost of S3-FIFO (larder_ghost.c): stamped 32-bit fingerprints of
 *  the hashes evicted from the small queue, in a table of one-line buckets;
 *  a record lives for the last `limit` evictions. */
/* A ghost bucket: one cache line of 16 words, 15 places and a cursor: the
 * place the next addition writes, and when the bucket was last swept (see
 * larder_ghost.c). */
#define LARDER_GHOST_BUCKET_WORDS 16u
#define LARDER_GHOST_CURSOR 15u

typedef struct larder_ghost {
    uint32_t *table;       /* `buckets` buckets of LARDER_GHOST_BUCKET_WORDS words, 64-byte aligned */
    uint32_t table_size;   /* words: buckets * LARDER_GHOST_BUCKET_WORDS */
    uint32_t buckets;
    uint32_t max_records;  /* the longest limit (main's count); 0: no ghost */
    uint32_t unit;         /* additions per stamp */
    uint32_t unit_left;    /* additions left in the current stamp */
    uint32_t epoch;        /* stamps since the table was cleared, modulo 2^28
                            * (its low 12 bits: the current stamp) */
    uint32_t window;       /* stamps a record lives: the latest limit, in units */
    uint32_t limit;        /* that limit */
} larder_ghost;

/* Regions of W-TinyLFU, which are also its list numbers. */
enum { LARDER_WINDOW = 0, LARDER_PROBATION = 1, LARDER_PROTECTED = 2 };
/* Queues of S3-FIFO, likewise. */
enum { LARDER_SMALL = 0, LARDER_MAIN = 1 };

/** W-TinyLFU (larder_policy_wtinylfu.c, larder_wtinylfu_evict.c, larder_wtinylfu_counts.c, larder_policy_window.c). */
typedef struct larder_wtinylfu {
    larder_region region[3];   /* window, probation (limits unused), protected */
    larder_sketch sketch;
    uint64_t rng;              /* xorshift64 state for the random admission */
    /* The eviction round (see larder_core_victim_for): the next candidate to
     * judge and where it comes from, and the victim last named (with the
     * round's state once it is removed), so that asking again is idempotent. */
    uint32_t candidate;
    uint32_t pending;
    uint32_t pending_candidate;
    uint8_t phase;
    uint8_t pending_phase;
    uint8_t adapts;            /* 0: the window stays at its initial 1 % */
    uint8_t rebalance;         /* a resize's transfers were cut short: go on at the next insert */
    uint8_t counting;          /* the sketch counts requests (from the first time the cache is half full) */
    /* The window's size, in parts per million of the maximum, and what
     * adapts it (larder_policy_window.c): recent departures by side. */
    uint32_t window_ppm;
    uint32_t regret_slots;
    uint64_t *regret_table;
    uint32_t window_departures;  /* entries moved out of the window, wrapping */
    uint32_t main_departures;    /* main's victims evicted, wrapping */
    uint16_t window_regret_share; /* the window's share of recent regrets, of 65,536 */
    uint8_t pending_side;      /* the side the named victim is recorded on when it leaves (LARDER_SIDE_*) */
} larder_wtinylfu;

/* The side a W-TinyLFU departure is recorded on, for the window's controller
 * (larder_policy_window.c). */
enum {
    LARDER_SIDE_WINDOW = 0, /* a candidate that lost admission */
    LARDER_SIDE_MAIN = 1,   /* main's victim */
    LARDER_SIDE_NONE = 2,   /* not recorded: declined by the admission margin alone */
};

/* Where the next candidate comes from, in Caffeine's order. */
enum {
    LARDER_ROUND_NONE = 0,      /* no round open */
    LARDER_ROUND_MOVED = 1,     /* the window's overflow moved to probation */
    LARDER_ROUND_NEWCOMER = 2,  /* the new entry, heavier than the window */
    LARDER_ROUND_WINDOW = 3,    /* the window's least recent (candidate not yet taken) */
    LARDER_ROUND_WINDOW_ON = 4, /* the window, from `candidate` toward its front */
    LARDER_ROUND_DONE = 5,      /* no candidates left: victims leave unjudged */
};

/* A W-TinyLFU entry's region (bits 60-61 of its weight word). */
static inline uint32_t larder_wtinylfu_region_of(const larder_core *core, uint32_t slot);

/** S3-FIFO (larder_policy_s3fifo.c). */
typedef struct larder_s3fifo {
    larder_region region[2];   /* small (limits used), main (limits used) */
    larder_ghost ghost;
    uint32_t pending;          /* victim last named, not yet removed, or LARDER_NIL */
    uint8_t pending_ghost;     /* its hash joins the ghost when it is removed */
    uint32_t unplaced;         /* newest entry, at small's front, its ghost lookup not yet made, or LARDER_NIL */
} larder_s3fifo;

#endif

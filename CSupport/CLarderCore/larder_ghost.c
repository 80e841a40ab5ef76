/*
 * larder_ghost.c — S3-FIFO's ghost queue: the hashes recently evicted from
 * the small queue, so that an entry which returns soon after goes straight
 * to the main queue. 8 bytes per slot.
 *
 * The paper's ghost is a FIFO of the last `limit` evicted hashes (`limit`:
 * the main queue's count). Here a record is a 32-bit word in a table of
 * 64-byte buckets: 15 places and a cursor. A record's upper 20 bits are a
 * fingerprint of the hash (nonzero; a zero word is an empty place), its
 * lower 12 bits a stamp, the eviction clock when it was added. The clock
 * advances one stamp per `unit` additions (unit = max records / 1024,
 * rounded up, at least 1), and a record is alive while its age, in stamps,
 * is below the window ceil(limit / unit): the last `limit` additions, to
 * within one unit (0.1 % of the limit). A dead record is an empty place.
 *
 * So an addition writes one line and a lookup reads one; nothing is ever
 * forgotten explicitly. An addition writes the place under its bucket's
 * cursor and moves the cursor on (place 15 holds it, below 15, so no
 * fingerprint matches it): each bucket is a small FIFO of its own. Choosing
 * the first dead place instead (each place's age tested against the window)
 * cost about 34 instructions more per addition for nearly the same records
 * kept: a bucket averages 7 additions per window (a bucket per 8 slots of
 * capacity, at most 0.9 records per slot alive), so the cursor overwrites a
 * live record only where a bucket takes 15 additions in one window, about 1
 * in 140 additions (1 in 320 lost a record early when the first dead place
 * was chosen; the hit-ratio suite's S3-FIFO means are the same). Why
 * not one FIFO ring of the records beside the table: each addition at the
 * limit would also find and remove the oldest record in the table, two
 * lines more (measured: about 35 ns of a 125 ns set+evict with a ring and
 * two-bucket lookups).
 *
 * Stamps wrap after 4096, and a bucket few hashes reach keeps its records
 * long. So that a dead record never looks alive again, each bucket's cursor
 * word also holds the epoch (a 28-bit count of stamps) of its last sweep,
 * and the buckets are swept in the line an addition writes anyway: an
 * addition first empties its bucket's dead places when that sweep is 1024
 * stamps old or more (about one addition in seven per bucket), and all of
 * its places when it is 3072 or more. Each record left by a sweep was alive
 * then, younger than the window (at most 1024), and each record added since
 * is younger than the sweep, so while a bucket's sweep is under 3072 stamps
 * old its ages are exact (under 4096); a lookup in a bucket swept longer
 * ago finds nothing (all its records died at least 2048 stamps before).
 * larder_ghost_check holds every record's age to that bound. Before, every
 * fourth addition swept the next bucket in turn, a line of its own; this
 * way makes the same decisions for 0.25 lines fewer per addition
 * (docs/Performance.md has the measurements). A bucket left without an
 * addition for 2^28 stamps would read as recently swept; its records are
 * then dead, and one could look alive again only by also matching a
 * newcomer's 20-bit fingerprint.
 *
 * A taken record is emptied: an entry found once does not return to main a
 * second time. The table is a multiset: a fingerprint evicted twice is in
 * it twice.
 *
 * The lookup and the addition are in larder_ghost_inline.h, inlined into
 * S3-FIFO's eviction; this file sizes, clears and checks the table.
 */
#include "larder_core_internal.h"
#include "larder_ghost_inline.h"

void larder_ghost_sizes(uint32_t capacity, uint32_t max_records, uint32_t *table_size)
{
    /* 8 bytes per slot: two places, in whole buckets, at least one. */
    if (max_records == 0) {
        *table_size = 0;
        return;
    }
    uint32_t buckets = (uint32_t)(2u * (uint64_t)capacity / LARDER_GHOST_BUCKET_WORDS);
    *table_size = (buckets > 0 ? buckets : 1u) * LARDER_GHOST_BUCKET_WORDS;
}

void larder_ghost_init(larder_ghost *ghost, uint32_t *table, uint32_t max_records, uint32_t table_size)
{
    ghost->table = table;
    ghost->table_size = table_size;
    ghost->buckets = table_size / LARDER_GHOST_BUCKET_WORDS;
    ghost->max_records = max_records;
    ghost->unit = max_records > LARDER_GHOST_WINDOW_MAX
                      ? (uint32_t)(((uint64_t)max_records + LARDER_GHOST_WINDOW_MAX - 1u) / LARDER_GHOST_WINDOW_MAX)
                      : 1u;
    ghost->unit_left = ghost->unit;
    ghost->epoch = 0;
    ghost->window = 0;
    ghost->limit = 0;
    for (uint32_t i = 0; i < table_size; i++) table[i] = 0;
}

/* The clock's fields in range; every cursor's place below 15; every
 * record's fingerprint nonzero, and in a bucket that is not stale its age
 * exact: at most the stamps since the bucket's last sweep plus the longest
 * window (see above). */
int larder_ghost_check(const larder_ghost *ghost)
{
    if (ghost->max_records == 0) return ghost->table_size == 0 ? 0 : LARDER_CHECK_GHOST;
    if (ghost->table_size != ghost->buckets * LARDER_GHOST_BUCKET_WORDS || ghost->buckets == 0 ||
        ghost->epoch > LARDER_GHOST_EPOCH_MASK)
        return LARDER_CHECK_GHOST;
    if (ghost->unit == 0 || ghost->unit_left == 0 || ghost->unit_left > ghost->unit ||
        (uint64_t)ghost->unit * LARDER_GHOST_WINDOW_MAX < ghost->max_records || ghost->window > LARDER_GHOST_WINDOW_MAX)
        return LARDER_CHECK_GHOST;
    for (uint32_t b = 0; b < ghost->buckets; b++) {
        const uint32_t *bucket = ghost->table + (size_t)b * LARDER_GHOST_BUCKET_WORDS;
        if ((bucket[LARDER_GHOST_CURSOR] & LARDER_GHOST_PLACE_MASK) >= LARDER_GHOST_CURSOR) return LARDER_CHECK_GHOST;
        uint32_t since = larder_ghost_since_sweep(ghost, bucket);
        for (uint32_t i = 0; i < LARDER_GHOST_CURSOR; i++) {
            uint32_t word = bucket[i];
            if (word == 0) continue;
            if ((word >> LARDER_GHOST_STAMP_BITS) == 0) return LARDER_CHECK_GHOST;
            if (since < LARDER_GHOST_STALE_AGE && larder_ghost_age(ghost, word) >= since + LARDER_GHOST_WINDOW_MAX)
                return LARDER_CHECK_GHOST;
        }
    }
    return 0;
}

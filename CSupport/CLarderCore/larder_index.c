/*
 * larder_index.c — the open-addressing index from a key's hash to its slot.
 *
 * A power-of-two table of 8-byte buckets {tag, slot}, at least two buckets
 * per slot (load <= 1/2, so a probe always meets an empty bucket). The tag
 * is the hash's upper 32 bits and the home bucket is tag & mask, so moving
 * buckets during deletion needs no access to the nodes. Linear probing;
 * deletion by backward shift, so there are no tombstones and lookups stay
 * short however the table has churned. Candidates are confirmed against the
 * node's full 64-bit hash; the caller then confirms key equality.
 *
 * Every bucket is written whole with one relaxed atomic store, so that a
 * concurrent optimistic reader (larder_core_lookup_concurrent_first) reads
 * each bucket as a consistent {tag, slot} pair; its caller's sequence check
 * discards whatever else a concurrent write changed. On x86-64 and arm64 the
 * store is an ordinary 8-byte move.
 */
#include "larder_core_internal.h"

#include <string.h>

/* The one way a bucket is written (see the file comment). */
static inline void larder_bucket_store(larder_bucket *bucket, uint32_t tag, uint32_t slot)
{
    larder_bucket value = { .tag = tag, .slot = slot };
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    __atomic_store_n((uint64_t *)(void *)bucket, bits, __ATOMIC_RELAXED);
}

void larder_index_reset(larder_core *core)
{
    /* All bits set: slot == LARDER_NIL marks an empty bucket. */
    for (uint32_t i = 0; i <= core->mask; i++) larder_bucket_store(&core->buckets[i], UINT32_MAX, LARDER_NIL);
}

void larder_index_insert(larder_core *core, uint64_t hash, uint32_t slot)
{
    larder_bucket *buckets = core->buckets;
    uint32_t mask = core->mask, tag = larder_tag_of(hash);
    uint32_t i = tag & mask;
    while (buckets[i].slot != LARDER_NIL) i = (i + 1u) & mask;
    larder_bucket_store(&buckets[i], tag, slot);
}

void larder_index_remove(larder_core *core, uint32_t slot)
{
    larder_bucket *buckets = core->buckets;
    uint32_t mask = core->mask;
    uint32_t hole = larder_tag_of(core->metas[slot].hash) & mask;
    while (buckets[hole].slot != slot) {
        assert(buckets[hole].slot != LARDER_NIL);  /* a live slot is always indexed */
        hole = (hole + 1u) & mask;
    }
    /* Backward shift: pull each later bucket of the run into the hole when
     * the hole lies on its probe path (between its home and it). */
    for (uint32_t j = (hole + 1u) & mask; buckets[j].slot != LARDER_NIL; j = (j + 1u) & mask) {
        uint32_t home = buckets[j].tag & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            larder_bucket_store(&buckets[hole], buckets[j].tag, buckets[j].slot);
            hole = j;
        }
    }
    larder_bucket_store(&buckets[hole], UINT32_MAX, LARDER_NIL);
}

/* Probes from bucket `i` for a bucket whose slot has exactly `hash`. */
static uint32_t larder_index_probe(const larder_core *core, uint64_t hash, uint32_t i, larder_cursor *cursor)
{
    const larder_bucket *buckets = core->buckets;
    uint32_t mask = core->mask, tag = larder_tag_of(hash);
    for (;; i = (i + 1u) & mask) {
        uint32_t slot = buckets[i].slot;
        if (slot == LARDER_NIL) break;
        if (buckets[i].tag == tag && core->metas[slot].hash == hash) {
            cursor->bucket = i;
            cursor->tag = tag;
            return slot;
        }
    }
    cursor->bucket = LARDER_NIL;  /* makes find_next answer LARDER_NIL */
    cursor->tag = tag;
    return LARDER_NIL;
}

uint32_t larder_core_find_first(const larder_core *core, uint64_t hash, larder_cursor *cursor)
{
    return larder_index_probe(core, hash, larder_tag_of(hash) & core->mask, cursor);
}

uint32_t larder_core_find_next(const larder_core *core, larder_cursor *cursor)
{
    if (cursor->bucket == LARDER_NIL) return LARDER_NIL;
    /* The core is unchanged since the previous answer, so the cursor's bucket
     * still names a slot carrying the full hash being looked up. */
    uint32_t slot = core->buckets[cursor->bucket].slot;
    assert(slot != LARDER_NIL && core->buckets[cursor->bucket].tag == cursor->tag);
    return larder_index_probe(core, core->metas[slot].hash, (cursor->bucket + 1u) & core->mask, cursor);
}

int larder_index_check(const larder_core *core)
{
    const larder_bucket *buckets = core->buckets;
    larder_meta *metas = core->metas;  /* the mark bit is scratch, cleared below */
    uint32_t mask = core->mask;
    uint64_t bucket_count = (uint64_t)mask + 1u;

    /* Start just after an empty bucket (one exists: load <= 1/2) and track the
     * length of the run of full buckets ending at each bucket: a bucket is
     * reachable from its home iff its distance from home is shorter than that. */
    uint32_t start = 0;
    while (buckets[start].slot != LARDER_NIL) {
        if (++start > mask) return LARDER_CHECK_INDEX_COUNT;  /* no empty bucket at all */
    }
    int code = 0;
    uint64_t run = 0, indexed = 0;
    for (uint64_t k = 1; k <= bucket_count && code == 0; k++) {
        uint32_t i = (uint32_t)((start + k) & mask);
        uint32_t slot = buckets[i].slot;
        if (slot == LARDER_NIL) {
            run = 0;
            continue;
        }
        run++;
        indexed++;
        if (slot >= core->capacity || !(metas[slot].word & LARDER_FLAG_LIVE)) code = LARDER_CHECK_INDEX_SLOT;
        else if (buckets[i].tag != larder_tag_of(metas[slot].hash)) code = LARDER_CHECK_INDEX_TAG;
        else if (((i - (buckets[i].tag & mask)) & mask) >= run) code = LARDER_CHECK_INDEX_REACH;
        else if (metas[slot].word & LARDER_FLAG_MARK) code = LARDER_CHECK_INDEX_TWICE;
        else larder_meta_store_word_(&metas[slot], metas[slot].word | LARDER_FLAG_MARK);
    }
    for (uint32_t s = 0; s < core->capacity; s++) larder_meta_store_word_(&metas[s], metas[s].word & ~LARDER_FLAG_MARK);
    if (code) return code;
    /* Each indexed slot is live and distinct; as many as the live entries
     * means every live entry is indexed exactly once. */
    if (indexed != core->count) return LARDER_CHECK_INDEX_COUNT;
    return 0;
}

/*
 * larder_wtinylfu_counts.c — how often W-TinyLFU's keys were asked for: the
 * residents' own counts, their joining the sketch, and the aging of both.
 *
 * A hit is counted in the low 4 bits of the entry's state byte
 * (larder_slot_states: a byte per slot, a table that stays in L2; the byte
 * also holds the region, so a hit reads no meta record) instead of in the
 * sketch, whose block would be one more cache miss per hit; those counts
 * join the sketch when the entry leaves and at each aging (larder_sketch.c).
 * Misses (inserts, declined newcomers) count in the sketch directly. A
 * resident's frequency is the sketch's estimate plus its count: what
 * Caffeine's sketch would estimate, except that keys sharing its counters
 * see its hits a little later. Two variants measured worse on the LIRS
 * traces: comparing residents by exact counts started from the estimate
 * (against estimates that collisions inflate, candidates won, and a loop
 * fell to LRU's 0 %), and counting the insert in the entry too (`lirs_gli`
 * at 1,000 entries lost 3.7 points).
 *
 * A candidate leaving the window is the exception: its frequency is the
 * estimate it carries (bits 52-55 of its weight word, the sketch's estimate
 * just after its insert counted it) plus its count. A window entry is young,
 * so that estimate differs from the sketch's only by collisions since; and
 * its meta record is in cache as the window moves it, where the sketch's
 * block, after the node and the hash it waits for, was a quarter of the
 * eviction decision's cache-miss stalls (docs/Performance.md). The victim
 * keeps the sketch's estimate: carried estimates for both sides lost 0.7
 * point in the mean over the traces (lirs_scan at 250 entries 9 points).
 *
 * The per-request functions are in larder_wtinylfu_counts_inline.h.
 */
#include "larder_wtinylfu_counts_inline.h"

void larder_wtinylfu_release_all(larder_core *core)
{
    for (uint32_t slot = 0; slot < core->capacity; slot++)
        if (core->metas[slot].word & LARDER_FLAG_LIVE) larder_release(core, slot);
}

/* When the period's count has reached its sample, ages the frequencies
 * (see larder_sketch.c): every resident's count joins the sketch first, so
 * that a key's requests are halved as one count (halved apart, each part
 * would lose its odd request). It halves at least once even when the
 * residents' saturated hits, leaving the count, bring it below the sample:
 * else a workload of such hits could set off this O(capacity) pass at
 * nearly every request. The estimates the residents carry age as their
 * counters do: the count joins them, saturating, and each halving halves
 * them, so that none exceeds the sketch's estimate of its key. */
LARDER_COLD void larder_wtinylfu_age(larder_core *core)
{
    larder_sketch *sketch = &core->state.wtinylfu->sketch;
    if (sketch->size < sketch->sample) return;
    for (uint32_t slot = 0; slot < core->capacity; slot++) {
        if (!(core->metas[slot].word & LARDER_FLAG_LIVE)) continue;
        uint32_t carried = larder_carried_frequency_of(core, slot);
        larder_release(core, slot);
        larder_set_count(core, slot, 0);
        larder_set_stored_estimate(core, slot, carried >> 1);
    }
    uint32_t halvings = 0;
    do {
        uint64_t lost = larder_sketch_halve(sketch) >> 2;  /* a request moves four counters */
        sketch->size = (sketch->size >> 1) > lost ? (sketch->size >> 1) - lost : 0;
        halvings++;
    } while (sketch->size >= sketch->sample);
    if (halvings == 1) return;
    uint32_t more = halvings - 1u < 4u ? halvings - 1u : 4u;  /* 4 empties a 4-bit estimate */
    for (uint32_t slot = 0; slot < core->capacity; slot++) {
        if (!(core->metas[slot].word & LARDER_FLAG_LIVE)) continue;
        larder_set_stored_estimate(core, slot, larder_stored_estimate(core, slot) >> more);
    }
}

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
 * nearly every request. */
LARDER_COLD void larder_wtinylfu_age(larder_core *core)
{
    larder_sketch *sketch = &core->state.wtinylfu->sketch;
    if (sketch->size < sketch->sample) return;
    for (uint32_t slot = 0; slot < core->capacity; slot++) {
        if (!(core->metas[slot].word & LARDER_FLAG_LIVE)) continue;
        larder_release(core, slot);
        larder_set_count(core, slot, 0);
    }
    do {
        uint64_t lost = larder_sketch_halve(sketch) >> 2;  /* a request moves four counters */
        sketch->size = (sketch->size >> 1) > lost ? (sketch->size >> 1) - lost : 0;
    } while (sketch->size >= sketch->sample);
}

/*
 * larder_window_inline.h — the window controller's per-miss functions (the
 * record of recent departures, described in larder_policy_window.c),
 * inlined into W-TinyLFU's insert and removal, which call them at every
 * miss.
 */
#ifndef LARDER_WINDOW_INLINE_H
#define LARDER_WINDOW_INLINE_H

#include "larder_core_internal.h"

/* A record: bits 33-63 the hash's top 31 bits (never all zero, so an empty
 * slot matches no hash), bits 0-31 the stamp; its slot says its side. The
 * slot comes from the hash's low half, so slot and fingerprint use
 * different bits. */
static inline uint64_t larder_regret_key(uint64_t hash)
{
    return (hash >> 33) | 1u;
}

static inline uint32_t larder_regret_slot(const larder_wtinylfu *w, uint64_t hash, int main_side)
{
    /* A hash's two records (one per side) share a 16-byte pair, so a miss
     * reads one line. */
    return 2u * (uint32_t)(((hash & UINT32_MAX) * (uint64_t)w->regret_slots) >> 32) + (main_side ? 1u : 0u);
}

static inline void larder_window_record(larder_wtinylfu *w, uint64_t hash, int main_side)
{
    uint32_t stamp = main_side ? ++w->main_departures : w->window_departures;
    w->regret_table[larder_regret_slot(w, hash, main_side)] = (larder_regret_key(hash) << 33) | stamp;
}

static inline void larder_window_prefetch(const larder_wtinylfu *w, uint64_t hash)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(&w->regret_table[larder_regret_slot(w, hash, 0)], 1);
#else
    (void)w;
    (void)hash;
#endif
}

/* Whether `hash` left from this side within the horizon (and forgets it). */
static inline int larder_window_regrets(larder_wtinylfu *w, uint64_t hash, int main_side, uint32_t horizon)
{
    uint64_t *record = &w->regret_table[larder_regret_slot(w, hash, main_side)];
    uint64_t r = *record;
    if ((r >> 33) != larder_regret_key(hash)) return 0;
    *record = 0;
    return (uint32_t)((main_side ? w->main_departures : w->window_departures) - (uint32_t)r) < horizon;
}

static inline void larder_window_miss(larder_core *core, uint64_t hash)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    uint32_t horizon = w->sketch.population / 8u > 4u ? w->sketch.population / 8u : 4u;
    int window = larder_window_regrets(w, hash, 0, horizon), main = larder_window_regrets(w, hash, 1, horizon);
    if (w->adapts && window != main) larder_window_regret(core, window);
}

#endif

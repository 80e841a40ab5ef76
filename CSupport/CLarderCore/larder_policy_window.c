/*
 * larder_policy_window.c — the size of W-TinyLFU's window: its limits, the
 * controller that adapts it, and the moves that follow a change.
 *
 * A 1 % window (Caffeine 2.6) suits frequency-biased workloads and loses to
 * plain LRU on recency-biased ones, where keys are reused soon after their
 * first request and then rarely again: they need a window large enough to
 * catch the reuse. Caffeine since 2.7 climbs the window's size on the hit
 * rate of samples of 10 requests per entry ("Adaptive Software Cache
 * Management", Middleware 2018). That climber, measured here, needed a
 * quarter of a 400,000-request sliding-window trace to grow its window and
 * lost 7 points to LRU over it, and on a hot set replaced every two samples
 * it reversed at each replacement and sat at the smallest window (-4.7).
 *
 * This controller asks instead, on every miss, which region would have kept
 * the missed key had it been a little larger, as ARC does with its ghost
 * lists (Megiddo and Modha, FAST 2003). A small table remembers, for each
 * recent departure, a fingerprint of its hash, which side it left from and
 * when, counted in that side's own departures:
 *  - the window side: a candidate that lost admission (or a newcomer that
 *    lost it directly), stamped with the count of entries that have left
 *    the window so far; not one that lost by the admission margin alone
 *    (larder_admit), whose return is the request the margin waits for:
 *    counted as regrets, those returns opened the window on lirs_cpp at
 *    100 entries and cost 0.9-1.6 points against the fixed 1 % window;
 *  - the main side: main's victims, stamped with the count of main's
 *    evictions.
 * A miss on a key still in the table is a regret only when it left fewer
 * than an eighth of the population's departures ago (of its side): a region
 * that much larger would have held it. A main regret shrinks the window by
 * one entry's share, down to Caffeine's 1 % and no further; a window regret
 * grows it by one while window regrets are the majority of the recent ones
 * (a running share, each regret weighing 1/32). Where both sides regret
 * about as often (the frequency-biased lirs_multi traces), a window that
 * followed every regret wandered between 0 and 3 % and cost up to 0.8
 * point against the fixed 1 % window; a window below 1 % gained nothing
 * anywhere and lost up to a point on small loops. On a recency-biased
 * workload nearly every regret is the window's, so the rule holds nothing
 * back there. Departures long ago
 * are no regret: a loop longer than the cache returns each key after a whole
 * cache of departures, so loops and scans do not pull the window open (no
 * larger window short of the whole loop would have caught them), while on a
 * sliding working set the window opens in a few thousand misses.
 *
 * The table has one slot pair per 8 entries, a slot for each side (8 bytes
 * a slot: 2 bytes per entry). Direct-mapped: a new departure overwrites its
 * side's slot, and a regret clears it. Overwritten records only make the
 * signal sparser, and separate slots keep it fair: with one slot for both
 * sides the window's departures, which outnumber main's wherever one-off
 * keys abound, washed main's records out and pulled the window open
 * (arc_oltp at 250 entries: 5.8 points below Caffeine 2.6, against 0.4 with
 * a slot per side). Measured on the LIRS/ARC traces and two recency-heavy
 * synthetic ones over five hash seeds (docs/Performance.md), against the
 * hill climber (before the floor and the majority rule): the mean over the
 * 32 referenced pairs 48.8 against 48.7, the sliding working set at 1,000
 * entries -0.9 against -7.0 points to LRU, the shifting hot set -0.4
 * against -4.7.
 *
 * The window's share sets the window's limits (in count, and in weight given
 * a maximum) and, as in Caffeine, moves protected's limit the other way, so
 * that window + protected stay at 80.2 % (1 % + 80 % of 99 %) until
 * protected is empty; probation keeps the rest. The window may take up to
 * 99 % of the cache (Caffeine stops at 80.2 %, when protected is empty): on
 * a purely recency-biased workload the best W-TinyLFU is almost all window,
 * that is, almost LRU. A shrunk window sends its least recent entries to
 * probation; a grown one takes probation's least recent (then protected's)
 * entries; protected's overflow is demoted. At most 1,000 moves per call, as
 * Caffeine's QUEUE_TRANSFER_THRESHOLD, the rest at the next inserts.
 */
#include "larder_core_internal.h"

#define LARDER_PPM 1000000u
#define LARDER_WINDOW_PPM_INITIAL 10000u    /* 1 % */
#define LARDER_MAIN_PROTECTED_PPM 800000u   /* 80 % of main */
#define LARDER_WINDOW_PPM_MAX 990000u       /* 99 % */
/* Window regrets' running share (of 65,536) above which one grows the window. */
#define LARDER_WINDOW_MAJORITY 32768u
#define LARDER_TRANSFERS 1000u

/* Window and protected limits out of `total` (a count or a weight). */
static void larder_split(uint64_t total, uint32_t window_ppm, uint64_t *window, uint64_t *protected)
{
    uint64_t window0 = total - larder_part(total, LARDER_PPM - LARDER_WINDOW_PPM_INITIAL);
    uint64_t protected0 = larder_part(total - window0, LARDER_MAIN_PROTECTED_PPM);
    uint64_t w = total - larder_part(total, LARDER_PPM - window_ppm);
    if (w < 1u) w = 1u;  /* the window holds one entry at least (Caffeine's floor) */
    *window = w;
    *protected = window0 + protected0 > w ? window0 + protected0 - w : 0;
}

void larder_window_size(larder_core *core)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    uint64_t window, protected;
    larder_split(core->capacity, w->window_ppm, &window, &protected);
    w->region[LARDER_WINDOW].max_count = (uint32_t)window;
    w->region[LARDER_PROTECTED].max_count = (uint32_t)protected;
    w->region[LARDER_PROBATION].max_count = core->capacity;
    w->region[LARDER_PROBATION].max_weight = UINT64_MAX;
    if (core->max_weight == UINT64_MAX) {
        w->region[LARDER_WINDOW].max_weight = UINT64_MAX;
        w->region[LARDER_PROTECTED].max_weight = UINT64_MAX;
    } else {
        larder_split(core->max_weight, w->window_ppm, &window, &protected);
        w->region[LARDER_WINDOW].max_weight = window;
        w->region[LARDER_PROTECTED].max_weight = protected;
    }
}

static inline uint32_t larder_tail(const larder_core *core, uint32_t list)
{
    uint32_t s = core->nodes[larder_sentinel(core, list)].prev;
    return s < core->capacity ? s : LARDER_NIL;
}

static inline int larder_window_takes(const larder_core *core, uint32_t slot)
{
    return slot != LARDER_NIL &&
           !larder_region_over(&core->state.wtinylfu->region[LARDER_WINDOW], 1, larder_meta_weight(&core->metas[slot]));
}

void larder_window_rebalance(larder_core *core)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    uint32_t moves = 0, s;
    /* Entries move between lists: any eviction round is over. */
    w->phase = 0;
    w->candidate = LARDER_NIL;
    w->pending = LARDER_NIL;
    while (moves < LARDER_TRANSFERS && larder_region_over(&w->region[LARDER_WINDOW], 0, 0) &&
           (s = larder_tail(core, LARDER_WINDOW)) != LARDER_NIL) {
        larder_wtinylfu_move(core, s, LARDER_PROBATION, 0);
        moves++;
    }
    while (moves < LARDER_TRANSFERS) {
        s = larder_tail(core, LARDER_PROBATION);
        if (!larder_window_takes(core, s)) s = larder_tail(core, LARDER_PROTECTED);
        if (!larder_window_takes(core, s)) break;
        larder_wtinylfu_move(core, s, LARDER_WINDOW, 0);
        moves++;
    }
    while (moves < LARDER_TRANSFERS && larder_region_over(&w->region[LARDER_PROTECTED], 0, 0) &&
           (s = larder_tail(core, LARDER_PROTECTED)) != LARDER_NIL) {
        larder_wtinylfu_move(core, s, LARDER_PROBATION, 0);
        moves++;
    }
    w->rebalance = moves == LARDER_TRANSFERS;
}

uint32_t larder_window_regret_slots_for(uint32_t capacity)
{
    /* A pair of slots (one per side) per 8 entries. */
    return 2u * (capacity / 8u > 8u ? capacity / 8u : 8u);
}

void larder_window_regret_init(larder_wtinylfu *w, uint64_t *table, uint32_t slots)
{
    w->regret_table = table;
    w->regret_slots = slots / 2u;
    w->window_departures = 0;
    w->main_departures = 0;
    w->window_regret_share = LARDER_WINDOW_MAJORITY;  /* no lean either way */
    for (uint32_t i = 0; i < slots; i++) table[i] = 0;
}

/* A regret of one side (larder_window_miss, larder_window_inline.h): the
 * running share moves, and the window by one entry's share of the
 * population, shrinking to 1 % at least, growing only while window regrets
 * are the majority. */
void larder_window_regret(larder_core *core, int grow)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    int32_t share = (int32_t)w->window_regret_share;
    share += ((grow ? 65535 : 0) - share) >> 5;
    w->window_regret_share = (uint16_t)share;
    if (grow && w->window_regret_share <= LARDER_WINDOW_MAJORITY) return;
    uint32_t step = LARDER_PPM / w->sketch.population;
    if (step == 0) step = 1;
    uint32_t target;
    if (grow) target = w->window_ppm + step < LARDER_WINDOW_PPM_MAX ? w->window_ppm + step : LARDER_WINDOW_PPM_MAX;
    else target = w->window_ppm > LARDER_WINDOW_PPM_INITIAL + step ? w->window_ppm - step : LARDER_WINDOW_PPM_INITIAL;
    if (target == w->window_ppm) return;
    w->window_ppm = target;
    larder_window_size(core);
    larder_window_rebalance(core);
}

int larder_window_check(const larder_core *core)
{
    const larder_wtinylfu *w = core->state.wtinylfu;
    if (w->window_ppm > LARDER_WINDOW_PPM_MAX || w->window_ppm < LARDER_WINDOW_PPM_INITIAL) return LARDER_CHECK_LIMITS;
    if (!w->adapts && w->window_ppm != LARDER_WINDOW_PPM_INITIAL) return LARDER_CHECK_LIMITS;
    if (2u * w->regret_slots != larder_window_regret_slots_for(core->capacity)) return LARDER_CHECK_LIMITS;
    uint64_t window, protected;
    larder_split(core->capacity, w->window_ppm, &window, &protected);
    if (w->region[LARDER_WINDOW].max_count != window || w->region[LARDER_PROTECTED].max_count != protected)
        return LARDER_CHECK_LIMITS;
    if (core->max_weight != UINT64_MAX) {
        larder_split(core->max_weight, w->window_ppm, &window, &protected);
        if (w->region[LARDER_WINDOW].max_weight != window || w->region[LARDER_PROTECTED].max_weight != protected)
            return LARDER_CHECK_LIMITS;
    } else if (w->region[LARDER_WINDOW].max_weight != UINT64_MAX) {
        return LARDER_CHECK_LIMITS;
    }
    return 0;
}

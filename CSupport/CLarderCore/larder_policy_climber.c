/*
 * larder_policy_climber.c — the size of W-TinyLFU's window: its limits, the
 * hill climber that adapts it, and the moves that follow a change.
 *
 * A 1 % window (Caffeine 2.6) suits frequency-biased workloads and loses to
 * plain LRU on recency-biased ones, where keys are reused soon after their
 * first request and then never again: they need a window large enough to
 * catch the reuse. Caffeine since 2.7 climbs the window's size on the hit
 * rate ("Adaptive Software Cache Management", Middleware 2018). This is that
 * climber (BoundedLocalCache.determineAdjustment), in integer parts per
 * million so that the tests' model reproduces it exactly:
 *  - every sample of requests (the sketch's period: 10 per entry), compare
 *    its hit rate with the previous sample's: if it did not drop, step again
 *    in the same direction, else reverse;
 *  - each step is 98 % of the last (the climb settles), but a change of 5
 *    points or more means the workload shifted: restart at 6.25 %.
 * The first step shrinks the window (a first sample counts as no drop).
 *
 * Four changes, each measured on the LIRS/ARC traces and two recency-heavy
 * synthetic ones (the branch's report has the tables):
 *  - a density guard: the window grows only while its entries earn more
 *    hits each than main's during the sample, and shrinks only while they
 *    earn fewer; otherwise (equal, as when a scan leaves both regions
 *    without hits) it stays. Hit-rate differences between samples are noisy
 *    at small sizes; the guard stops the climber from wandering into a large
 *    window on loops and scans (it cost up to 2.4 points there) and needs no
 *    extra sample, as it compares the two regions within the same one;
 *  - a bolder step: when a step improved the hit rate by more than three
 *    standard deviations of the sampling noise and the densities agree with
 *    its direction, the next step is 20 % longer (at most 25 %), so that a
 *    clearly recency-biased workload reaches its window in a few samples
 *    instead of fifteen;
 *  - the window may take up to 99 % of the cache (Caffeine stops at 80.2 %,
 *    when protected is empty): on a purely recency-biased workload the best
 *    W-TinyLFU is almost all window, that is, almost LRU;
 *  - a sample whose hit rate drops by the restart threshold also halves the
 *    sketch: a shifted hot set must not wait a whole period for the old
 *    one's counts to fade before it is admitted.
 *
 * The window's share sets the window's limits (in count, and in weight given
 * a maximum) and, as in Caffeine, moves protected's limit the other way, so
 * that window + protected stay at 80.2 % (1 % + 80 % of 99 %) until
 * protected is empty; probation keeps the rest. A shrunk window sends its
 * least recent entries to probation; a grown one takes probation's least
 * recent (then protected's) entries; protected's overflow is demoted. At
 * most 1,000 moves per call, as Caffeine's QUEUE_TRANSFER_THRESHOLD, the
 * rest at the next inserts.
 */
#include "larder_core_internal.h"

#define LARDER_PPM 1000000u
#define LARDER_WINDOW_PPM_INITIAL 10000u    /* 1 % */
#define LARDER_MAIN_PROTECTED_PPM 800000u   /* 80 % of main */
#define LARDER_WINDOW_PPM_MAX 990000u       /* 99 % */
#define LARDER_STEP_PPM 62500               /* 6.25 % */
#define LARDER_STEP_PPM_MAX 250000          /* 25 % */
#define LARDER_RESTART_PPM 50000            /* 5 points of hit rate */
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

void larder_climber_size(larder_core *core)
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

void larder_climber_rebalance(larder_core *core)
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

/* The sign of (window hits per window entry) - (main hits per main entry)
 * over the sample: 1 when the window earns more per entry, -1 when less. */
static int larder_density_sign(const larder_wtinylfu *w, uint64_t window_hits, uint64_t main_hits)
{
    uint64_t window_count = w->region[LARDER_WINDOW].count;
    uint64_t main_count = (uint64_t)w->region[LARDER_PROBATION].count + w->region[LARDER_PROTECTED].count;
    uint64_t window_side = window_hits * main_count, main_side = main_hits * window_count;  /* < 2^62 */
    return window_side > main_side ? 1 : window_side < main_side ? -1 : 0;
}

void larder_climber_climb(larder_core *core)
{
    larder_wtinylfu *w = core->state.wtinylfu;
    uint64_t hits = w->sample_hits, window_hits = w->sample_window_hits, requests = hits + w->sample_misses;
    /* Samples start with the sketch's counting (Caffeine resets them until then). */
    if (!w->climbs || !w->counting || requests < w->sketch.sample) return;
    /* A sample that ran long without inserts: scale it down so products fit. */
    while (requests > (UINT64_C(1) << 32)) {
        hits >>= 1;
        window_hits >>= 1;
        requests >>= 1;
    }
    int64_t rate = (int64_t)(hits * LARDER_PPM / requests);
    int64_t change = rate - (int64_t)w->previous_rate_ppm;
    int64_t amount = change >= 0 ? w->step_ppm : -(int64_t)w->step_ppm;
    int density = larder_density_sign(w, window_hits, hits - window_hits);
    int direction = amount > 0 ? 1 : amount < 0 ? -1 : 0;

    /* Significant: change^2 > 9 * 2 * p(1 - p) / n (plus a floor of 10^-4 on
     * the variance), in ppm: change^2 * n > 18 * (p(1 - p) + 10^8). */
    uint64_t n = requests < (UINT64_C(1) << 23) ? requests : (UINT64_C(1) << 23);
    int significant = change > 0 && (uint64_t)(change * change) * n >
                      18u * ((uint64_t)rate * (uint64_t)(LARDER_PPM - (uint64_t)rate) + UINT64_C(100000000));
    int64_t next = significant && density == direction ? amount * 120 / 100 : amount * 98 / 100;
    if (change >= LARDER_RESTART_PPM || change <= -LARDER_RESTART_PPM) {
        int64_t magnitude = next < 0 ? -next : next;
        if (magnitude < LARDER_STEP_PPM || change < 0) magnitude = LARDER_STEP_PPM;
        next = amount >= 0 ? magnitude : -magnitude;
        if (change < 0) larder_sketch_age(&w->sketch);  /* the workload shifted */
    }
    if (next > LARDER_STEP_PPM_MAX) next = LARDER_STEP_PPM_MAX;
    if (next < -LARDER_STEP_PPM_MAX) next = -LARDER_STEP_PPM_MAX;
    w->step_ppm = (int32_t)next;
    w->previous_rate_ppm = (uint32_t)rate;
    w->sample_hits = 0;
    w->sample_misses = 0;
    w->sample_window_hits = 0;
    if (direction != 0 && density != direction) return;  /* the density guard holds the window */

    int64_t target = (int64_t)w->window_ppm + amount;
    if (target < 0) target = 0;
    if (target > (int64_t)LARDER_WINDOW_PPM_MAX) target = LARDER_WINDOW_PPM_MAX;
    if ((uint32_t)target == w->window_ppm) return;
    w->window_ppm = (uint32_t)target;
    larder_climber_size(core);
    larder_climber_rebalance(core);
}

int larder_climber_check(const larder_core *core)
{
    const larder_wtinylfu *w = core->state.wtinylfu;
    if (w->window_ppm > LARDER_WINDOW_PPM_MAX || w->previous_rate_ppm > LARDER_PPM) return LARDER_CHECK_LIMITS;
    if (w->step_ppm > LARDER_STEP_PPM_MAX || w->step_ppm < -LARDER_STEP_PPM_MAX) return LARDER_CHECK_LIMITS;
    if (!w->climbs && w->window_ppm != LARDER_WINDOW_PPM_INITIAL) return LARDER_CHECK_LIMITS;
    if (w->sample_window_hits > w->sample_hits) return LARDER_CHECK_LIMITS;
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

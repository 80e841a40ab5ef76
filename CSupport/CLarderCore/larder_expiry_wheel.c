/*
 * larder_expiry_wheel.c — deadlines in a hierarchical timer wheel (after
 * Caffeine's TimerWheel), present only on cores created with
 * LARDER_CORE_EXPIRY.
 *
 * Records wheel[0 ..< capacity] hold each slot's links and deadline; after
 * them come the sentinels of the circular lists: 64 buckets for each of the
 * LARDER_WHEEL_LEVELS levels, the overflow bucket, and the expired list.
 *
 * Invariants, with T the wheel time (latest `now`):
 *  - a filed entry with deadline <= T is on the expired list, any other
 *    filed entry is in a bucket;
 *  - level 0 bucket (d >> s0) & 63 holds deadlines 0..63 ticks ahead of T's
 *    tick (0 = T's own tick, rescanned on every advance so expiry is exact);
 *  - level i > 0 holds deadlines 1..63 of its ticks ahead (level i - 1 holds
 *    anything nearer), so a bucket is reached exactly when its tick begins;
 *  - the overflow bucket holds deadlines at least one 2^50 ns tick ahead and
 *    is rescanned whenever that tick changes.
 * Advancing visits the buckets whose ticks passed (at most 64 per level) and
 * moves their entries down a level or onto the expired list, so its cost
 * follows the buckets passed and the entries moved, not the core's size.
 */
#include "larder_core_internal.h"

static inline uint32_t larder_wheel_sentinel(const larder_core *core, uint32_t index)
{
    return core->capacity + index;
}

static inline void larder_wheel_link_tail(larder_wlink *wheel, uint32_t sentinel, uint32_t slot)
{
    uint32_t last = wheel[sentinel].prev;
    wheel[slot].prev = last;
    wheel[slot].next = sentinel;
    wheel[last].next = slot;
    wheel[sentinel].prev = slot;
}

static inline void larder_wheel_unlink(larder_wlink *wheel, uint32_t slot)
{
    uint32_t prev = wheel[slot].prev, next = wheel[slot].next;
    wheel[prev].next = next;
    wheel[next].prev = prev;
}

void larder_wheel_reset(larder_core *core)
{
    larder_wlink *wheel = core->wheel;
    for (uint32_t i = 0; i < core->capacity; i++) {
        wheel[i].prev = LARDER_NIL;
        wheel[i].next = LARDER_NIL;
        __atomic_store_n(&wheel[i].deadline, LARDER_NO_DEADLINE, __ATOMIC_RELAXED);
    }
    for (uint32_t k = 0; k < LARDER_WHEEL_SENTINELS; k++) {
        uint32_t s = larder_wheel_sentinel(core, k);
        wheel[s].prev = s;
        wheel[s].next = s;
        wheel[s].deadline = LARDER_NO_DEADLINE;
    }
}

/* The sentinel of the list where `deadline` belongs at the wheel's time. */
static uint32_t larder_wheel_list_for(const larder_core *core, uint64_t deadline)
{
    uint64_t now = core->wheel_time;
    if (deadline <= now) return larder_wheel_sentinel(core, LARDER_WHEEL_EXPIRED_INDEX);
    for (uint32_t level = 0; level < LARDER_WHEEL_LEVELS; level++) {
        unsigned shift = larder_wheel_shift(level);
        uint64_t tick = deadline >> shift;
        if (tick - (now >> shift) < LARDER_WHEEL_SIZE)
            return larder_wheel_sentinel(core, level * LARDER_WHEEL_SIZE + (uint32_t)(tick & (LARDER_WHEEL_SIZE - 1u)));
    }
    return larder_wheel_sentinel(core, LARDER_WHEEL_OVERFLOW_INDEX);
}

void larder_wheel_unfile(larder_core *core, uint32_t slot)
{
    assert(core->metas[slot].word & LARDER_FLAG_FILED);
    larder_wheel_unlink(core->wheel, slot);
    core->wheel[slot].prev = LARDER_NIL;
    core->wheel[slot].next = LARDER_NIL;
    larder_meta_store_word_(&core->metas[slot], core->metas[slot].word & ~LARDER_FLAG_FILED);
}

larder_status larder_core_set_deadline(larder_core *core, uint32_t slot, uint64_t deadline)
{
    if (core->wheel == NULL) return LARDER_ERR_UNSUPPORTED;
    assert(larder_slot_is_live(core, slot));
    if (core->metas[slot].word & LARDER_FLAG_FILED) larder_wheel_unfile(core, slot);
    /* Atomic: optimistic readers load it concurrently (larder_core_deadline_concurrent). */
    __atomic_store_n(&core->wheel[slot].deadline, deadline, __ATOMIC_RELAXED);
    if (deadline == LARDER_NO_DEADLINE) larder_meta_store_word_(&core->metas[slot], core->metas[slot].word & ~LARDER_FLAG_DATED);
    else larder_meta_store_word_(&core->metas[slot], core->metas[slot].word | LARDER_FLAG_DATED);
    if (deadline != LARDER_NO_DEADLINE) {
        larder_wheel_link_tail(core->wheel, larder_wheel_list_for(core, deadline), slot);
        larder_meta_store_word_(&core->metas[slot], core->metas[slot].word | LARDER_FLAG_FILED);
    }
    return LARDER_OK;
}

uint64_t larder_core_deadline(const larder_core *core, uint32_t slot)
{
    assert(larder_slot_is_live(core, slot));
    return core->wheel ? core->wheel[slot].deadline : LARDER_NO_DEADLINE;
}

/* Empties one list and files each of its entries again at the wheel's
 * (already advanced) time: lower down, or onto the expired list. */
static void larder_wheel_cascade(larder_core *core, uint32_t sentinel)
{
    larder_wlink *wheel = core->wheel;
    uint32_t slot = wheel[sentinel].next;
    wheel[sentinel].next = sentinel;
    wheel[sentinel].prev = sentinel;
    while (slot != sentinel) {
        /* Re-filing writes only the moved slot and the tail of its new list
         * (already visited), so the rest of the old chain stays intact. */
        uint32_t next = wheel[slot].next;
        larder_wheel_link_tail(wheel, larder_wheel_list_for(core, wheel[slot].deadline), slot);
        slot = next;
    }
}

static void larder_wheel_advance(larder_core *core, uint64_t now)
{
    uint64_t then = core->wheel_time;
    core->wheel_time = now;
    for (uint32_t level = 0; level < LARDER_WHEEL_LEVELS; level++) {
        unsigned shift = larder_wheel_shift(level);
        uint64_t from = then >> shift, to = now >> shift;
        /* Level 0 rescans the tick `then` was in (entries due later in it);
         * a higher level only the ticks that began since. */
        if (level > 0) {
            if (from == to) return;  /* no higher level's tick changed either */
            from++;
        }
        uint64_t ticks = to - from + 1u;
        if (ticks > LARDER_WHEEL_SIZE) ticks = LARDER_WHEEL_SIZE;
        for (uint64_t k = 0; k < ticks; k++) {
            uint32_t index = (uint32_t)((from + k) & (LARDER_WHEEL_SIZE - 1u));
            larder_wheel_cascade(core, larder_wheel_sentinel(core, level * LARDER_WHEEL_SIZE + index));
        }
    }
    if ((then >> LARDER_WHEEL_OVERFLOW_SHIFT) != (now >> LARDER_WHEEL_OVERFLOW_SHIFT))
        larder_wheel_cascade(core, larder_wheel_sentinel(core, LARDER_WHEEL_OVERFLOW_INDEX));
}

uint32_t larder_core_expire(larder_core *core, uint64_t now, uint32_t *out, uint32_t max)
{
    if (core->wheel == NULL) return 0;
    if (now > core->wheel_time) larder_wheel_advance(core, now);
    larder_wlink *wheel = core->wheel;
    uint32_t expired = larder_wheel_sentinel(core, LARDER_WHEEL_EXPIRED_INDEX);
    uint32_t n = 0;
    while (n < max && wheel[expired].next != expired) {
        uint32_t slot = wheel[expired].next;
        larder_wheel_unfile(core, slot);
        out[n++] = slot;
    }
    return n;
}

/* Walks one circular list; counts its members into *members. */
static int larder_wheel_check_list(const larder_core *core, uint32_t index, uint64_t *members)
{
    const larder_wlink *wheel = core->wheel;
    uint32_t capacity = core->capacity;
    uint32_t sentinel = larder_wheel_sentinel(core, index);
    uint64_t now = core->wheel_time;
    uint32_t at = sentinel;
    uint64_t steps = 0;
    for (;;) {
        uint32_t next = wheel[at].next;
        if (next == sentinel) {
            if (wheel[sentinel].prev != at) return LARDER_CHECK_WHEEL_LINK;
            return 0;
        }
        if (next >= capacity || wheel[next].prev != at || ++steps > capacity) return LARDER_CHECK_WHEEL_LINK;
        uint64_t word = core->metas[next].word;
        uint64_t deadline = wheel[next].deadline;
        if (!(word & LARDER_FLAG_LIVE) || !(word & LARDER_FLAG_FILED) || deadline == LARDER_NO_DEADLINE)
            return LARDER_CHECK_WHEEL_MEMBER;
        if (index == LARDER_WHEEL_EXPIRED_INDEX) {
            if (deadline > now) return LARDER_CHECK_WHEEL_PLACE;
        } else if (deadline <= now) {
            return LARDER_CHECK_WHEEL_PLACE;
        } else if (index == LARDER_WHEEL_OVERFLOW_INDEX) {
            if ((deadline >> LARDER_WHEEL_OVERFLOW_SHIFT) <= (now >> LARDER_WHEEL_OVERFLOW_SHIFT))
                return LARDER_CHECK_WHEEL_PLACE;
        } else {
            uint32_t level = index / LARDER_WHEEL_SIZE;
            unsigned shift = larder_wheel_shift(level);
            uint64_t ahead = (deadline >> shift) - (now >> shift);
            if (((deadline >> shift) & (LARDER_WHEEL_SIZE - 1u)) != index % LARDER_WHEEL_SIZE ||
                ahead >= LARDER_WHEEL_SIZE || (level > 0 && ahead == 0))
                return LARDER_CHECK_WHEEL_PLACE;
        }
        (*members)++;
        at = next;
    }
}

int larder_wheel_check(const larder_core *core)
{
    uint64_t members = 0, filed = 0;
    for (uint32_t k = 0; k < LARDER_WHEEL_SENTINELS; k++) {
        int code = larder_wheel_check_list(core, k, &members);
        if (code) return code;
    }
    for (uint32_t i = 0; i < core->capacity; i++)
        if (core->metas[i].word & LARDER_FLAG_FILED) filed++;
    /* Links agreeing both ways keep the lists disjoint and repeat-free, so
     * equal counts mean every filed entry is in exactly one list. */
    if (filed != members) return LARDER_CHECK_WHEEL_COUNT;
    return 0;
}

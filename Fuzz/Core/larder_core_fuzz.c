/*
 * larder_core_fuzz.c — libFuzzer target for the C core (CSupport/CLarderCore).
 *
 * The input is a configuration header and then a sequence of operations,
 * each an opcode byte and its argument bytes (a short input simply ends the
 * sequence). The operations are those the cache performs: inserts (with the
 * cache's eviction loops, replace_lru and restore-at-LRU), lookups and
 * touches, removals, clears, weight changes, deadlines and expiry with a
 * clock that advances by anything from nanoseconds to years, pressure
 * evictions under a moving byte budget, and order walks. Keys are 0..255;
 * their hashes collide on purpose in most configurations (whole hashes,
 * index tags only, or home buckets only), since those are the paths a good
 * hash rarely takes.
 *
 * A model beside the core (larder_core_fuzz_model.c) records which key holds
 * which slot, with its weight and deadline (and, under LRU, the exact recency
 * order). After every
 * operation larder_core_check must pass and the core must agree with the
 * model: count, total weight, every lookup's candidates, expiry exactness,
 * and under LRU the order and the victim. Any disagreement aborts, which
 * libFuzzer reports as a crash with the input that caused it.
 */
#include "larder_core_fuzz_model.h"

#include <string.h>

/* ---- Operations ------------------------------------------------------------ */

static uint64_t weight_from(reader *in)
{
    uint8_t b = u8(in);
    switch (b >> 6) {
    case 0: return 0;
    case 1: return b & 0x3Fu;                             /* small */
    case 2: return (uint64_t)(b & 0x3Fu) << 20;           /* large */
    default: return LARDER_MAX_WEIGHT >> (b & 0x3Fu);     /* up to the limit */
    }
}

/* A time span from nanoseconds to years, across every level of the wheel. */
static uint64_t span_from(reader *in)
{
    uint8_t a = u8(in), b = u8(in);
    return ((uint64_t)a + 1u) << (b % 56u);
}

static uint64_t add_saturating(uint64_t a, uint64_t b, uint64_t max)
{
    return a > max - b ? max : a + b;
}

/* A deadline relative to the clock: ahead, behind (due at once), or none. */
static uint64_t deadline_from(harness *h, reader *in)
{
    uint8_t kind = u8(in);
    if (kind < 16) return LARDER_NO_DEADLINE;
    uint64_t span = span_from(in);
    if (kind < 64) return h->now > span ? h->now - span : 0;
    return add_saturating(h->now, span, LARDER_NO_DEADLINE - 1u);
}

static void set_deadline(harness *h, uint32_t k, uint64_t deadline)
{
    model_key *m = &h->keys[k];
    larder_status status = larder_core_set_deadline(h->core, m->slot, deadline);
    if (!h->expiry) {
        REQUIRE(h, status == LARDER_ERR_UNSUPPORTED, "deadline on a core without expiry: %d", status);
        return;
    }
    REQUIRE(h, status == LARDER_OK, "set_deadline: %d", status);
    m->deadline = deadline;
    m->filed = deadline != LARDER_NO_DEADLINE;
}

/* Evicts through larder_core_victim until the total fits the budget (the
 * cache's update and pressure path); stops after evicting `stop_key`. */
static void evict_to_budget(harness *h, int stop_key)
{
    while (h->total > h->budget && h->count > 0) {
        uint32_t victim = larder_core_victim(h->core);
        REQUIRE(h, victim != LARDER_NIL, "no victim with %u entries", h->count);
        REQUIRE(h, larder_core_victim(h->core) == victim, "asking again named another victim");
        uint32_t k = key_in(h, victim);
        evict(h, victim);
        if ((int)k == stop_key) break;
    }
}

static int over_budget(harness *h, uint64_t weight)
{
    return weight > h->budget || h->total > h->budget - weight;
}

/* A set of a key that is absent: the cache's store path (CacheShard+Store). */
static void insert_new(harness *h, uint32_t k, uint64_t weight, uint8_t how)
{
    uint64_t hash = h->hashes[k];
    uint32_t slot = LARDER_NIL;
    larder_status status;
    if (how % 4 == 0) {  /* restoring from disk: only into room, at the least valuable end */
        if (h->count == h->capacity || over_budget(h, weight)) return;
        status = larder_core_insert_lru(h->core, hash, weight, &slot);
        REQUIRE(h, status == LARDER_OK, "insert_lru: %d", status);
        model_insert(h, k, slot, weight, 1);
        return;
    }
    if (h->count == h->capacity && how % 4 != 1) {
        uint32_t lru_key = h->order_len ? h->order[h->order_len - 1] : 0;
        status = larder_core_replace_lru(h->core, hash, weight, h->budget, &slot);
        if (status == LARDER_OK) {
            uint32_t victim = key_in(h, slot);
            if (h->policy == LARDER_CORE_LRU) REQUIRE(h, victim == lru_key, "replace_lru evicted key %u", victim);
            model_remove(h, victim);
            model_insert(h, k, slot, weight, 0);
            return;
        }
        if (status == LARDER_REJECTED) {
            REQUIRE(h, h->policy == LARDER_CORE_WTINYLFU, "replace_lru rejected under policy %u", h->policy);
            return;
        }
        REQUIRE(h, status == LARDER_ERR_FULL, "replace_lru: %d", status);
    }
    while (h->count == h->capacity || over_budget(h, weight)) {
        uint32_t victim = LARDER_NIL;
        status = larder_core_victim_for(h->core, hash, weight, &victim);
        if (status == LARDER_REJECTED) {
            REQUIRE(h, h->count == 0 || h->policy == LARDER_CORE_WTINYLFU, "rejected with %u entries", h->count);
            return;
        }
        REQUIRE(h, status == LARDER_OK, "victim_for: %d", status);
        uint32_t again = LARDER_NIL;
        REQUIRE(h, larder_core_victim_for(h->core, hash, weight, &again) == LARDER_OK && again == victim,
                "asking again named %u, not %u", again, victim);
        evict(h, victim);
    }
    status = larder_core_insert(h->core, hash, weight, &slot);
    REQUIRE(h, status == LARDER_OK, "insert after making room: %d", status);
    model_insert(h, k, slot, weight, 0);
    /* The hint the cache prefetches after an eviction names a live entry or none. */
    uint32_t hint = larder_core_prefetch_lru(h->core);
    if (hint != LARDER_NIL) (void)key_in(h, hint);
}

static void op_set(harness *h, reader *in)
{
    uint32_t k = u8(in);
    uint64_t weight = weight_from(in);
    uint8_t how = u8(in);
    uint64_t deadline = deadline_from(h, in);
    model_key *m = &h->keys[k];
    if (m->slot != LARDER_NIL) {  /* an update: a hit, a new weight and deadline, then room */
        larder_core_touch_inline(h->core, m->slot);
        model_touch(h, k);
        larder_status status = larder_core_set_weight(h->core, m->slot, weight);
        REQUIRE(h, status == LARDER_OK, "set_weight: %d", status);
        h->total = h->total - m->weight + weight;
        m->weight = weight;
        if (h->expiry) set_deadline(h, k, deadline);
        evict_to_budget(h, (int)k);
        return;
    }
    insert_new(h, k, weight, how);
    if (m->slot != LARDER_NIL) {
        check_entry(h, k);
        if (h->expiry && deadline != LARDER_NO_DEADLINE) set_deadline(h, k, deadline);
    }
}

static void op_get(harness *h, reader *in)
{
    uint32_t k = u8(in);
    uint8_t how = u8(in);
    check_lookup(h, k);
    model_key *m = &h->keys[k];
    if (m->slot == LARDER_NIL) return;
    check_entry(h, k);
    if (how & 1) larder_core_touch(h->core, m->slot);
    else larder_core_touch_inline(h->core, m->slot);
    model_touch(h, k);
}

/* Hits recorded elsewhere and applied together (the optimistic read path). */
static void op_touch_batch(harness *h, reader *in)
{
    uint32_t slots[16];
    uint32_t n = u8(in) % 17u, live = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = u8(in);
        if (h->keys[k].slot == LARDER_NIL) continue;
        slots[live++] = h->keys[k].slot;
        model_touch(h, k);
    }
    larder_core_touch_batch(h->core, slots, live);
}

static void op_remove(harness *h, reader *in)
{
    uint32_t k = u8(in);
    if (h->keys[k].slot == LARDER_NIL) return;
    larder_core_remove(h->core, h->keys[k].slot);
    model_remove(h, k);
}

static void op_clear(harness *h)
{
    larder_core_clear(h->core);
    for (uint32_t k = 0; k < KEYS; k++)
        if (h->keys[k].slot != LARDER_NIL) model_remove(h, k);
}

static void op_weigh(harness *h, reader *in)
{
    uint32_t k = u8(in);
    uint64_t weight = weight_from(in);
    if (u8(in) == 0xFF) weight = LARDER_MAX_WEIGHT + 1u + u8(in);
    model_key *m = &h->keys[k];
    if (m->slot == LARDER_NIL) return;
    larder_status status = larder_core_set_weight(h->core, m->slot, weight);
    if (weight > LARDER_MAX_WEIGHT) {
        REQUIRE(h, status == LARDER_ERR_WEIGHT, "weight over the limit: %d", status);
        return;
    }
    REQUIRE(h, status == LARDER_OK, "set_weight: %d", status);
    h->total = h->total - m->weight + weight;
    m->weight = weight;
    evict_to_budget(h, (int)k);
}

/* An insert the core must refuse leaves it unchanged. */
static void op_refused(harness *h, reader *in)
{
    uint32_t slot = LARDER_NIL;
    uint64_t weight = LARDER_MAX_WEIGHT + 1u + u8(in);
    REQUIRE(h, larder_core_insert(h->core, 1, weight, &slot) == (h->count == h->capacity ? LARDER_ERR_FULL : LARDER_ERR_WEIGHT),
            "insert of weight over the limit");
    REQUIRE(h, larder_core_replace_lru(h->core, 1, weight, UINT64_MAX, &slot) == LARDER_ERR_WEIGHT,
            "replace_lru of weight over the limit");
    if (h->count == h->capacity) {
        REQUIRE(h, larder_core_insert(h->core, 1, 1, &slot) == LARDER_ERR_FULL, "insert into a full core");
        REQUIRE(h, larder_core_insert_lru(h->core, 1, 1, &slot) == LARDER_ERR_FULL, "insert_lru into a full core");
    }
    if (h->count == 0) {
        uint32_t victim = 0;
        REQUIRE(h, larder_core_victim(h->core) == LARDER_NIL, "a victim in an empty core");
        REQUIRE(h, larder_core_victim_for(h->core, 1, 1, &victim) == LARDER_REJECTED, "victim_for in an empty core");
        REQUIRE(h, larder_core_replace_lru(h->core, 1, 1, UINT64_MAX, &slot) == LARDER_ERR_FULL, "replace_lru in an empty core");
    }
}

static void op_deadline(harness *h, reader *in)
{
    uint32_t k = u8(in);
    uint64_t deadline = deadline_from(h, in);
    if (h->keys[k].slot == LARDER_NIL) return;
    set_deadline(h, k, deadline);
}

/* The clock moves (or is given an earlier time, which counts as the latest);
 * expired entries are handed out in batches and removed or given a new,
 * later deadline. Afterwards nothing due is left filed. */
static void op_advance(harness *h, reader *in)
{
    uint8_t how = u8(in);
    uint64_t span = span_from(in);
    uint64_t given = how & 0x80 ? (h->now > span ? h->now - span : 0) : add_saturating(h->now, span, LARDER_NO_DEADLINE - 1u);
    if (given > h->now) h->now = given;
    uint32_t out[4];
    uint32_t max = 1u + (how & 3u);
    uint32_t handed = 0, live = h->count;
    for (;;) {
        uint32_t n = larder_core_expire(h->core, given, out, max);
        if (!h->expiry) {
            REQUIRE(h, n == 0, "expiry on a core without it");
            return;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = key_in(h, out[i]);
            model_key *m = &h->keys[k];
            REQUIRE(h, m->filed, "key %u handed out twice or without a deadline", k);
            REQUIRE(h, m->deadline <= h->now, "key %u handed out at %llu before its deadline %llu", k,
                    (unsigned long long)h->now, (unsigned long long)m->deadline);
            REQUIRE(h, ++handed <= live, "more handed out than were live");
            m->filed = 0;
            REQUIRE(h, larder_core_deadline(h->core, m->slot) == m->deadline, "a handed-out entry keeps its deadline");
            if ((how >> 2) & (1u << (i & 3u))) {
                uint64_t later = add_saturating(h->now, span_from(in), LARDER_NO_DEADLINE - 1u);
                if (later > h->now) set_deadline(h, k, later);
            } else {
                larder_core_remove(h->core, m->slot);
                model_remove(h, k);
            }
        }
        if (n < max) break;
    }
    for (uint32_t k = 0; k < KEYS; k++) {
        model_key *m = &h->keys[k];
        if (m->slot != LARDER_NIL)
            REQUIRE(h, !m->filed || m->deadline > h->now, "key %u due at %llu is still filed at %llu", k,
                    (unsigned long long)m->deadline, (unsigned long long)h->now);
    }
}

/* Pressure: a memory governor evicts the policy's victims. */
static void op_pressure(harness *h, reader *in)
{
    uint32_t n = u8(in) % 8u;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t victim = larder_core_victim(h->core);
        if (h->count == 0) {
            REQUIRE(h, victim == LARDER_NIL, "a victim in an empty core");
            return;
        }
        REQUIRE(h, victim != LARDER_NIL, "no victim with %u entries", h->count);
        REQUIRE(h, larder_core_victim(h->core) == victim, "asking again named another victim");
        evict(h, victim);
    }
}

/* A new byte budget, lowered or raised; the caller evicts down to it. */
static void op_budget(harness *h, reader *in)
{
    uint8_t how = u8(in);
    uint64_t budget;
    switch (how & 3u) {
    case 0: budget = UINT64_MAX; break;
    case 1: budget = h->total - h->total / (2u + (how >> 2)); break;
    case 2: budget = (uint64_t)u16(in); break;
    default: budget = u64(in); break;
    }
    h->budget = budget;
    larder_core_set_maximum(h->core, budget);
    evict_to_budget(h, NO_KEY);
}

/* A victim named for a newcomer and not removed (the cache's buffer of
 * victims was full): the round stays open for the operations that follow. */
static void op_name_victim(harness *h, reader *in)
{
    uint32_t k = u8(in);
    uint64_t weight = weight_from(in);
    uint32_t victim = LARDER_NIL, again = LARDER_NIL;
    larder_status status = larder_core_victim_for(h->core, h->hashes[k], weight, &victim);
    if (status == LARDER_REJECTED) {
        REQUIRE(h, h->count == 0 || h->policy == LARDER_CORE_WTINYLFU, "rejected with %u entries", h->count);
        return;
    }
    REQUIRE(h, status == LARDER_OK, "victim_for: %d", status);
    (void)key_in(h, victim);
    if (h->policy == LARDER_CORE_LRU) REQUIRE(h, h->order[h->order_len - 1] == key_in(h, victim), "LRU victim");
    REQUIRE(h, larder_core_victim_for(h->core, h->hashes[k], weight, &again) == LARDER_OK && again == victim,
            "asking again named %u, not %u", again, victim);
}

/* ---- Set-up ---------------------------------------------------------------- */

static const uint32_t policies[4] = { LARDER_CORE_LRU, LARDER_CORE_WTINYLFU, LARDER_CORE_S3FIFO,
                                      LARDER_CORE_WTINYLFU | LARDER_CORE_FIXED_WINDOW };

/* Flags the core must refuse, and a zero capacity. */
static void check_refused_configurations(void)
{
    larder_core *core = NULL;
    if (larder_core_create(0, 0, &core) != LARDER_ERR_CAPACITY || core != NULL) abort();
    if (larder_core_create(LARDER_MAX_CAPACITY + 1u, 0, &core) != LARDER_ERR_CAPACITY) abort();
    if (larder_core_create(4, LARDER_CORE_LRU | LARDER_CORE_FIXED_WINDOW, &core) != LARDER_ERR_UNSUPPORTED) abort();
    if (larder_core_create(4, 3u << 8, &core) != LARDER_ERR_UNSUPPORTED) abort();
    if (larder_core_footprint(0, 0) != 0) abort();
}

static int setup(harness *h, reader *in)
{
    uint8_t config = u8(in), size = u8(in), collisions = u8(in);
    uint64_t seed = u64(in);
    h->policy = policies[config & 3u];
    h->expiry = (config >> 2) & 1u;
    h->capacity = size < 200 ? 1u + size % 40u : 1u + (size - 200u) * 5u;
    uint32_t flags = h->policy | (h->expiry ? LARDER_CORE_EXPIRY : 0u);
    h->policy &= LARDER_CORE_POLICY_MASK;
    if ((config >> 3) & 1u) {  /* in a block of the caller's, as the cache places its cores */
        size_t bytes = larder_core_footprint(h->capacity, flags);
        if (bytes == 0) abort();
        h->block = aligned_alloc(16, (bytes + 15u) & ~(size_t)15u);
        if (h->block == NULL) return 0;
        if (larder_core_init(h->block, bytes - 1u, h->capacity, flags, &h->core) != LARDER_ERR_NOMEM) abort();
        if (larder_core_init(h->block, bytes, h->capacity, flags, &h->core) != LARDER_OK) abort();
    } else if (larder_core_create(h->capacity, flags, &h->core) != LARDER_OK) {
        return 0;
    }
    if (larder_core_capacity(h->core) != h->capacity || larder_core_policy(h->core) != h->policy ||
        larder_core_has_expiry(h->core) != h->expiry)
        abort();
    for (uint32_t k = 0; k < KEYS; k++) {
        h->hashes[k] = hash_of(k, collisions % 5u, seed);
        h->keys[k].slot = LARDER_NIL;
    }
    h->slot_key = malloc(h->capacity * sizeof(int));
    if (h->slot_key == NULL) abort();
    for (uint32_t s = 0; s < h->capacity; s++) h->slot_key[s] = NO_KEY;
    h->budget = UINT64_MAX;
    h->now = (config >> 4) ? u64(in) >> (config >> 4) : 0;  /* the clock's start: zero or anywhere */
    if (h->expiry) (void)larder_core_expire(h->core, h->now, NULL, 0);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int refused_checked;
    if (!refused_checked) {
        check_refused_configurations();
        refused_checked = 1;
    }
    reader in = { data, size };
    harness h;
    memset(&h, 0, sizeof h);
    if (!setup(&h, &in)) return 0;
    check_core(&h);
    while (in.left > 0) {
        h.step++;
        uint8_t op = u8(&in);
        switch (op % 16u) {
        case 0: case 1: case 2: op_set(&h, &in); break;
        case 3: case 4: case 5: op_get(&h, &in); break;
        case 6: op_touch_batch(&h, &in); break;
        case 7: op_remove(&h, &in); break;
        case 8: if (op == 8) op_clear(&h); else op_refused(&h, &in); break;
        case 9: op_weigh(&h, &in); break;
        case 10: op_deadline(&h, &in); break;
        case 11: op_advance(&h, &in); break;
        case 12: op_pressure(&h, &in); break;
        case 13: op_budget(&h, &in); break;
        case 14: op_name_victim(&h, &in); break;
        default: check_walks(&h); break;
        }
        check_core(&h);
    }
    check_walks(&h);
    for (uint32_t k = 0; k < KEYS; k++) check_entry(&h, k);
    larder_core_destroy(h.core);
    free(h.block);
    free(h.slot_key);
    return 0;
}

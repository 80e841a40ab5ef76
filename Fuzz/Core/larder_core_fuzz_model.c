/*
 * larder_core_fuzz_model.c — the core fuzzer's input reader, model updates and
 * checks (declared and described in larder_core_fuzz_model.h).
 */
#include "larder_core_fuzz_model.h"

#include <string.h>

/* ---- Input ---------------------------------------------------------------- */

uint8_t u8(reader *in)
{
    if (in->left == 0) return 0;
    in->left--;
    return *in->at++;
}

uint16_t u16(reader *in) { return (uint16_t)(u8(in) | (uint16_t)u8(in) << 8); }

uint64_t u64(reader *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The hash of key k under collision mode `mode` (0-3; 4 mixes them by key). */
uint64_t hash_of(uint32_t k, uint32_t mode, uint64_t seed)
{
    if (mode == 4) mode = k & 3u;
    switch (mode) {
    case 1: /* whole hashes shared by four keys each: only key equality tells them apart */
        return mix(seed + k / 4u);
    case 2: /* the same index tag (upper 32 bits) for a third of the keys, distinct low bits */
        return (mix(seed + k % 3u) & 0xFFFFFFFF00000000ull) | (uint32_t)mix(seed + k);
    case 3: /* distinct tags whose low 12 bits are zero: one home bucket, long probe runs */
        return (mix(seed + k) >> 44 << 44) | (uint32_t)mix(seed ^ k);
    default:
        return mix(seed + k);
    }
}

/* ---- Model updates -------------------------------------------------------- */

static void order_remove(harness *h, uint32_t k)
{
    for (uint32_t i = 0; i < h->order_len; i++) {
        if (h->order[i] == k) {
            memmove(&h->order[i], &h->order[i + 1], h->order_len - i - 1);
            h->order_len--;
            return;
        }
    }
}

static void order_front(harness *h, uint32_t k)
{
    order_remove(h, k);
    memmove(&h->order[1], &h->order[0], h->order_len);
    h->order[0] = (uint8_t)k;
    h->order_len++;
}

void model_insert(harness *h, uint32_t k, uint32_t slot, uint64_t weight, int at_back)
{
    REQUIRE(h, slot < h->capacity && h->slot_key[slot] == NO_KEY, "insert of key %u into slot %u", k, slot);
    h->keys[k] = (model_key){ .slot = slot, .weight = weight, .deadline = LARDER_NO_DEADLINE, .filed = 0 };
    h->slot_key[slot] = (int)k;
    h->count++;
    h->total += weight;
    if (h->policy == LARDER_CORE_LRU) {
        if (at_back) h->order[h->order_len++] = (uint8_t)k;
        else order_front(h, k);
    }
}

void model_remove(harness *h, uint32_t k)
{
    model_key *m = &h->keys[k];
    h->slot_key[m->slot] = NO_KEY;
    h->count--;
    h->total -= m->weight;
    m->slot = LARDER_NIL;
    if (h->policy == LARDER_CORE_LRU) order_remove(h, k);
}

/* The key a live slot holds; aborts on a slot the model has free. */
uint32_t key_in(harness *h, uint32_t slot)
{
    REQUIRE(h, slot < h->capacity && h->slot_key[slot] != NO_KEY, "slot %u is not live", slot);
    return (uint32_t)h->slot_key[slot];
}

void model_touch(harness *h, uint32_t k)
{
    if (h->policy == LARDER_CORE_LRU) order_front(h, k);
}

/* Removes the core's victim `slot` (an eviction), in the core and the model. */
void evict(harness *h, uint32_t slot)
{
    uint32_t k = key_in(h, slot);
    if (h->policy == LARDER_CORE_LRU)
        REQUIRE(h, h->order[h->order_len - 1] == k, "LRU evicted key %u, not the least recent %u", k,
                h->order[h->order_len - 1]);
    larder_core_remove(h->core, slot);
    model_remove(h, k);
}

/* ---- Checks --------------------------------------------------------------- */

/* Every lookup yields exactly the live slots whose hash (find_*) or tag
 * (lookup_*) equals the key's, the key's own among them when it is live. */
void check_lookup(harness *h, uint32_t k)
{
    uint64_t hash = h->hashes[k];
    uint32_t tag = (uint32_t)(hash >> 32);
    uint32_t want_hash = 0, want_tag = 0, got_hash = 0, got_tag = 0;
    for (uint32_t j = 0; j < KEYS; j++) {
        if (h->keys[j].slot == LARDER_NIL) continue;
        if (h->hashes[j] == hash) want_hash++;
        if ((uint32_t)(h->hashes[j] >> 32) == tag) want_tag++;
    }
    int found = 0;
    larder_cursor cursor;
    for (uint32_t s = larder_core_find_first(h->core, hash, &cursor); s != LARDER_NIL;
         s = larder_core_find_next(h->core, &cursor)) {
        uint32_t j = key_in(h, s);
        REQUIRE(h, h->hashes[j] == hash, "find for key %u yielded key %u of another hash", k, j);
        REQUIRE(h, ++got_hash <= want_hash, "find for key %u yields more than %u slots", k, want_hash);
        if (j == k) found = 1;
    }
    REQUIRE(h, got_hash == want_hash, "find for key %u yielded %u of %u slots", k, got_hash, want_hash);
    REQUIRE(h, found == (h->keys[k].slot != LARDER_NIL), "find for key %u: found %d", k, found);
    for (uint32_t s = larder_core_lookup_first(h->core, hash, &cursor); s != LARDER_NIL;
         s = larder_core_lookup_next(h->core, &cursor)) {
        uint32_t j = key_in(h, s);
        REQUIRE(h, (uint32_t)(h->hashes[j] >> 32) == tag, "lookup for key %u yielded key %u of another tag", k, j);
        REQUIRE(h, ++got_tag <= want_tag, "lookup for key %u yields more than %u slots", k, want_tag);
        REQUIRE(h, larder_core_slot_matches(h->core, s, tag), "slot %u does not match its tag", s);
    }
    REQUIRE(h, got_tag == want_tag, "lookup for key %u yielded %u of %u slots", k, got_tag, want_tag);
    /* The optimistic readers' lookup, run with no writer, finds the same. */
    got_tag = 0;
    for (uint32_t s = larder_core_lookup_concurrent_first(h->core, hash, &cursor); s != LARDER_NIL;
         s = larder_core_lookup_concurrent_next(h->core, hash, &cursor)) {
        uint32_t j = key_in(h, s);
        REQUIRE(h, (uint32_t)(h->hashes[j] >> 32) == tag, "concurrent lookup for key %u yielded key %u", k, j);
        REQUIRE(h, ++got_tag <= want_tag, "concurrent lookup for key %u yields more than %u slots", k, want_tag);
        REQUIRE(h, larder_core_deadline_concurrent(h->core, s) == h->keys[j].deadline, "concurrent deadline of key %u", j);
    }
    REQUIRE(h, got_tag == want_tag, "concurrent lookup for key %u yielded %u of %u slots", k, got_tag, want_tag);
}

/* What the core says of a live key is what the model recorded. */
void check_entry(harness *h, uint32_t k)
{
    model_key *m = &h->keys[k];
    if (m->slot == LARDER_NIL) return;
    REQUIRE(h, larder_core_hash(h->core, m->slot) == h->hashes[k], "hash of key %u", k);
    REQUIRE(h, larder_core_weight(h->core, m->slot) == m->weight, "weight of key %u", k);
    REQUIRE(h, larder_core_deadline(h->core, m->slot) == m->deadline, "deadline of key %u", k);
}

/* The order walks reach every entry once each way; under LRU in the model's order. */
void check_walks(harness *h)
{
    uint32_t n = 0;
    for (uint32_t s = larder_core_mru(h->core); s != LARDER_NIL; s = larder_core_older(h->core, s)) {
        uint32_t k = key_in(h, s);
        REQUIRE(h, n < h->count, "walk from the most valuable is longer than %u", h->count);
        if (h->policy == LARDER_CORE_LRU) REQUIRE(h, h->order[n] == k, "LRU position %u holds key %u", n, k);
        n++;
    }
    REQUIRE(h, n == h->count, "walk from the most valuable reached %u of %u", n, h->count);
    n = 0;
    for (uint32_t s = larder_core_lru(h->core); s != LARDER_NIL; s = larder_core_newer(h->core, s)) {
        uint32_t k = key_in(h, s);
        REQUIRE(h, n < h->count, "walk from the least valuable is longer than %u", h->count);
        if (h->policy == LARDER_CORE_LRU)
            REQUIRE(h, h->order[h->count - 1 - n] == k, "LRU position %u holds key %u", h->count - 1 - n, k);
        n++;
    }
    REQUIRE(h, n == h->count, "walk from the least valuable reached %u of %u", n, h->count);
}

void check_core(harness *h)
{
    int code = larder_core_check(h->core);
    REQUIRE(h, code == 0, "larder_core_check returned %d", code);
    REQUIRE(h, larder_core_count(h->core) == h->count, "count %u, model %u", larder_core_count(h->core), h->count);
    REQUIRE(h, larder_core_total_weight(h->core) == h->total, "total weight %llu, model %llu",
            (unsigned long long)larder_core_total_weight(h->core), (unsigned long long)h->total);
}

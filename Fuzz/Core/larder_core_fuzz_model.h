/*
 * larder_core_fuzz_model.h — the core fuzzer's input reader, its model of the
 * core (which key holds which slot, with its weight and deadline, and under
 * LRU the exact recency order) and the checks that compare the two after
 * every operation (larder_core_fuzz_model.c). The operations that drive both
 * are in larder_core_fuzz.c.
 */
#ifndef LARDER_CORE_FUZZ_MODEL_H
#define LARDER_CORE_FUZZ_MODEL_H

#include "larder_core.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define KEYS 256u
#define NO_KEY (-1)

/* ---- Input ---------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *at;
    size_t left;
} reader;

/* The next byte, 2 or 8 bytes (little-endian) of the input; zeros past its end. */
uint8_t u8(reader *in);
uint16_t u16(reader *in);
uint64_t u64(reader *in);

/* ---- Model ---------------------------------------------------------------- */

typedef struct model_key {
    uint32_t slot;     /* LARDER_NIL when absent */
    uint64_t weight;
    uint64_t deadline; /* LARDER_NO_DEADLINE when none */
    int filed;         /* has a deadline not yet handed out by larder_core_expire */
} model_key;

typedef struct harness {
    larder_core *core;
    void *block;         /* the caller's block, for a core from larder_core_init */
    uint32_t capacity;
    uint32_t policy;     /* LARDER_CORE_LRU, _WTINYLFU or _S3FIFO */
    int expiry;
    uint64_t hashes[KEYS];
    uint64_t budget;     /* the caller's byte budget (larder_core_set_maximum) */
    uint64_t now;        /* the latest time given to larder_core_expire */
    model_key keys[KEYS];
    int *slot_key;       /* capacity entries: the key in each slot, or NO_KEY */
    uint32_t count;
    uint64_t total;
    uint8_t order[KEYS]; /* LRU only: live keys, most recent first */
    uint32_t order_len;
    size_t step;         /* the operation running, for failure messages */
} harness;

#define REQUIRE(h, cond, ...)                                                       \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "larder_core_fuzz: step %zu: %s failed: ", (h)->step, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* The hash of key k under collision mode `mode` (0-3; 4 mixes them by key). */
uint64_t hash_of(uint32_t k, uint32_t mode, uint64_t seed);

/* ---- Model updates -------------------------------------------------------- */

void model_insert(harness *h, uint32_t k, uint32_t slot, uint64_t weight, int at_back);
void model_remove(harness *h, uint32_t k);
/* The key a live slot holds; aborts on a slot the model has free. */
uint32_t key_in(harness *h, uint32_t slot);
void model_touch(harness *h, uint32_t k);
/* Removes the core's victim `slot` (an eviction), in the core and the model. */
void evict(harness *h, uint32_t slot);

/* ---- Checks (each aborts on a disagreement) -------------------------------- */

/* Every lookup yields exactly the live slots whose hash or tag equals k's. */
void check_lookup(harness *h, uint32_t k);
/* What the core says of a live key is what the model recorded. */
void check_entry(harness *h, uint32_t k);
/* The order walks reach every entry once each way; under LRU in the model's order. */
void check_walks(harness *h);
/* larder_core_check passes, and the count and total weight are the model's. */
void check_core(harness *h);

#endif /* LARDER_CORE_FUZZ_MODEL_H */

/*
 * larder_sketch_inline.h — the frequency sketch's per-request functions
 * (larder_sketch.c describes the sketch and has the rest), inlined into
 * W-TinyLFU's miss path, which calls them four times per miss: as calls,
 * their saved registers cost more than their counters' arithmetic.
 */
#ifndef LARDER_SKETCH_INLINE_H
#define LARDER_SKETCH_INLINE_H

#include "larder_core_internal.h"

/* The block (upper half of a mixed hash, scaled to the block count) and the
 * counter selector (lower half, remixed as Caffeine's rehash) of a hash. */
static inline uint64_t larder_sketch_mix(uint64_t hash)
{
    uint64_t h = (hash ^ (hash >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    return h ^ (h >> 27);
}

static inline uint32_t larder_sketch_block(const larder_sketch *sketch, uint64_t mixed)
{
    return (uint32_t)(((mixed >> 32) * (uint64_t)sketch->blocks) >> 32);
}

static inline uint32_t larder_sketch_selector(uint64_t mixed)
{
    uint32_t x = (uint32_t)mixed * 0x31848BABu;
    return x ^ (x >> 14);
}

/* The estimate held by block `index` for a hash mixed to `mixed`. */
static inline uint32_t larder_sketch_frequency_in(const larder_sketch *sketch, uint32_t index, uint64_t mixed)
{
    const uint64_t *block = sketch->table + (size_t)index * 8u;
    uint32_t selector = larder_sketch_selector(mixed), frequency = 15;
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t h = selector >> (i << 3);
        uint32_t shift = ((h >> 1) & 15u) << 2;
        uint32_t count = (uint32_t)(block[(h & 1u) + (i << 1)] >> shift) & 15u;
        if (count < frequency) frequency = count;
    }
    return frequency;
}

static inline uint32_t larder_sketch_frequency(const larder_sketch *sketch, uint64_t hash)
{
    uint64_t mixed = larder_sketch_mix(hash);
    return larder_sketch_frequency_in(sketch, larder_sketch_block(sketch, mixed), mixed);
}

/* A write to block `index` ends the memo when it is the memo's block, so
 * that the memo is always what larder_sketch_frequency would return. */
static inline void larder_sketch_wrote(larder_sketch *sketch, uint32_t index)
{
    if (index == sketch->memo_block) sketch->memo_block = LARDER_SKETCH_NO_MEMO;
}

/* The sketch's estimate of the entry in `slot`, whose hash is at
 * `hash_of_slot` (read only when the memo does not hold the slot), kept for
 * the next call. Asked of main's victim (probation's least recent), which
 * stays the victim for several rounds in a row while candidates lose to it
 * (five in six on the mixed workload): the memo spares those rounds its
 * sketch block, a random line of the table. Any write to that block, a
 * halving and the slot's removal end it. */
static inline uint32_t larder_sketch_memo_frequency(larder_sketch *sketch, uint32_t slot, const uint64_t *hash_of_slot)
{
    if (sketch->memo_slot == slot && sketch->memo_block != LARDER_SKETCH_NO_MEMO) return sketch->memo_estimate;
    uint64_t mixed = larder_sketch_mix(*hash_of_slot);
    uint32_t index = larder_sketch_block(sketch, mixed);
    uint32_t estimate = larder_sketch_frequency_in(sketch, index, mixed);
    sketch->memo_slot = slot;
    sketch->memo_block = index;
    sketch->memo_estimate = estimate;
    return estimate;
}

/* The entry in `slot` leaves: a memo of it ends. */
static inline void larder_sketch_forget(larder_sketch *sketch, uint32_t slot)
{
    if (slot == sketch->memo_slot) sketch->memo_block = LARDER_SKETCH_NO_MEMO;
}

/* Returns whether a counter moved (the caller counts the increment), and
 * in `*estimate_out` the hash's estimate after it (larder_sketch_frequency),
 * read from the counters the increment has in registers anyway. */
static inline int larder_sketch_increment(larder_sketch *sketch, uint64_t hash, uint32_t *estimate_out)
{
    uint64_t mixed = larder_sketch_mix(hash);
    uint32_t index = larder_sketch_block(sketch, mixed);
    uint64_t *block = sketch->table + (size_t)index * 8u;
    uint32_t selector = larder_sketch_selector(mixed), estimate = 15;
    int added = 0;
    larder_sketch_wrote(sketch, index);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t h = selector >> (i << 3);
        uint32_t shift = ((h >> 1) & 15u) << 2;
        uint64_t *word = &block[(h & 1u) + (i << 1)];
        uint32_t count = (uint32_t)(*word >> shift) & 15u;
        if (count != 15u) {
            *word += UINT64_C(1) << shift;
            added = 1;
            count++;
        }
        if (count < estimate) estimate = count;
    }
    *estimate_out = estimate;
    return added;
}

/* Adds `count` requests to each of the hash's four counters, saturating
 * (a departing resident's requests, see the file comment). Returns how many
 * of them moved a counter: the ones the sketch would have counted had they
 * gone to it one by one (until the smallest counter saturates). */
static inline uint32_t larder_sketch_add(larder_sketch *sketch, uint64_t hash, uint32_t count)
{
    uint32_t smallest = 15;
    uint64_t mixed = larder_sketch_mix(hash);
    uint32_t index = larder_sketch_block(sketch, mixed);
    uint64_t *block = sketch->table + (size_t)index * 8u;
    uint32_t selector = larder_sketch_selector(mixed);
    larder_sketch_wrote(sketch, index);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t h = selector >> (i << 3);
        uint32_t shift = ((h >> 1) & 15u) << 2;
        uint64_t *word = &block[(h & 1u) + (i << 1)];
        uint32_t current = (uint32_t)(*word >> shift) & 15u;
        uint32_t added = count < 15u - current ? count : 15u - current;
        *word += (uint64_t)added << shift;
        if (current < smallest) smallest = current;
    }
    return count < 15u - smallest ? count : 15u - smallest;
}

static inline void larder_sketch_prefetch(const larder_sketch *sketch, uint64_t hash)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(sketch->table + (size_t)larder_sketch_block(sketch, larder_sketch_mix(hash)) * 8u, 1);
#else
    (void)sketch;
    (void)hash;
#endif
}

#endif

/*
 * larder_atomic_words.h — copies of memory word by word with relaxed atomic
 * loads and stores: how a shard writes the keys and values of trivial types
 * that optimistic readers copy concurrently (and validate afterwards with the
 * shard's sequence counter). On x86-64 and arm64 each is an ordinary 8-byte
 * move; the atomics tell the compiler and ThreadSanitizer that the race is
 * intended.
 */
#ifndef LARDER_ATOMIC_WORDS_H
#define LARDER_ATOMIC_WORDS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Copies `words` 8-byte words from `source` to `destination` (both 8-byte
 *  aligned) with relaxed atomic loads. */
static inline void larder_load_words_relaxed(void *destination, const void *source, size_t words)
{
    uint64_t *to = (uint64_t *)destination;
    const uint64_t *from = (const uint64_t *)source;
    for (size_t i = 0; i < words; i++) to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}

/** Copies `words` 8-byte words from `source` to `destination` (both 8-byte
 *  aligned) with relaxed atomic stores. */
static inline void larder_store_words_relaxed(void *destination, const void *source, size_t words)
{
    uint64_t *to = (uint64_t *)destination;
    const uint64_t *from = (const uint64_t *)source;
    for (size_t i = 0; i < words; i++) __atomic_store_n(&to[i], from[i], __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif /* LARDER_ATOMIC_WORDS_H */

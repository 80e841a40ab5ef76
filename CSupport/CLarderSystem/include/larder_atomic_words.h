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

/* One word at an address, for words that live in memory Swift's `Atomic`
 * cannot be placed in (a shard's words in its C core,
 * larder_core_owner_words; the access clock that larder_access_log.h reads). */
static inline uint64_t larder_word_load_relaxed(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_RELAXED); }
static inline uint64_t larder_word_load_acquire(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
static inline void larder_word_store_relaxed(uint64_t *word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_RELAXED); }
static inline void larder_word_store_release(uint64_t *word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }
static inline uint64_t larder_word_fetch_add_relaxed(uint64_t *word, uint64_t value) { return __atomic_fetch_add(word, value, __ATOMIC_RELAXED); }

#ifdef __cplusplus
}
#endif

#endif /* LARDER_ATOMIC_WORDS_H */

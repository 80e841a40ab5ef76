/*
 * larder_integer_hash.h — the hash of integer keys: a keyed multiply-fold
 * instead of Swift's SipHash.
 *
 * Swift's Hasher (SipHash-1-3) costs about 90 instructions per Int, a fifth
 * of a mixed cache operation's work; the index needs a well-spread 64-bit
 * hash, not a cryptographic one. For keys of the fixed-width integer types,
 * whose equality is equality of their bits, Cache hashes the bits with two
 * rounds of a 64x64->128-bit multiply folded by xor (the construction of
 * foldhash and wyhash), the first round keyed by a per-process random seed.
 * Like Hasher's seed, it makes the hashes differ between processes, so that
 * keys that collide cannot be precomputed; it is weaker than SipHash against
 * an attacker who can time many lookups and adapt (see docs: Architecture).
 *
 * The seed is fixed before main runs and never changes: a hash may be kept
 * across caches (the miss hint, larder_miss_hint.h) and threads. With
 * SWIFT_DETERMINISTIC_HASHING set, as for Hasher, the seed is a constant.
 */
#ifndef LARDER_INTEGER_HASH_H
#define LARDER_INTEGER_HASH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The per-process seed (larder_integer_hash.c); read-only after start-up. */
extern uint64_t larder_integer_hash_seed;

/** The seed, for tests (Swift 6 refuses to read a mutable C global). */
static inline uint64_t larder_integer_hash_seed_value(void) { return larder_integer_hash_seed; }

/** The 64-bit hash of an integer key's bits (zero- or sign-extended to 64 as
 *  the caller chooses, the same way for every key of one type). */
static inline uint64_t larder_hash_integer(uint64_t bits)
{
    __uint128_t product = (__uint128_t)(bits ^ larder_integer_hash_seed) * UINT64_C(0x9E3779B97F4A7C15);
    uint64_t folded = (uint64_t)product ^ (uint64_t)(product >> 64);
    product = (__uint128_t)(folded ^ UINT64_C(0x243F6A8885A308D3)) * UINT64_C(0xBF58476D1CE4E5B9);
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}

#ifdef __cplusplus
}
#endif

#endif /* LARDER_INTEGER_HASH_H */

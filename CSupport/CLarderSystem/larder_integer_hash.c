/*
 * larder_integer_hash.c — the per-process seed of larder_hash_integer
 * (larder_integer_hash.h).
 */
#define _GNU_SOURCE  /* getrandom */
#include "larder_integer_hash.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* The constant a deterministic run keeps (SWIFT_DETERMINISTIC_HASHING). */
uint64_t larder_integer_hash_seed = UINT64_C(0x13198A2E03707344);

/* Before main, so that no thread can hash before the seed is final: a
 * constructor rather than a lazy initializer, whose check every hash would pay. */
__attribute__((constructor)) static void larder_integer_hash_seed_init(void)
{
    const char *deterministic = getenv("SWIFT_DETERMINISTIC_HASHING");
    if (deterministic != NULL && deterministic[0] != '\0' && strcmp(deterministic, "0") != 0) return;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        /* No entropy yet (early boot): the clock and an address still differ per process. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        seed = (uint64_t)now.tv_nsec * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)now.tv_sec
             ^ (uint64_t)(uintptr_t)&now;
    }
    larder_integer_hash_seed = seed;
}

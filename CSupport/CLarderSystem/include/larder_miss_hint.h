/*
 * larder_miss_hint.h — the hash of the key the calling thread last missed.
 *
 * The commonest use of a cache is "get; on a miss compute and set", on one
 * thread, with the same key twice. The set would hash the key again (Swift's
 * SipHash: about 90 instructions, a quarter of a mixed operation's work). A
 * miss leaves the key's bytes and hash here; a set whose key has the same type
 * and the same bytes takes the hash instead of computing it. Only for keys
 * whose bytes are their whole value (trivial types up to 16 bytes), whose
 * hash is therefore a function of their bytes within a process.
 *
 * Thread-local: nothing to lock, and a thread only reads its own misses.
 */
#ifndef LARDER_MISS_HINT_H
#define LARDER_MISS_HINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct larder_miss_hint {
    const void *type;  /* the key type's identity; NULL: no hint */
    uint64_t hash;
    uint64_t key[2];   /* the key's bytes, zero-padded to 16 */
} larder_miss_hint;

extern _Thread_local larder_miss_hint larder_miss_hint_;

/** The calling thread's hint (never NULL). */
static inline larder_miss_hint *larder_thread_miss_hint(void) { return &larder_miss_hint_; }

#ifdef __cplusplus
}
#endif

#endif /* LARDER_MISS_HINT_H */

/*
 * larder_block.h — large, aligned, huge-page-advised blocks for slot-indexed
 * storage (a shard's core and the keys and values beside it).
 *
 * In CLarderSystem because it advises the kernel (madvise), which the
 * single-threaded core never calls.
 */
#ifndef LARDER_BLOCK_H
#define LARDER_BLOCK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The transparent huge page size larder_block_alloc aligns to (x86-64, arm64 with 4 KiB pages). */
#define LARDER_HUGE_PAGE_BYTES ((size_t)2 << 20)

/**
 * Allocates a block through malloc, so that the allocator's statistics count
 * it. A block of LARDER_HUGE_PAGE_BYTES or more is aligned to that size and
 * advised MADV_HUGEPAGE: a hit reads two or three random slots of several
 * megabytes of arrays, and with 4 KiB pages each such read is also a TLB
 * miss. `alignment` (a power of two, at least 1) applies to smaller blocks.
 * Free with larder_block_free. NULL when out of memory or for an alignment
 * that is not a power of two.
 */
void *larder_block_alloc(size_t bytes, size_t alignment);

/** Frees a block from larder_block_alloc. NULL is ignored. */
void larder_block_free(void *block);

#ifdef __cplusplus
}
#endif

#endif /* LARDER_BLOCK_H */

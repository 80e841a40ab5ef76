/*
 * larder_block.c — larder_block_alloc (see larder_block.h).
 */
#define _GNU_SOURCE  /* posix_memalign, madvise and MADV_HUGEPAGE under -std=c11 */
#include "larder_block.h"

#include <stdlib.h>
#include <sys/mman.h>

void *larder_block_alloc(size_t bytes, size_t alignment)
{
    if (bytes == 0) bytes = 1;  /* a distinct block even for zero-sized records */
    if (bytes >= LARDER_HUGE_PAGE_BYTES && alignment < LARDER_HUGE_PAGE_BYTES) alignment = LARDER_HUGE_PAGE_BYTES;
    if (alignment <= 16) return malloc(bytes);
    void *block = NULL;
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return NULL;
    if (posix_memalign(&block, alignment, bytes) != 0) return NULL;
    if (bytes >= LARDER_HUGE_PAGE_BYTES) {
        /* Whole huge pages inside the block only (never a neighbour's memory).
         * A kernel without transparent huge pages refuses: 4 KiB pages it is. */
        (void)madvise(block, bytes & ~(size_t)(LARDER_HUGE_PAGE_BYTES - 1), MADV_HUGEPAGE);
    }
    return block;
}

void larder_block_free(void *block) { free(block); }

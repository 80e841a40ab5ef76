/*
 * larder_thread_state.c — the thread-locals of CLarderSystem: the thread
 * token (larder_thread_token.h), the last missed key (larder_miss_hint.h) and
 * the nested weighings' total (larder_thread_weighing.h). Defined in C
 * because Swift has no thread-local storage of its own.
 */
#include "larder_miss_hint.h"
#include "larder_thread_token.h"
#include "larder_thread_weighing.h"

#include <stdint.h>

_Thread_local uint32_t larder_thread_token_ = 0;
_Thread_local larder_miss_hint larder_miss_hint_ = { 0, 0, { 0, 0 } };
_Thread_local uint64_t larder_nested_weighed_ = 0;

static uint32_t larder_next_thread_token = 0;

uint32_t larder_thread_token_take(uint32_t *counter)
{
    /* Tokens are never reused: two live threads with one token would both
     * enter a mutex biased to it. Once 2^32 - 2 threads have taken one, the
     * rest share LARDER_THREAD_TOKEN_SHARED, which is never given a bias. */
    uint32_t taken = __atomic_load_n(counter, __ATOMIC_RELAXED);
    do {
        if (taken >= LARDER_THREAD_TOKEN_SHARED - 1u) return LARDER_THREAD_TOKEN_SHARED;
    } while (!__atomic_compare_exchange_n(counter, &taken, taken + 1u, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return taken + 1u;
}

uint32_t larder_thread_token_assign(void)
{
    uint32_t token = larder_thread_token_take(&larder_next_thread_token);
    larder_thread_token_ = token;
    return token;
}

/*
 * larder_thread_stripe.c — handing out and taking back the thread stripe
 * indexes of larder_thread_stripe.h. A pthread key's destructor gives an
 * index back when its thread exits (C11 thread-locals have no destructors).
 */
#include "larder_thread_stripe.h"

#include <pthread.h>
#include <stdint.h>

_Thread_local uint32_t larder_thread_stripe_ = 0;

/* Bit i set: index i is held by a live thread. */
static uint64_t larder_stripes_held = 0;
static pthread_key_t larder_stripe_key;
static int larder_stripe_key_made = 0;
static pthread_once_t larder_stripe_once = PTHREAD_ONCE_INIT;

uint32_t larder_thread_stripe_take(uint64_t *held)
{
    uint64_t now = __atomic_load_n(held, __ATOMIC_RELAXED);
    while (now != UINT64_MAX) {
        uint32_t free = (uint32_t)__builtin_ctzll(~now);
        /* Acquire: the previous holder's plain stores to its stripes happen
         * before this thread's (it gave the index back with a release). */
        if (__atomic_compare_exchange_n(held, &now, now | (UINT64_C(1) << free), 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return free;
    }
    return LARDER_THREAD_STRIPE_NONE;
}

void larder_thread_stripe_give(uint64_t *held, uint32_t index)
{
    __atomic_fetch_and(held, ~(UINT64_C(1) << index), __ATOMIC_RELEASE);
}

static void larder_thread_stripe_release(void *value)
{
    larder_thread_stripe_give(&larder_stripes_held, (uint32_t)(uintptr_t)value - 1u);
    /* A later destructor of this thread that reads a cache shares a stripe. */
    larder_thread_stripe_ = LARDER_THREAD_STRIPE_NONE + 1u;
}

static void larder_stripe_make_key(void)
{
    larder_stripe_key_made = pthread_key_create(&larder_stripe_key, larder_thread_stripe_release) == 0;
}

uint32_t larder_thread_stripe_assign(void)
{
    pthread_once(&larder_stripe_once, larder_stripe_make_key);
    uint32_t index = LARDER_THREAD_STRIPE_NONE;
    /* Without the key an index could never be given back: share instead. */
    if (larder_stripe_key_made) {
        index = larder_thread_stripe_take(&larder_stripes_held);
        if (index != LARDER_THREAD_STRIPE_NONE &&
            pthread_setspecific(larder_stripe_key, (void *)(uintptr_t)(index + 1u)) != 0) {
            larder_thread_stripe_give(&larder_stripes_held, index);
            index = LARDER_THREAD_STRIPE_NONE;
        }
    }
    larder_thread_stripe_ = index + 1u;
    return index;
}

uint64_t larder_thread_stripes_held(void)
{
    return __atomic_load_n(&larder_stripes_held, __ATOMIC_RELAXED);
}

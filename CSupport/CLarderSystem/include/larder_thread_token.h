/*
 * larder_thread_token.h — a small number naming the calling thread, for
 * larder_mutex's bias (a biased owner is recognized by its token).
 *
 * Thread-local; tokens are never reused within a process.
 */
#ifndef LARDER_THREAD_TOKEN_H
#define LARDER_THREAD_TOKEN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The token of every thread after the first 2^32 - 2 of a process: shared,
 *  so never given a bias (such threads always take the futex). */
#define LARDER_THREAD_TOKEN_SHARED 0xFFFFFFFFu

/** The calling thread's token: nonzero, never reused, unique among threads
 *  up to the first 2^32 - 2 (then LARDER_THREAD_TOKEN_SHARED). */
extern _Thread_local uint32_t larder_thread_token_;
uint32_t larder_thread_token_assign(void);
/** The next token from `counter` (the tokens taken so far), as
 *  larder_thread_token_assign takes them from the process's counter. */
uint32_t larder_thread_token_take(uint32_t *counter);

static inline uint32_t larder_thread_token(void)
{
    uint32_t token = larder_thread_token_;
    return token ? token : larder_thread_token_assign();
}

/** Replaces the calling thread's token (tests: a thread as after 2^32 - 2). */
static inline void larder_thread_token_replace(uint32_t token) { larder_thread_token_ = token; }

#ifdef __cplusplus
}
#endif

#endif /* LARDER_THREAD_TOKEN_H */

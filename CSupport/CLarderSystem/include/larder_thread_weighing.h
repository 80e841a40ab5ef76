/*
 * larder_thread_weighing.h — what nested weighings measured on this thread.
 *
 * A computed value is weighed by the bytes its thread allocated while
 * computing it. A computation that fills other keys of a cache on the way (a
 * memoized recursion) allocated their values too, and those entries are
 * charged for them already: each weighing adds what it measured here, and the
 * enclosing one subtracts it from its own figure.
 *
 * Thread-local: a weighing and its nested ones run on one thread.
 */
#ifndef LARDER_THREAD_WEIGHING_H
#define LARDER_THREAD_WEIGHING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

extern _Thread_local uint64_t larder_nested_weighed_;

/** The calling thread's running total of bytes measured by nested weighings (never NULL). */
static inline uint64_t *larder_thread_nested_weighed(void) { return &larder_nested_weighed_; }

#ifdef __cplusplus
}
#endif

#endif /* LARDER_THREAD_WEIGHING_H */

/*
 * larder_access_log.h — one shard's record of the entries hit since the lower
 * tier last took them, with each one's latest access stamp (ShardAccessLog.swift
 * owns it and describes the stamps; AccessStampClock.swift the clock).
 *
 * In C, as static inline functions, so that a hit's record is inlined whole
 * into the hit path: written in Swift behind the shard's reference, the record
 * was a closure call the optimizer left out of line, and its state was reloaded
 * after every stamp store that might alias it. Guarded by the shard's lock,
 * except `drain_wanted` and the clock.
 */
#ifndef LARDER_ACCESS_LOG_H
#define LARDER_ACCESS_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every pointer here is nonnull (and imported into Swift as such). */
#if defined(__clang__)
#pragma clang assume_nonnull begin
#endif

/** The distance between consecutive write stamps of the clock (2^20): room for
 *  that many recorded accesses per shard between two writes, in order. */
#define LARDER_ACCESS_SPACING 1048576

typedef struct larder_access_log {
    /** The clock's next write stamp (written by writes with atomics). */
    const uint64_t *clock;
    /** Per slot: its entry's latest unrecorded access stamp, 0 when none. */
    uint64_t *stamps;
    /** Slots whose stamp went from 0 to a stamp since the last drain, in that order. */
    uint32_t *slots;
    /** The write stamp `sequence` counts from. */
    uint64_t epoch;
    uint64_t sequence;
    /** Slots listed in `slots`; its room (the shard's capacity); the count that asks for a drain. */
    uint32_t count;
    uint32_t capacity;
    uint32_t batch_size;
    /** A batch filled and no one has asked the tier for a drain since (read without the lock). */
    uint8_t drain_wanted;
} larder_access_log;

/** Records an access to the entry in `slot` now. When this record fills a
 *  batch it sets `drain_wanted`: whoever next finds it set, after letting go
 *  of the shard's lock, asks the tier for a drain. */
static inline void larder_access_log_record(larder_access_log *log, uint32_t slot)
{
    uint64_t epoch = __atomic_load_n(log->clock, __ATOMIC_RELAXED);
    uint64_t previous = log->stamps[slot];
    /* Accesses since the latest write (stamp epoch - spacing) take that stamp
     * plus a sequence from 1. */
    uint64_t base = epoch - LARDER_ACCESS_SPACING;
    if (log->epoch != epoch) {
        log->epoch = epoch;
        log->sequence = 0;
    } else if (previous != 0 && previous == base + log->sequence) {
        /* Already the latest access recorded: a newer stamp would order nothing
         * differently (a hot key's hits in a row store nothing). */
        return;
    }
    if (log->sequence < LARDER_ACCESS_SPACING - 1) log->sequence++;
    log->stamps[slot] = base + log->sequence;
    if (previous != 0) return;
    if (log->count >= log->capacity) {
        /* Each live slot is listed at most once per drain; a slot reused after a
         * removal may be listed again, and an access beyond the room is dropped. */
        log->stamps[slot] = 0;
        return;
    }
    log->slots[log->count++] = slot;
    if (log->count == log->batch_size) __atomic_store_n(&log->drain_wanted, 1, __ATOMIC_RELAXED);
}

/** Records accesses to `count` slots in turn (the hits a read buffer applies). */
static inline void larder_access_log_record_all(larder_access_log *log, const uint32_t *slots, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) larder_access_log_record(log, slots[i]);
}

/** Whether a batch filled since the last call (then the caller asks the tier to
 *  drain); clears the request. Safe without the lock. */
static inline int larder_access_log_take_drain_request(larder_access_log *log)
{
    return __atomic_load_n(&log->drain_wanted, __ATOMIC_RELAXED) != 0
        && __atomic_exchange_n(&log->drain_wanted, 0, __ATOMIC_RELAXED) != 0;
}

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#ifdef __cplusplus
}
#endif

#endif /* LARDER_ACCESS_LOG_H */

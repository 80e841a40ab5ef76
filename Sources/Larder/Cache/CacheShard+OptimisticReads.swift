#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLarderCore
import CLarderSystem
import Synchronization

/// What an optimistic read found.
@usableFromInline
enum OptimisticRead<Value> {
    case hit(Value)
    case miss
    /// A writer changed the shard meanwhile, or the entry needs the lock (it
    /// has expired): read under the lock instead.
    case busy
}

/// Reads that take no lock and write nothing another thread wrote last.
///
/// Why: a hit that locks the shard, moves the entry to the front of the
/// recency list and counts itself writes the lock's, the list head's and the
/// counter's cache lines. When two threads use one cache, each such line was
/// last written by the other thread about half the time, however many shards
/// there are, and fetching it from the other core costs more than the whole
/// hit (docs/Performance.md has the measurements). So, for keys and values of
/// trivial types (whose bytes can be copied while a writer changes them, and
/// checked afterwards):
/// - a writer marks the shard's `version` odd before it changes the index or
///   the entries and even after (under the mutex, so writers never overlap);
/// - a reader reads the version, looks the key up with atomic loads, copies
///   the entry's bytes, and keeps the result only if the version is the same
///   even number afterwards; else it reads under the lock;
/// - a hit counts itself in its thread's stripe (`larder_read_buffer.h`),
///   with plain stores where the thread owns the stripe (no
///   read-modify-write: on x86 each one waits for the thread's earlier
///   stores, see larder_thread_stripe.h);
/// - in an LRU cache of several shards (``marksHits``) without a disk tier,
///   the hit then marks its entry itself, with one byte store and only when
///   the mark is clear (larder_core_mark_concurrent): the eviction hand gives
///   it its second chance, whichever thread evicts next;
/// - otherwise (a cache of one shard keeps exact order, the other policies'
///   hits are the counts they compare, and a tier stamps its recency from
///   every hit) the hit records its slot in the stripe, and the touches are
///   applied under the lock when the stripe fills, and before the thread's
///   next write, so one thread's hits reach the recency order in its order
///   and before its next eviction.
extension CacheShard {
    /// Whether this shard's reads take the optimistic path: trivial keys and
    /// values, whose slot fills whole 8-byte words.
    @inlinable
    static var readsOptimistically: Bool {
        _isPOD(Key.self) && _isPOD(Value.self)
            && MemoryLayout<SlotEntry<Key, Value>>.stride % 8 == 0 && MemoryLayout<SlotEntry<Key, Value>>.stride > 0
    }

    /// Stripes per shard: one for each thread stripe index below
    /// `stripeCount - 1` (larder_thread_stripe.h), four per processor and at
    /// least eight, at most 64; and a last one that threads with a higher
    /// index share.
    static var stripeCount: Int {
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return min(Int(LARDER_THREAD_STRIPES), max(8, 4 * cores)) + 1
    }

    /// The calling thread's stripe, and 1 when the thread owns it (it then
    /// counts there with plain stores, see larder_thread_stripe.h), else 0.
    @inlinable @inline(__always)
    var stripeAndOwnership: (stripe: UnsafeMutablePointer<larder_read_stripe>, owned: Int32) {
        let index = min(larder_thread_stripe(), sharedStripe)
        return (stripes + Int(index), index < sharedStripe ? 1 : 0)
    }

    /// The calling thread's stripe.
    @inlinable @inline(__always)
    var stripe: UnsafeMutablePointer<larder_read_stripe> { stripeAndOwnership.stripe }

    // MARK: Writers (call with `mutex` held)

    /// Marks the start of a change to the index or the entries.
    @inlinable @inline(__always)
    func beginWrite() {
        let current = version.loadRelaxed()
        version.storeRelaxed(current &+ 1)
        atomicMemoryFence(ordering: .releasing)
    }

    /// Marks the end of the change begun by ``beginWrite()``.
    @inlinable @inline(__always)
    func endWrite() {
        version.storeReleasing(version.loadRelaxed() &+ 1)
    }

    /// Locks for a change: applies this thread's recorded hits first (so a
    /// thread's hits count before its own evictions), then begins the write.
    @inlinable @inline(__always)
    func lockForWrite() {
        mutex.lock()
        noteLockerAndApplyOwnHits()
        beginWrite()
    }

    /// Right after locking: ``noteLocker()``, then this thread's recorded hits,
    /// unless the shard was used alone before this lock and still is. Then the
    /// stripe is empty (its thread records only while threads share the shard,
    /// and applied them at each lock until the one that found it alone), and not
    /// reading it spares a shard used by one thread a cache line per operation.
    @inlinable @inline(__always)
    func noteLockerAndApplyOwnHits() {
        let shared = threadsShare.load(ordering: .relaxed)
        noteLocker()
        if shared || threadsShare.load(ordering: .relaxed) { applyRecordedHits(of: stripe) }
    }

    /// Updates ``threadsShare`` from the mutex's record of its holders (call with
    /// `mutex` held): a new holder means threads share the shard; this many
    /// acquisitions in a row by one thread, that it is used alone again.
    @inlinable @inline(__always)
    func noteLocker() {
        let streak = mutex.pointer.pointee.streak
        if streak == 1 {
            if !threadsShare.load(ordering: .relaxed) { threadsShare.store(true, ordering: .relaxed) }
        } else if streak >= Self.soloStreak, threadsShare.load(ordering: .relaxed) {
            threadsShare.store(false, ordering: .relaxed)
        }
    }

    /// Acquisitions in a row by one thread after which a shard counts as used alone.
    @inlinable static var soloStreak: UInt32 { 1024 }

    @inlinable @inline(__always)
    func unlockAfterWrite() {
        endWrite()
        mutex.unlock()
    }

    /// Stores an entry into a free slot: with word-sized atomic stores when
    /// optimistic readers may copy it meanwhile.
    @inlinable @inline(__always)
    func writeEntry(_ entry: SlotEntry<Key, Value>, at slot: UInt32) {
        if Self.readsOptimistically {
            withUnsafePointer(to: entry) { source in
                larder_store_words_relaxed(entries + Int(slot), source, MemoryLayout<SlotEntry<Key, Value>>.stride / 8)
            }
        } else {
            (entries + Int(slot)).initialize(to: entry)
        }
    }

    /// Applies the touches recorded in `stripe`, if any (call with `mutex` held).
    @inlinable @inline(__always)
    func applyRecordedHits(of stripe: UnsafeMutablePointer<larder_read_stripe>) {
        if larder_read_stripe_pending(stripe) != 0 { applyPendingHits(of: stripe) }
    }

    /// Applies this thread's recorded hits now, if it has any (takes the lock).
    @inlinable @inline(__always)
    func applyOwnRecordedHits() {
        let stripe = self.stripe
        guard larder_read_stripe_pending(stripe) != 0 else { return }
        mutex.lock()
        noteLocker()
        applyRecordedHits(of: stripe)
        mutex.unlock()
    }

    @usableFromInline @inline(never)
    func applyPendingHits(of stripe: UnsafeMutablePointer<larder_read_stripe>) {
        let capacity = Int(LARDER_READ_STRIPE_RECORDS)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { records in
            let count = Int(larder_read_stripe_take(stripe, records.baseAddress!))
            guard count > 0 else { return }
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: capacity) { slots in
                var live = 0
                for index in 0..<count {
                    let record = records[index]
                    let slot = UInt32(truncatingIfNeeded: record)
                    if larder_core_slot_matches(core, slot, UInt32(truncatingIfNeeded: record >> 32)) != 0 {
                        slots[live] = slot
                        live += 1
                    }
                }
                // Marks, in an LRU cache of several shards: moving an entry to the
                // front writes list nodes that the other threads wrote last, about
                // three lines from the other core per move, and that was most of
                // what a shared hit cost; a mark writes the entry's own record, and
                // only when it is not marked yet (docs/Performance.md, "Hits that
                // mark their entry"). A cache of one shard keeps exact order, and
                // the other policies' hits are the counts they compare.
                if marksHits {
                    larder_core_mark_batch(core, slots.baseAddress!, UInt32(live))
                } else {
                    larder_core_touch_batch(core, slots.baseAddress!, UInt32(live))
                }
                if let accessRecord { larder_access_log_record_all(accessRecord, slots.baseAddress!, UInt32(live)) }
            }
        }
    }

    /// Of this many hits that mark their entry, one takes the shard's lock, so
    /// that a thread left alone on the shard is seen to be (``noteLocker()``)
    /// and reads under its biased lock again.
    @inlinable static var markedLockPeriod: UInt64 { 256 }

    /// Applies every thread's recorded touches (call with `mutex` held): before
    /// the recency order is read.
    func applyAllRecordedHits() {
        for index in 0...Int(sharedStripe) { applyRecordedHits(of: stripes + index) }
    }

    /// The recorded hits and misses of every stripe.
    var stripeCounts: (hits: Int, misses: Int) {
        var hits: UInt64 = 0, misses: UInt64 = 0
        for index in 0...Int(sharedStripe) {
            hits &+= larder_read_stripe_hits(stripes + index)
            misses &+= larder_read_stripe_misses(stripes + index)
        }
        return (Int(truncatingIfNeeded: hits), Int(truncatingIfNeeded: misses))
    }

    // MARK: Readers

    /// An optimistic lookup of `key` (only where ``readsOptimistically``). A hit
    /// is recorded and counted; a miss is counted when `countsMiss`.
    @inlinable @inline(__always)
    func lookUpOptimistically(_ key: Key, hash: UInt64, countsMiss: Bool) -> OptimisticRead<Value> {
        let before = version.loadAcquiring()
        if before & 1 != 0 { return .busy }
        var cursor = larder_cursor()
        var slot = larder_core_lookup_concurrent_first(core, hash, &cursor)
        return withUnsafeTemporaryAllocation(of: SlotEntry<Key, Value>.self, capacity: 1) { copy in
            let words = MemoryLayout<SlotEntry<Key, Value>>.stride / 8
            while slot != larderNil {
                larder_load_words_relaxed(copy.baseAddress!, entries + Int(slot), words)
                if copy[0].key == key { break }
                slot = larder_core_lookup_concurrent_next(core, hash, &cursor)
            }
            var expired = false
            if slot != larderNil, hasExpiry, mayHaveDeadlines {
                let deadline = larder_core_deadline_concurrent(core, slot)
                expired = deadline != larderNoDeadline && clock.monotonicNanoseconds() >= deadline
            }
            atomicMemoryFence(ordering: .acquiring)
            guard version.loadRelaxed() == before, !expired else { return .busy }
            let (stripe, owned) = stripeAndOwnership
            if slot == larderNil {
                if countsMiss { larder_read_stripe_miss(stripe, owned) }
                return .miss
            }
            // The mark at once, rather than a record applied under the lock: the
            // batches of records took the lock and its line from the other
            // threads (docs/Performance.md, "Hits that mark their entry").
            if marksHits, accessRecord == nil {
                larder_core_mark_concurrent(core, slot)
                if larder_read_stripe_count_marked(stripe, owned) % Self.markedLockPeriod == Self.markedLockPeriod - 1 {
                    mutex.lock()
                    noteLocker()
                    mutex.unlock()
                }
                return .hit(copy[0].value)
            }
            // Warm for when the stripe is applied: a mark reads the meta record
            // (larder_core_slot_matches), a move the list node. With them cold, a
            // thread's batch of records waited for as many misses under the lock,
            // and those batches were the get-hit p99.
            larder_core_prefetch_recorded(core, slot, marksHits ? 1 : 0)
            let tag = UInt32(truncatingIfNeeded: hash >> 32)
            if larder_read_stripe_record(stripe, slot, tag, owned) != 0 {
                mutex.lock()
                noteLocker()
                applyRecordedHits(of: stripe)
                mutex.unlock()
            }
            return .hit(copy[0].value)
        }
    }
}

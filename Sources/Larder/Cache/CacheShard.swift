import CLarderCore
import CLarderSystem
import Synchronization

/// "No slot" (the C core's LARDER_NIL).
@usableFromInline let larderNil: UInt32 = .max
/// "No deadline" (the C core's LARDER_NO_DEADLINE).
@usableFromInline let larderNoDeadline: UInt64 = .max
/// The heaviest entry the C core can record (LARDER_MAX_WEIGHT).
@usableFromInline let larderMaxWeight: UInt64 = (1 << 52) - 1

/// One slot's key and value, side by side so that a hit's key comparison
/// brings the value's cache line along (one miss instead of two).
@usableFromInline
struct SlotEntry<Key, Value> {
    @usableFromInline var key: Key
    @usableFromInline var value: Value

    @inlinable init(key: Key, value: Value) {
        self.key = key
        self.value = value
    }
}

/// One shard: a C core (recency list, index, timer wheel) plus the keys and
/// values in slot-indexed storage beside it, behind one mutex.
///
/// Everything marked "guarded" is touched only with `mutex` held. Counters are
/// atomics so that statistics can be read without the lock; the shard's own are
/// written only under the lock, with a relaxed load and store (no
/// read-modify-write); hits and misses of optimistic reads are counted in the
/// reading thread's stripe (see CacheShard+OptimisticReads.swift).
@usableFromInline
final class CacheShard<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    @usableFromInline let mutex: ShardMutex
    // Guarded.
    @usableFromInline let core: OpaquePointer
    /// Slot-indexed keys and values (initialized exactly at the live slots).
    @usableFromInline let entries: UnsafeMutablePointer<SlotEntry<Key, Value>>
    // Read by every operation and written (almost) never: these share the
    // object's first cache line, so that a sharded cache's operation finds
    // them in one line, and no counter or sequence a writer moves is on it.
    /// Where optimistic hits record themselves: `sharedStripe + 1` stripes,
    /// each on cache lines of its own: stripe `i` is the thread's whose
    /// stripe index (larder_thread_stripe.h) is `i`, and the last one,
    /// `sharedStripe`, is shared by threads with a higher index.
    @usableFromInline let stripes: UnsafeMutablePointer<larder_read_stripe>
    @usableFromInline let sharedStripe: UInt32
    /// Whether more than one thread has been locking this shard lately: then
    /// reads go optimistic; a shard one thread uses alone is cheapest under its
    /// (biased) lock. Written only when it changes.
    @usableFromInline let threadsShare = Atomic<Bool>(false)
    @usableFromInline let capacity: UInt32
    @usableFromInline let hasExpiry: Bool
    @usableFromInline let mayHaveDeadlinesStorage = Atomic<Bool>(false)
    /// Whether this shard's hits mark their entry rather than move it, read
    /// with or without the lock: in an LRU cache of several shards (see
    /// CacheShard+OptimisticReads.swift and Cache.lookUp).
    @usableFromInline let marksHits: Bool
    // What a set writes besides the core. Where recorded hits leave the
    // lists alone (marks under a sharded LRU, S3-FIFO's counters), in the
    // core's owner words, on the line of its list sentinels that a set writes
    // anyway (see ShardWord); where applying them moves entries to a list's
    // front, that line moves at every batch, and optimistic readers, which
    // read the version, would fetch it after each: on a line of their own
    // (ShardMemory.Part.words).
    /// The sequence optimistic readers validate against: odd while a writer
    /// changes the index or the entries (see CacheShard+OptimisticReads.swift).
    @usableFromInline let version: ShardWord
    // Lock-free readable counters, written under `mutex`.
    @usableFromInline let evictions: ShardWord
    @usableFromInline let entryCount: ShardWord
    @usableFromInline let totalWeight: ShardWord
    // What a locked read writes, on the object's second cache line (which
    // optimistic reads, counted in their stripes, leave alone).
    // `byteShareStorage` is declared among them.
    @usableFromInline let hits = Atomic<Int>(0)
    @usableFromInline let misses = Atomic<Int>(0)
    /// This shard's share of the effective byte budget (`UInt64.max`: none). Guarded.
    @usableFromInline var byteShare: UInt64 {
        get { byteShareStorage.load(ordering: .relaxed) }
        set {
            byteShareStorage.store(newValue, ordering: .relaxed)
            // The policy sizes its regions (window, small queue) in bytes too.
            larder_core_set_maximum(core, newValue)
        }
    }
    // Mutable fields read on hot paths are atomics (written under the lock,
    // relaxed) rather than stored `var`s: a class's stored `var` costs a
    // dynamic exclusivity check on every access.
    @usableFromInline let byteShareStorage: Atomic<UInt64>
    /// Whether an entry may carry a deadline (set by the first one, cleared
    /// when the shard empties): spares reads of entries without TTLs a look
    /// at the deadline array, one cache miss on a large cache. Guarded.
    @usableFromInline var mayHaveDeadlines: Bool {
        get { mayHaveDeadlinesStorage.load(ordering: .relaxed) }
        set { mayHaveDeadlinesStorage.store(newValue, ordering: .relaxed) }
    }
    @usableFromInline let clock: any CacheClock

    /// Accesses recorded for the lower tier's recency order; nil without a tier
    /// that keeps one. Guarded.
    @usableFromInline let accessLog: ShardAccessLog?
    /// `accessLog`'s C record (owned by `accessLog`), for hits: a hit records
    /// through it inline, neither retaining the log nor calling out.
    @usableFromInline let accessRecord: UnsafeMutablePointer<larder_access_log>?

    // Lock-free readable counters, written under `mutex`; the rarely moved ones.
    /// The part of `evictions` made for the byte share (not the count, not pressure).
    @usableFromInline let byteEvictions = Atomic<Int>(0)
    @usableFromInline let expiredRemovals = Atomic<Int>(0)
    @usableFromInline let pressureEvictions = Atomic<Int>(0)

    /// Removals that a fill must not undo (see CacheShard+Removals.swift).
    @usableFromInline let removalGeneration = Atomic<UInt64>(0)
    @usableFromInline let removalsInProgress = Atomic<Int>(0)
    /// The cache's shared generation this shard was last emptied for (see
    /// Cache+Shared.swift): behind the cache's, the shard holds entries from a
    /// connection that is gone, and nothing in it may be served.
    @usableFromInline let sharedSeen = Atomic<UInt64>(0)

    /// In-flight get-or-compute calls, behind their own lock so that the
    /// shard's critical sections stay allocation-free (a dictionary insert
    /// may allocate). Lock order: `flights` may be held while taking
    /// `mutex`, never the other way round.
    let flights = Locked<[Key: Flight<Value>]>([:])

    /// The blocks `core`, `entries`, `mutex` and `stripes` live in (shared by all of the cache's shards).
    let memory: ShardMemory

    init(capacity: UInt32, flags: UInt32, byteShare: UInt64, clock: any CacheClock, memory: ShardMemory, index: Int,
         marksHits: Bool,
         accessRecording: (clock: AccessStampClock, batchSize: Int)? = nil) throws(CacheError) {
        let part = memory.parts[index]
        var created: OpaquePointer? = nil
        let status = larder_core_init(part.core, part.coreBytes, capacity, flags, &created)
        guard status == LARDER_OK, let created else {
            throw CacheError(code: .invalidConfiguration, message:
                "could not create a shard of capacity \(capacity) (larder_core_init returned \(status.rawValue)); "
                + "lower maxCount: its bookkeeping is allocated up front.")
        }
        self.memory = memory
        core = created
        let hitsMoveEntries = !marksHits && (flags & UInt32(LARDER_CORE_POLICY_MASK)) != UInt32(LARDER_CORE_S3FIFO)
        let words = hitsMoveEntries ? part.words : larder_core_owner_words(created)!
        version = ShardWord(words)
        evictions = ShardWord(words + 1)
        entryCount = ShardWord(words + 2)
        totalWeight = ShardWord(words + 3)
        entries = part.entries.bindMemory(to: SlotEntry<Key, Value>.self, capacity: Int(capacity))
        let stripeCount = Self.stripeCount
        stripes = part.stripes.bindMemory(to: larder_read_stripe.self, capacity: stripeCount)
        stripes.initialize(repeating: larder_read_stripe(), count: stripeCount)
        sharedStripe = UInt32(stripeCount - 1)
        self.marksHits = marksHits
        self.byteShareStorage = Atomic(byteShare)
        self.capacity = capacity
        self.hasExpiry = (flags & UInt32(LARDER_CORE_EXPIRY)) != 0
        self.clock = clock
        accessLog = accessRecording.map { ShardAccessLog(capacity: capacity, clock: $0.clock, batchSize: $0.batchSize) }
        accessRecord = accessLog?.log
        mutex = .make(at: part.mutex)
        // Start the timer wheel at the cache clock's time, so that deadlines
        // are filed relative to it (correct either way, cheaper this way).
        if hasExpiry { _ = larder_core_expire(created, clock.monotonicNanoseconds(), nil, 0) }
        larder_core_set_maximum(created, byteShare)
    }

    deinit {
        var slot = larder_core_lru(core)
        while slot != larderNil {
            (entries + Int(slot)).deinitialize(count: 1)
            slot = larder_core_newer(core, slot)
        }
        stripes.deinitialize(count: Int(sharedStripe) + 1)
        mutex.destroy()
    }

    // MARK: Guarded helpers (call with `mutex` held)

    @inlinable
    func bump(_ counter: borrowing Atomic<Int>, by amount: Int = 1) {
        // Nothing stored for nothing counted: a set that evicts for the count
        // bumps `byteEvictions` by 0, and a store would still take that line
        // (the object's third, with `clock`) from the other threads' caches.
        guard amount != 0 else { return }
        counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Adds `amount` to a counter kept in the core's owner words.
    @inlinable
    func bump(_ counter: ShardWord, by amount: Int = 1) {
        guard amount != 0 else { return }
        counter.storeRelaxed(counter.loadRelaxed() &+ UInt64(bitPattern: Int64(amount)))
    }

    /// Publishes the core's count and weight to the lock-free counters.
    @inlinable
    func publishSize() {
        entryCount.storeRelaxed(UInt64(larder_core_count(core)))
        totalWeight.storeRelaxed(UInt64(Int(clamping: larder_core_total_weight(core))))
    }

    /// The live slot holding `key`, or `larderNil`. Equality is confirmed on
    /// every candidate the index yields for the hash's tag (the header-inlined
    /// lookup compares tags only, so the key's load is the second cache miss
    /// of a hit, not the third).
    @inlinable @inline(__always)
    func find(_ key: Key, hash: UInt64) -> UInt32 {
        var cursor = larder_cursor()
        var slot = larder_core_lookup_first(core, hash, &cursor)
        while slot != larderNil {
            if entries[Int(slot)].key == key { return slot }
            slot = larder_core_lookup_next(core, &cursor)
        }
        return larderNil
    }

    /// Whether the entry in `slot` has reached its deadline. Reads the clock
    /// only for entries that have one.
    @inlinable @inline(__always)
    func isExpired(_ slot: UInt32) -> Bool {
        guard hasExpiry, mayHaveDeadlines else { return false }
        let deadline = larder_core_deadline(core, slot)
        return deadline != larderNoDeadline && clock.monotonicNanoseconds() >= deadline
    }

    /// Starts loading what the next eviction reads (larder_core_prefetch_lru),
    /// and the entry it will overwrite. Call with `mutex` held.
    @inlinable @inline(__always)
    func prefetchNextVictim() {
        let next = larder_core_prefetch_lru(core)
        if next != larderNil { larder_prefetch_for_write(entries + Int(next)) }
    }

    /// What a lookup's miss of `hash` on a full shard starts loading for the
    /// set that usually follows (larder_core_prefetch_for_miss). Call with
    /// `mutex` held.
    @inlinable @inline(__always)
    func prefetchForMiss(_ hash: UInt64) {
        let next = larder_core_prefetch_for_miss(core, hash)
        if next != larderNil { larder_prefetch_for_write(entries + Int(next)) }
    }

    /// Moves the entry out of storage and removes it from the core.
    @inlinable
    func take(_ slot: UInt32) -> (key: Key, value: Value) {
        let entry = (entries + Int(slot)).move()
        larder_core_remove(core, slot)
        accessLog?.forget(slot)
        return (entry.key, entry.value)
    }

}

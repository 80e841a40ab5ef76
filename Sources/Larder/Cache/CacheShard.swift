import CLarderCore
import CLarderSystem
import Synchronization

/// "No slot" (the C core's LARDER_NIL).
@usableFromInline let larderNil: UInt32 = .max
/// "No deadline" (the C core's LARDER_NO_DEADLINE).
@usableFromInline let larderNoDeadline: UInt64 = .max
/// The heaviest entry the C core can record (LARDER_MAX_WEIGHT).
@usableFromInline let larderMaxWeight: UInt64 = (1 << 56) - 1

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

/// Entries moved out of a shard under its lock, to be released (and logged,
/// and reported to hooks) after the lock is dropped.
///
/// The buffers come from the caller's stack (`withUnsafeTemporaryAllocation`)
/// so that nothing is allocated while the lock is held.
@usableFromInline
struct VictimBuffer<Key, Value> {
    @usableFromInline let keys: UnsafeMutablePointer<Key>
    @usableFromInline let values: UnsafeMutablePointer<Value>
    @usableFromInline let capacity: Int
    @usableFromInline var count = 0
    /// The value an update replaced, released with the victims.
    @usableFromInline var replaced: Value? = nil
    /// The key of a memory copy dropped rather than evicted (a set that a
    /// removal overlapped), released with the victims; its value goes in `replaced`.
    @usableFromInline var droppedKey: Key? = nil

    @inlinable
    init(keys: UnsafeMutablePointer<Key>, values: UnsafeMutablePointer<Value>, capacity: Int) {
        self.keys = keys
        self.values = values
        self.capacity = capacity
    }

    @inlinable var isFull: Bool { count == capacity }

    @inlinable mutating func append(key: consuming Key, value: consuming Value) {
        (keys + count).initialize(to: key)
        (values + count).initialize(to: value)
        count += 1
    }

    /// Releases everything held; call after the lock is dropped.
    @inlinable mutating func release() {
        keys.deinitialize(count: count)
        values.deinitialize(count: count)
        count = 0
        replaced = nil
        droppedKey = nil
    }
}

/// Runs `body` with a victim buffer of `capacity` entries on the stack
/// (or the heap, for types too large for it); releases what is left after.
@inlinable
func withVictimBuffer<Key, Value, R>(
    _ keyType: Key.Type, _ valueType: Value.Type, capacity: Int,
    _ body: (inout VictimBuffer<Key, Value>) -> R
) -> R {
    withUnsafeTemporaryAllocation(of: Key.self, capacity: capacity) { keys in
        withUnsafeTemporaryAllocation(of: Value.self, capacity: capacity) { values in
            var buffer = VictimBuffer<Key, Value>(keys: keys.baseAddress!, values: values.baseAddress!,
                                                  capacity: capacity)
            let result = body(&buffer)
            buffer.release()
            return result
        }
    }
}

/// How a store treats an existing entry and where a new one goes.
@usableFromInline
enum StoreMode {
    /// Insert or update (a set); a new entry goes to the most-recent end.
    case overwrite
    /// Insert only when no live entry exists (promotion from a lower tier);
    /// an expired entry is replaced.
    case ifAbsent
    /// Insert at the least-recent end without evicting anything (recovery).
    case restoreAtLRU
}

@usableFromInline
enum StoreOutcome {
    case stored
    /// `ifAbsent`/`restoreAtLRU` found a live entry and left it.
    case existing
    /// The entry weighs more than the shard's byte share (given).
    case tooLarge(share: UInt64)
    /// The victim buffer filled before the entry fit: release and retry.
    case needsMoreRoom
    /// `restoreAtLRU` found no room.
    case full
    /// A removal overlapped the fill or tiered set (see
    /// ``CacheShard/fillSnapshot()``): nothing stored, and for a set the key's
    /// memory copy was dropped (the lower tier holds the value).
    case superseded
}

/// One shard: a C core (recency list, index, timer wheel) plus the keys and
/// values in slot-indexed storage beside it, behind one mutex.
///
/// Everything marked "guarded" is touched only with `mutex` held. Counters are
/// atomics so that statistics can be read without the lock; they are written
/// only under the lock, with a relaxed load and store (no read-modify-write).
@usableFromInline
final class CacheShard<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    @usableFromInline let mutex: ShardMutex
    // Guarded.
    @usableFromInline let core: OpaquePointer
    /// Slot-indexed keys and values (initialized exactly at the live slots).
    @usableFromInline let entries: UnsafeMutablePointer<SlotEntry<Key, Value>>
    /// This shard's share of the effective byte budget (`UInt64.max`: none). Guarded.
    @usableFromInline var byteShare: UInt64 {
        get { byteShareStorage.load(ordering: .relaxed) }
        set { byteShareStorage.store(newValue, ordering: .relaxed) }
    }
    // Mutable fields read on hot paths are atomics (written under the lock,
    // relaxed) rather than stored `var`s: a class's stored `var` costs a
    // dynamic exclusivity check on every access.
    @usableFromInline let byteShareStorage: Atomic<UInt64>
    @usableFromInline let capacity: UInt32
    @usableFromInline let hasExpiry: Bool
    /// Whether an entry may carry a deadline (set by the first one, cleared
    /// when the shard empties): spares reads of entries without TTLs a look
    /// at the deadline array, one cache miss on a large cache. Guarded.
    @usableFromInline var mayHaveDeadlines: Bool {
        get { mayHaveDeadlinesStorage.load(ordering: .relaxed) }
        set { mayHaveDeadlinesStorage.store(newValue, ordering: .relaxed) }
    }
    @usableFromInline let mayHaveDeadlinesStorage = Atomic<Bool>(false)
    @usableFromInline let clock: any CacheClock

    // Lock-free readable counters, written under `mutex`.
    @usableFromInline let hits = Atomic<Int>(0)
    @usableFromInline let misses = Atomic<Int>(0)
    @usableFromInline let evictions = Atomic<Int>(0)
    @usableFromInline let expiredRemovals = Atomic<Int>(0)
    @usableFromInline let pressureEvictions = Atomic<Int>(0)
    @usableFromInline let entryCount = Atomic<Int>(0)
    @usableFromInline let totalWeight = Atomic<Int>(0)

    /// Removals that a fill must not undo. A fill (a promotion from the lower
    /// tier, a computed value, a set through the tier) reads its value or
    /// writes the tier before it takes `mutex`; a `removeValue` or
    /// `removeAll` that ran meanwhile (its lower-tier half possibly still
    /// running) would be undone by the store. Each removal moves the
    /// generation when it starts (under `mutex`) and when it ends, and counts
    /// itself in progress in between; a fill snapshots the generation first
    /// and stores only if it has not moved.
    @usableFromInline let removalGeneration = Atomic<UInt64>(0)
    @usableFromInline let removalsInProgress = Atomic<Int>(0)

    /// In-flight get-or-compute calls, behind their own mutex so that the
    /// shard's critical sections stay allocation-free (a dictionary insert
    /// may allocate). Lock order: `flightMutex` may be held while taking
    /// `mutex`, never the other way round.
    let flightMutex = Lock()
    var flights: [Key: Flight<Value>] = [:]

    init(capacity: UInt32, flags: UInt32, byteShare: UInt64, clock: any CacheClock) throws(CacheError) {
        // The core goes in a block of our own, so that a large one is huge-page backed like the entries.
        let footprint = larder_core_footprint(capacity, flags)
        guard footprint > 0, let coreBlock = larder_block_alloc(footprint, 16) else {
            throw CacheError(code: .invalidConfiguration, message:
                "could not allocate the bookkeeping of a shard of capacity \(capacity); "
                + "lower maxCount: its bookkeeping is allocated up front.")
        }
        var created: OpaquePointer? = nil
        let status = larder_core_init(coreBlock, footprint, capacity, flags, &created)
        guard status == LARDER_OK, let created else {
            larder_block_free(coreBlock)
            throw CacheError(code: .invalidConfiguration, message:
                "could not create a shard of capacity \(capacity) (larder_core_init returned \(status.rawValue)); "
                + "lower maxCount: its bookkeeping is allocated up front.")
        }
        let (bytes, overflow) = MemoryLayout<SlotEntry<Key, Value>>.stride.multipliedReportingOverflow(by: Int(capacity))
        guard !overflow, let block = larder_block_alloc(bytes, MemoryLayout<SlotEntry<Key, Value>>.alignment) else {
            larder_block_free(coreBlock)
            throw CacheError(code: .invalidConfiguration, message:
                "could not allocate the keys and values of a shard of capacity \(capacity); "
                + "lower maxCount: its storage is allocated up front.")
        }
        core = created
        entries = block.bindMemory(to: SlotEntry<Key, Value>.self, capacity: Int(capacity))
        self.byteShareStorage = Atomic(byteShare)
        self.capacity = capacity
        self.hasExpiry = (flags & UInt32(LARDER_CORE_EXPIRY)) != 0
        self.clock = clock
        mutex = .make()
        // Start the timer wheel at the cache clock's time, so that deadlines
        // are filed relative to it (correct either way, cheaper this way).
        if hasExpiry { _ = larder_core_expire(created, clock.monotonicNanoseconds(), nil, 0) }
    }

    deinit {
        var slot = larder_core_lru(core)
        while slot != larderNil {
            (entries + Int(slot)).deinitialize(count: 1)
            slot = larder_core_newer(core, slot)
        }
        larder_block_free(UnsafeMutableRawPointer(core))  // the block larder_core_init laid the core out in
        larder_block_free(entries)
        mutex.destroy()
    }

    // MARK: Removals and fills

    /// The snapshot a fill takes before it reads the lower tier or computes:
    /// the removal generation, or `UInt64.max` (never current) while a
    /// removal is in progress.
    @usableFromInline
    func fillSnapshot() -> UInt64 {
        let generation = removalGeneration.load(ordering: .acquiring)
        return removalsInProgress.load(ordering: .acquiring) == 0 ? generation : .max
    }

    /// Marks a removal's start; call with `mutex` held, before removing.
    @usableFromInline
    func beginRemoval() {
        removalsInProgress.wrappingAdd(1, ordering: .relaxed)
        removalGeneration.wrappingAdd(1, ordering: .releasing)
    }

    /// Marks a removal's end, after its lower-tier half (no lock needed).
    @usableFromInline
    func endRemoval() {
        removalGeneration.wrappingAdd(1, ordering: .releasing)
        removalsInProgress.wrappingSubtract(1, ordering: .releasing)
    }

    // MARK: Guarded helpers (call with `mutex` held)

    @inlinable
    func bump(_ counter: borrowing Atomic<Int>, by amount: Int = 1) {
        counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Publishes the core's count and weight to the lock-free counters.
    @inlinable
    func publishSize() {
        entryCount.store(Int(larder_core_count(core)), ordering: .relaxed)
        totalWeight.store(Int(clamping: larder_core_total_weight(core)), ordering: .relaxed)
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

    /// Moves the entry out of storage and removes it from the core.
    @inlinable
    func take(_ slot: UInt32) -> (key: Key, value: Value) {
        let entry = (entries + Int(slot)).move()
        larder_core_remove(core, slot)
        return (entry.key, entry.value)
    }

    /// Moves the least-recent entry into `victims`. The caller checked that
    /// the core is not empty and the buffer not full.
    @inlinable
    func evictLRU(into victims: inout VictimBuffer<Key, Value>) {
        let victim = larder_core_lru(core)
        let (key, value) = take(victim)
        victims.append(key: key, value: value)
    }

    /// Whether `total + weight` passes the byte share. A sum beyond `UInt64`
    /// (possible without a budget, at explicit costs near LARDER_MAX_WEIGHT)
    /// counts as passing it, so the core's total never wraps.
    @inlinable @inline(__always)
    func exceedsShare(_ total: UInt64, plus weight: UInt64) -> Bool {
        let (sum, overflow) = total.addingReportingOverflow(weight)
        return overflow || sum > byteShare
    }

    /// Inserts or updates one entry, evicting least-recent entries into
    /// `victims` until it fits in both the count and the byte share.
    /// (Always inlined into its one caller, where `mode` is a constant.)
    @inlinable @inline(__always)
    func storeLocked(key: Key, hash: UInt64, value: Value, weight: UInt64, deadline: UInt64,
                     mode: StoreMode, fillSnapshot: UInt64?, victims: inout VictimBuffer<Key, Value>) -> StoreOutcome {
        guard weight <= byteShare else { return .tooLarge(share: byteShare) }
        let slot = find(key, hash: hash)
        if let fillSnapshot, removalGeneration.load(ordering: .relaxed) != fillSnapshot {
            // A removal overlapped: a fill must not bring back what it removed,
            // and a set's memory copy (old or new) must not outlive its
            // lower-tier copy, which the removal may have deleted.
            if mode == .overwrite {
                if slot != larderNil {
                    let dropped = take(slot)
                    victims.droppedKey = dropped.key
                    victims.replaced = dropped.value
                    publishSize()
                }
                // The tier now holds this set's value; a promotion that loaded the
                // older one before the tier write must not store it (it checks this).
                removalGeneration.wrappingAdd(1, ordering: .releasing)
            }
            return .superseded
        }
        if slot != larderNil {
            if mode != .overwrite && (mode == .restoreAtLRU || !isExpired(slot)) { return .existing }
            // An update marks the entry most recent first, so that the
            // evictions below never pick it.
            larder_core_touch_inline(core, slot)
            let oldWeight = larder_core_weight(core, slot)
            var evicted = 0
            while exceedsShare(larder_core_total_weight(core) - oldWeight, plus: weight) {
                let lru = larder_core_lru(core)
                if lru == slot { break }  // unreachable: weight <= byteShare
                if victims.isFull {
                    bump(evictions, by: evicted)
                    publishSize()
                    return .needsMoreRoom
                }
                evictLRU(into: &victims)
                evicted += 1
            }
            // Swapped out, not assigned over: the old value is released after
            // the lock is dropped, with the victims.
            var replaced = value
            swap(&entries[Int(slot)].value, &replaced)
            victims.replaced = replaced
            let status = larder_core_set_weight(core, slot, weight)
            assert(status == LARDER_OK)
            if hasExpiry {
                larder_core_set_deadline(core, slot, deadline)
                if deadline != larderNoDeadline { mayHaveDeadlines = true }
            }
            bump(evictions, by: evicted)
            publishSize()
            return .stored
        }

        var newSlot: UInt32 = larderNil
        if mode == .restoreAtLRU {
            guard larder_core_count(core) < capacity,
                  !exceedsShare(larder_core_total_weight(core), plus: weight) else { return .full }
            let status = larder_core_insert_lru(core, hash, weight, &newSlot)
            guard status == LARDER_OK else { return .full }
        } else {
            var evicted = 0
            // A full cache's usual set: one eviction makes room, and the new
            // entry takes the victim's slot in one core call.
            if larder_core_count(core) == capacity, !victims.isFull,
               larder_core_replace_lru(core, hash, weight, byteShare, &newSlot) == LARDER_OK {
                let victim = (entries + Int(newSlot)).move()
                victims.append(key: victim.key, value: victim.value)
                evicted = 1
            }
            while newSlot == larderNil,
                  larder_core_count(core) == capacity || exceedsShare(larder_core_total_weight(core), plus: weight) {
                if victims.isFull {
                    bump(evictions, by: evicted)
                    publishSize()
                    return .needsMoreRoom
                }
                evictLRU(into: &victims)
                evicted += 1
            }
            bump(evictions, by: evicted)
            if newSlot == larderNil {
                let status = larder_core_insert(core, hash, weight, &newSlot)
                precondition(status == LARDER_OK, "larder_core_insert failed after making room: \(status.rawValue)")
            }
            // A full cache evicts again on the next miss: start loading the
            // next victim's cold bucket and entry now (see larder_core_prefetch_lru).
            if evicted > 0 {
                let next = larder_core_prefetch_lru(core)
                if next != larderNil { larder_prefetch_for_write(entries + Int(next)) }
            }
        }
        (entries + Int(newSlot)).initialize(to: SlotEntry(key: key, value: value))
        if hasExpiry && deadline != larderNoDeadline {
            larder_core_set_deadline(core, newSlot, deadline)
            mayHaveDeadlines = true
        }
        publishSize()
        return .stored
    }

    /// Moves up to `victims.capacity` least-recent entries out while the shard
    /// is heavier than `limit`. Returns how many were evicted.
    func evictTowardLocked(limit: UInt64, maxEntries: Int, victims: inout VictimBuffer<Key, Value>) -> Int {
        var evicted = 0
        while evicted < maxEntries, !victims.isFull, larder_core_total_weight(core) > limit,
              larder_core_count(core) > 0 {
            evictLRU(into: &victims)
            evicted += 1
        }
        bump(evictions, by: evicted)
        bump(pressureEvictions, by: evicted)
        publishSize()
        return evicted
    }

    /// Moves up to `victims.capacity` least-recent entries out (for removeAll).
    func drainLocked(maxEntries: Int, victims: inout VictimBuffer<Key, Value>) -> Int {
        var drained = 0
        while drained < maxEntries, !victims.isFull, larder_core_count(core) > 0 {
            evictLRU(into: &victims)
            drained += 1
        }
        if larder_core_count(core) == 0 { mayHaveDeadlines = false }
        publishSize()
        return drained
    }

    /// Moves up to `victims.capacity` expired entries out, using `slots` as
    /// the scratch for larder_core_expire. Returns how many.
    func expireLocked(now: UInt64, slots: UnsafeMutablePointer<UInt32>,
                      victims: inout VictimBuffer<Key, Value>) -> Int {
        guard hasExpiry else { return 0 }
        let found = Int(larder_core_expire(core, now, slots, UInt32(victims.capacity - victims.count)))
        for index in 0..<found {
            let (key, value) = take(slots[index])
            victims.append(key: key, value: value)
        }
        bump(expiredRemovals, by: found)
        publishSize()
        return found
    }
}

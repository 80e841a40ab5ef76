import CLarderCore
import CLarderSystem
import Logging
import Synchronization

/// A thread-safe, memory-bounded cache with optional per-entry expiry;
/// least-recently-used unless ``CacheConfiguration/policy`` names another
/// ``EvictionPolicy``.
///
/// ```swift
/// let cache = try Cache<String, Data>(
///     configuration: .init(maxCount: 10_000, maxBytes: 64 << 20, defaultTTL: .seconds(300)),
///     logger: logger)
/// try cache.setValue(data, forKey: "a")
/// let hit = cache.value(forKey: "a")            // marks "a" most recent
/// let computed = try cache.value(forKey: "b") { try load("b") }
/// ```
///
/// ## Concurrency
/// Every method is safe from any thread. Entries live in
/// ``CacheConfiguration/shardCount`` shards, picked by the key's hash; each
/// shard is a C core (recency list, index, timer wheel) plus slot-indexed
/// storage for keys and values, behind its own mutex. A critical section
/// does no allocation, no logging and no I/O: evicted and removed values are
/// moved out under the lock and released after it is dropped. A hit allocates
/// nothing.
///
/// ## Expiry
/// An entry's deadline is the cache clock's monotonic time at the set plus its
/// time to live (``setValue(_:forKey:ttl:)-3g88o`` or
/// ``CacheConfiguration/defaultTTL``). An entry whose deadline has come is
/// never returned: a call that touches it removes it, and a background sweeper
/// removes the ones nobody touches, at a cost proportional to what expires.
public final class Cache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The configuration the cache was created with.
    public let configuration: CacheConfiguration
    @usableFromInline let shards: [CacheShard<Key, Value>]
    /// The shards again, unretained, for hot paths (owned by `shards`).
    @usableFromInline nonisolated(unsafe) let shardTable: UnsafeMutablePointer<Unmanaged<CacheShard<Key, Value>>>
    /// Each shard's index (larder_index_view), so that an operation can start
    /// loading its bucket from the hash alone (``shardIndexLoadingBucket(_:)``).
    @usableFromInline nonisolated(unsafe) let indexTable: UnsafeMutablePointer<larder_index_view>
    @usableFromInline let clock: any CacheClock
    @usableFromInline let logger: Logger?
    @usableFromInline let tier: (any CacheBackingTier<Key, Value>)?
    /// `tier != nil`, without copying the existential on hot paths.
    @usableFromInline let hasTier: Bool
    /// The shared tier (Redis), nil without one.
    @usableFromInline let shared: (any SharedBackingTier<Key, Value>)?
    /// `shared != nil`.
    @usableFromInline let hasShared: Bool
    /// Whether a memory miss reads a lower tier (disk or shared): the miss is then counted after it.
    @usableFromInline let readsThrough: Bool
    /// Moves when every shared entry must go (see Cache+Shared.swift).
    @usableFromInline let sharedGeneration = Atomic<UInt64>(0)
    @usableFromInline let hooks: CacheHooks<Key>
    /// The C core's bookkeeping per slot, charged to every entry's weight.
    @usableFromInline let slotOverhead: UInt64
    /// Every entry's weight when neither `Key` nor `Value` holds heap the
    /// weigher can reach (`Int`, plain structs): the set path then skips the
    /// weigher's per-call type lookups. `nil` for other types.
    @usableFromInline let fixedEntryWeight: UInt64?
    /// The memory governor's budget in bytes; -1 when none is set.
    @usableFromInline let pressureBudget = Atomic<Int>(-1)
    /// The background sweeper (a ``PeriodicRunner``; idle without `sweepInterval`).
    let sweeper = PeriodicRunner()
    /// Completed background sweeper runs.
    let sweeperRuns = Atomic<Int>(0)

    /// Entries moved out per lock hold by sets that evict for bytes, by
    /// `removeAll`, the sweeper and the governor: bounds how long one lock
    /// hold lasts.
    @usableFromInline static var batchSize: Int { 64 }

    /// Creates an empty cache.
    ///
    /// - Parameters:
    ///   - configuration: limits and behaviour; every field is validated.
    ///   - clock: the time source for deadlines (inject a ``ManualCacheClock`` in tests).
    ///   - logger: where evictions, expiries (debug/trace) and sweeps (debug)
    ///     are logged; `nil` logs nothing.
    /// - Throws: ``CacheError/Code/invalidConfiguration`` naming the field out
    ///   of range, or ``CacheError/Code/expiryNotSupported`` for a `defaultTTL`
    ///   without `supportsExpiry`.
    public convenience init(configuration: CacheConfiguration, clock: any CacheClock = SystemCacheClock(),
                            logger: Logger? = nil) throws(CacheError) {
        try self.init(configuration: configuration, clock: clock, logger: logger, tier: nil)
    }

    /// Creates a cache over a lower tier (the durable store) and a shared tier, with test hooks.
    @usableFromInline
    init(configuration: CacheConfiguration, clock: any CacheClock = SystemCacheClock(),
         logger: Logger? = nil, tier: (any CacheBackingTier<Key, Value>)?,
         shared: (any SharedBackingTier<Key, Value>)? = nil, attachingShared: Bool = true,
         hooks: CacheHooks<Key> = CacheHooks()) throws(CacheError) {
        try configuration.validate()
        let shardCount = configuration.shardCount
        let flags: UInt32 = (configuration.supportsExpiry ? UInt32(LARDER_CORE_EXPIRY) : 0) | configuration.policy.flags
        var shards: [CacheShard<Key, Value>] = []
        shards.reserveCapacity(shardCount)
        // Capacities add up to exactly maxCount, so count never exceeds it.
        let base = configuration.maxCount / shardCount
        let extra = configuration.maxCount % shardCount
        let capacities = (0..<shardCount).map { UInt32(base + ($0 < extra ? 1 : 0)) }
        let memory = try ShardMemory(capacities: capacities, flags: flags,
                                     entryStride: MemoryLayout<SlotEntry<Key, Value>>.stride,
                                     entryAlignment: MemoryLayout<SlotEntry<Key, Value>>.alignment,
                                     stripeCount: CacheShard<Key, Value>.stripeCount)
        // Exact order where asked for (one shard); marks elsewhere under LRU; counts the other
        // policies compare (see CacheShard.marksHits).
        let marksHits = shardCount > 1 && configuration.policy == .lru
        for (index, capacity) in capacities.enumerated() {
            let share = Self.share(of: configuration.maxBytes, shard: index, shardCount: shardCount)
            shards.append(try CacheShard(capacity: capacity, flags: flags, byteShare: share, clock: clock,
                                         memory: memory, index: index, marksHits: marksHits,
                                         accessRecording: tier?.accessRecording))
        }
        let largest = UInt32(base + (extra > 0 ? 1 : 0))
        let footprint = UInt64(larder_core_footprint(largest, flags))
        let accessLogBytes = tier?.accessRecording == nil ? 0 : UInt64(ShardAccessLog.bytesPerSlot)
        self.slotOverhead = (footprint + UInt64(largest) - 1) / UInt64(largest) + accessLogBytes
        // The weigher classifies a type once; `.none` means it reports 0 heap
        // bytes for every value of that type.
        let heapFree = WeighingKind.of(Key.self) == .none && WeighingKind.of(Value.self) == .none
        self.fixedEntryWeight = heapFree
            ? UInt64(MemoryLayout<Key>.stride + MemoryLayout<Value>.stride) &+ slotOverhead : nil
        self.configuration = configuration
        self.shards = shards
        self.shardTable = .allocate(capacity: shards.count)
        for (index, shard) in shards.enumerated() { (shardTable + index).initialize(to: .passUnretained(shard)) }
        self.indexTable = .allocate(capacity: shards.count)
        for (index, shard) in shards.enumerated() { (indexTable + index).initialize(to: larder_core_index_view(shard.core)) }
        self.clock = clock
        self.logger = logger
        self.tier = tier
        self.hasTier = tier != nil
        self.shared = shared
        self.hasShared = shared != nil
        self.readsThrough = tier != nil || shared != nil
        self.hooks = hooks
        if let tier, tier.accessRecording != nil { tier.setAccessSource(Self.accessDrain(shards)) }
        if configuration.supportsExpiry, let interval = configuration.sweepInterval {
            sweeper.start(interval: interval, tickAtStart: false) { [weak self] in
                // The strong reference lives for one run, so releasing the cache ends the thread.
                guard let self else { return false }
                self.runBackgroundSweep()
                return true
            }
        }
        // The public shared initializer attaches a sink it builds itself (specialized).
        if attachingShared, let shared { shared.attach(sharedTierSink()) }
    }

    deinit {
        sweeper.stop()
        // Not `close()`: the last reference may go on the tier's own thread, which must not wait for itself.
        shared?.closeSoon()
        shardTable.deallocate()
        indexTable.deallocate()
    }

    // MARK: Reading

    /// The value stored for `key`, or `nil` when there is none or it has expired.
    ///
    /// A hit marks the entry most recent and counts in ``CacheStatistics/hits``;
    /// anything else counts in ``CacheStatistics/misses``. An expired entry
    /// found here is removed (counted in ``CacheStatistics/expiredRemovals``).
    @inlinable
    public func value(forKey key: Key) -> Value? {
        let hash = Self.hash(key)
        let index = shardIndexLoadingBucket(hash)
        let found = withShard(index) { lookUp(key, hash: hash, in: $0) }
        guard found == nil, readsThrough else { return found }
        if hasShared { return try? readShared(key, hash: hash) }
        guard let tier else { return nil }
        return promote(from: tier, key: key, hash: hash, shard: shards[shardIndex(hash)])
    }

    /// The body of ``value(forKey:)`` in one shard: a hit, or a miss (removing
    /// an expired entry). With a tier, a miss is counted after the tier was asked.
    @inlinable
    func lookUp(_ key: Key, hash: UInt64, in shard: CacheShard<Key, Value>) -> Value? {
        if hasShared { dropSharedEntriesIfStale(shard) }
        // A shard that threads share is read without its lock; one a thread uses
        // alone is cheapest under it (biased, see ShardMutex).
        if CacheShard<Key, Value>.readsOptimistically, shard.threadsShare.load(ordering: .relaxed) {
            switch shard.lookUpOptimistically(key, hash: hash, countsMiss: !readsThrough) {
            case .hit(let value):
                if hasTier { askForAccessDrainIfWanted(shard) }
                return value
            case .miss:
                Self.noteMiss(key, hash: hash)
                return nil
            case .busy:
                break
            }
        }
        shard.mutex.lock()
        // This thread's optimistic hits first, so that its touches stay in order.
        if CacheShard<Key, Value>.readsOptimistically { shard.noteLockerAndApplyOwnHits() }
        let slot = shard.find(key, hash: hash)
        if slot != larderNil {
            if !shard.isExpired(slot) {
                // The value's load first, so that its cache miss overlaps the
                // list neighbours' misses in the touch.
                let value = shard.entries[Int(slot)].value
                if shard.marksHits, !hasTier {
                    // A sharded LRU cache marks its hits whether or not threads share
                    // the shard: a byte instead of a move of three list nodes, and the
                    // same order either way (docs/Performance.md, "One thread's hits
                    // mark their entry too"). The tier ranks by the records below.
                    larder_core_mark_concurrent(shard.core, slot)
                } else {
                    larder_core_touch_inline(shard.core, slot)
                }
                shard.bump(shard.hits)
                if hasTier, let log = shard.accessRecord { larder_access_log_record(log, slot) }
                shard.mutex.unlock()
                if hasTier { askForAccessDrainIfWanted(shard) }
                return value
            }
            shard.beginWrite()
            let expired = shard.take(slot)
            shard.endWrite()
            shard.bump(shard.expiredRemovals)
            if !readsThrough { shard.bump(shard.misses) }
            shard.publishSize()
            shard.mutex.unlock()
            logExpired(count: 1, firstKey: expired.key)
        } else {
            if !readsThrough { shard.bump(shard.misses) }
            // A miss is usually followed by a set of the key, which on a full
            // shard evicts: the lines that eviction reads were loaded after the
            // shard's last one, but with many shards that was many operations
            // ago, and they may have left the L1 cache since. Load them again
            // (under S3-FIFO, whose hits move nothing, the newcomer's ghost
            // bucket instead; under W-TinyLFU also the newcomer's sketch block
            // and departures bucket: larder_core_prefetch_for_miss).
            if larder_core_count(shard.core) == shard.capacity { shard.prefetchForMiss(hash) }
            shard.mutex.unlock()
        }
        Self.noteMiss(key, hash: hash)
        return nil
    }

    /// The shard of `hash` (``shardIndex(_:)``), once its index bucket there
    /// has started loading. Why: the bucket's load is the first of each
    /// lookup's dependent misses, and finding it through the shard, then the
    /// shard's core, put two more dependent loads before it (each one's line
    /// was touched a shard count of operations ago, so not always in L1).
    @inlinable @inline(__always)
    func shardIndexLoadingBucket(_ hash: UInt64) -> Int {
        let index = shardIndex(hash)
        larder_index_view_prefetch(indexTable + index, hash)
        return index
    }

    /// Runs `body` with shard `index`, without retaining it: `shards` keeps
    /// every shard alive as long as `self`.
    @inlinable @inline(__always)
    func withShard<R>(_ index: Int, _ body: (CacheShard<Key, Value>) throws -> R) rethrows -> R {
        try shardTable[index]._withUnsafeGuaranteedRef(body)
    }

    /// Whether a live (unexpired) entry is stored for `key`.
    ///
    /// Changes neither recency nor the hit and miss counts. An expired entry
    /// found here is removed and counted in ``CacheStatistics/expiredRemovals``.
    /// Does not consult a lower tier.
    @inlinable
    public func contains(_ key: Key) -> Bool {
        let hash = Self.hash(key)
        let index = shardIndexLoadingBucket(hash)
        return withShard(index) { shard in contains(key, hash: hash, in: shard) }
    }

    @inlinable
    func contains(_ key: Key, hash: UInt64, in shard: CacheShard<Key, Value>) -> Bool {
        if hasShared { dropSharedEntriesIfStale(shard) }
        shard.mutex.lock()
        let slot = shard.find(key, hash: hash)
        guard slot != larderNil else {
            shard.mutex.unlock()
            return false
        }
        guard shard.isExpired(slot) else {
            shard.mutex.unlock()
            return true
        }
        shard.beginWrite()
        let expired = shard.take(slot)
        shard.endWrite()
        shard.bump(shard.expiredRemovals)
        shard.publishSize()
        shard.mutex.unlock()
        logExpired(count: 1, firstKey: expired.key)
        return false
    }

    /// Reads or writes the value for `key`.
    ///
    /// Reading is ``value(forKey:)``. Assigning a value is
    /// ``setValue(_:forKey:)-4fjdq`` with the default time to live; assigning `nil`
    /// is ``removeValue(forKey:)``. A value that cannot be stored (heavier than
    /// the byte budget) is dropped, the previous value stays, and the error is
    /// logged at `warning`; call ``setValue(_:forKey:)-4fjdq`` to handle it instead.
    @inlinable
    public subscript(key: Key) -> Value? {
        get { value(forKey: key) }
        set {
            guard let newValue else {
                removeValue(forKey: key)
                return
            }
            do {
                try setValue(newValue, forKey: key)
            } catch {
                logger?.warning("Larder: value not stored through the subscript: \(error)")
            }
        }
    }

    // MARK: Size and statistics

    /// The number of live entries (expired entries not yet removed included).
    public var count: Int {
        shards.reduce(0) { $0 + $1.entryCount.count }
    }

    /// The summed weight of the entries in bytes.
    public var totalBytes: Int {
        shards.reduce(0) { $0 &+ $1.totalWeight.count }
    }

    /// The counters, read without taking any lock.
    public var statistics: CacheStatistics {
        var result = CacheStatistics(effectiveByteBudget: effectiveByteBudget)
        for shard in shards {
            let recorded = shard.stripeCounts
            result.hits += shard.hits.load(ordering: .relaxed) &+ recorded.hits
            result.misses += shard.misses.load(ordering: .relaxed) &+ recorded.misses
            result.evictions += shard.evictions.count
            result.expiredRemovals += shard.expiredRemovals.load(ordering: .relaxed)
            result.pressureEvictions += shard.pressureEvictions.load(ordering: .relaxed)
            result.byteEvictions += shard.byteEvictions.load(ordering: .relaxed)
            result.currentSize += shard.entryCount.count
            result.totalBytes &+= shard.totalWeight.count
        }
        return result
    }

    // MARK: Closing

    /// Stops the background sweeper and, with a disk tier, commits what is
    /// pending and closes the store (releasing its directory lock).
    ///
    /// The memory tier stays usable: expired entries are then removed only when
    /// touched or by ``sweepExpired()``; with a disk tier, later sets throw
    /// ``CacheError/Code/closed`` and disk reads miss. Deinitialization does the
    /// same.
    public func close() {
        sweeper.stop()
        (tier as? any CacheClosableTier)?.close()
        shared?.close()
    }
}

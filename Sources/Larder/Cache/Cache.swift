import CLarderCore
import CLarderSystem
import Logging
import Synchronization

/// Hooks for tests and diagnostics, called outside every lock.
@usableFromInline
struct CacheHooks<Key: Sendable>: Sendable {
    /// Called with each key evicted to make room (count, bytes or pressure),
    /// in eviction order, after the shard's lock is dropped.
    @usableFromInline var onEvict: (@Sendable (Key) -> Void)? = nil
    /// Called after each run of the background sweeper with the number of
    /// entries it removed.
    @usableFromInline var onSweep: (@Sendable (Int) -> Void)? = nil

    init(onEvict: (@Sendable (Key) -> Void)? = nil, onSweep: (@Sendable (Int) -> Void)? = nil) {
        self.onEvict = onEvict
        self.onSweep = onSweep
    }
}

/// A thread-safe, memory-bounded, least-recently-used cache with optional
/// per-entry expiry.
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
/// time to live (``setValue(_:forKey:ttl:)`` or
/// ``CacheConfiguration/defaultTTL``). An entry whose deadline has come is
/// never returned: a call that touches it removes it, and a background sweeper
/// removes the ones nobody touches, at a cost proportional to what expires.
public final class Cache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The configuration the cache was created with.
    public let configuration: CacheConfiguration
    @usableFromInline let shards: [CacheShard<Key, Value>]
    /// The shards again, unretained, for hot paths (owned by `shards`).
    @usableFromInline nonisolated(unsafe) let shardTable: UnsafeMutablePointer<Unmanaged<CacheShard<Key, Value>>>
    @usableFromInline let clock: any CacheClock
    @usableFromInline let logger: Logger?
    @usableFromInline let tier: (any CacheBackingTier<Key, Value>)?
    /// `tier != nil`, without copying the existential on hot paths.
    @usableFromInline let hasTier: Bool
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

    /// Creates a cache over a lower tier (the durable store), with test hooks.
    init(configuration: CacheConfiguration, clock: any CacheClock = SystemCacheClock(),
         logger: Logger? = nil, tier: (any CacheBackingTier<Key, Value>)?,
         hooks: CacheHooks<Key> = CacheHooks()) throws(CacheError) {
        try configuration.validate()
        let shardCount = configuration.shardCount
        let flags: UInt32 = configuration.supportsExpiry ? UInt32(LARDER_CORE_EXPIRY) : 0
        var shards: [CacheShard<Key, Value>] = []
        shards.reserveCapacity(shardCount)
        // Capacities add up to exactly maxCount, so count never exceeds it.
        let base = configuration.maxCount / shardCount
        let extra = configuration.maxCount % shardCount
        for index in 0..<shardCount {
            let capacity = UInt32(base + (index < extra ? 1 : 0))
            let share = Self.share(of: configuration.maxBytes, shard: index, shardCount: shardCount)
            shards.append(try CacheShard(capacity: capacity, flags: flags, byteShare: share, clock: clock))
        }
        let largest = UInt32(base + (extra > 0 ? 1 : 0))
        let footprint = UInt64(larder_core_footprint(largest, flags))
        self.slotOverhead = (footprint + UInt64(largest) - 1) / UInt64(largest)
        // The weigher classifies a type once; `.none` means it reports 0 heap
        // bytes for every value of that type.
        let heapFree = WeighingKind.of(Key.self) == .none && WeighingKind.of(Value.self) == .none
        self.fixedEntryWeight = heapFree
            ? UInt64(MemoryLayout<Key>.stride + MemoryLayout<Value>.stride) &+ slotOverhead : nil
        self.configuration = configuration
        self.shards = shards
        self.shardTable = .allocate(capacity: shards.count)
        for (index, shard) in shards.enumerated() { (shardTable + index).initialize(to: .passUnretained(shard)) }
        self.clock = clock
        self.logger = logger
        self.tier = tier
        self.hasTier = tier != nil
        self.hooks = hooks
        if configuration.supportsExpiry, let interval = configuration.sweepInterval {
            sweeper.start(interval: interval, tickAtStart: false) { [weak self] in
                // The strong reference lives for one run, so releasing the cache ends the thread.
                guard let self else { return false }
                self.runBackgroundSweep()
                return true
            }
        }
    }

    deinit {
        sweeper.stop()
        shardTable.deallocate()
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
        let found = withShard(shardIndex(hash)) { lookUp(key, hash: hash, in: $0) }
        guard found == nil, hasTier, let tier else { return found }
        return promote(from: tier, key: key, hash: hash, shard: shards[shardIndex(hash)])
    }

    /// The body of ``value(forKey:)`` in one shard: a hit, or a miss (removing
    /// an expired entry). With a tier, a miss is counted after the tier was asked.
    @inlinable
    func lookUp(_ key: Key, hash: UInt64, in shard: CacheShard<Key, Value>) -> Value? {
        shard.mutex.lock()
        let slot = shard.find(key, hash: hash)
        if slot != larderNil {
            if !shard.isExpired(slot) {
                // The value's load first, so that its cache miss overlaps the
                // list neighbours' misses in the touch.
                let value = shard.entries[Int(slot)].value
                larder_core_touch_inline(shard.core, slot)
                shard.bump(shard.hits)
                shard.mutex.unlock()
                if hasTier { tier?.recordAccess(forKey: key) }
                return value
            }
            let expired = shard.take(slot)
            shard.bump(shard.expiredRemovals)
            if !hasTier { shard.bump(shard.misses) }
            shard.publishSize()
            shard.mutex.unlock()
            logExpired(count: 1, firstKey: expired.key)
        } else {
            if !hasTier { shard.bump(shard.misses) }
            shard.mutex.unlock()
        }
        Self.noteMiss(key, hash: hash)
        return nil
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
        return withShard(shardIndex(hash)) { shard in contains(key, hash: hash, in: shard) }
    }

    @inlinable
    func contains(_ key: Key, hash: UInt64, in shard: CacheShard<Key, Value>) -> Bool {
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
        let expired = shard.take(slot)
        shard.bump(shard.expiredRemovals)
        shard.publishSize()
        shard.mutex.unlock()
        logExpired(count: 1, firstKey: expired.key)
        return false
    }

    /// Reads or writes the value for `key`.
    ///
    /// Reading is ``value(forKey:)``. Assigning a value is
    /// ``setValue(_:forKey:)`` with the default time to live; assigning `nil`
    /// is ``removeValue(forKey:)``. A value that cannot be stored (heavier than
    /// the byte budget) is dropped, the previous value stays, and the error is
    /// logged at `warning`; call ``setValue(_:forKey:)`` to handle it instead.
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

    // MARK: Writing

    /// Stores `value` for `key` with the default time to live, marking it most recent.
    ///
    /// Evicts least-recent entries first when the cache is full or the entry
    /// does not fit in the byte budget.
    /// - Throws: ``CacheError/Code/valueTooLarge`` when the entry alone weighs
    ///   more than the byte budget's share (the cache is then unchanged), or
    ///   an error of the lower tier.
    @inlinable
    public func setValue(_ value: Value, forKey key: Key) throws(CacheError) {
        try store(value, forKey: key, deadline: defaultDeadline(), weight: nil)
    }

    /// Stores `value` for `key` with time to live `ttl`, marking it most recent.
    ///
    /// - Parameter ttl: how long the entry lives from now, `> 0`; `nil` for an
    ///   entry that never expires (the default time to live does not apply).
    /// - Throws: ``CacheError/Code/invalidTTL`` for a zero or negative `ttl`,
    ///   ``CacheError/Code/expiryNotSupported`` for a `ttl` on a cache without
    ///   expiry, ``CacheError/Code/valueTooLarge`` as for ``setValue(_:forKey:)``.
    @inlinable
    public func setValue(_ value: Value, forKey key: Key, ttl: Duration?) throws(CacheError) {
        try store(value, forKey: key, deadline: deadline(forTTL: ttl), weight: nil)
    }

    /// Stores `value` for `key` with time to live `ttl` and an explicit weight.
    ///
    /// - Parameter cost: the entry's whole weight in bytes against
    ///   ``CacheConfiguration/maxBytes`` (`>= 0`), replacing the measured one.
    /// - Throws: as ``setValue(_:forKey:ttl:)``, and
    ///   ``CacheError/Code/invalidConfiguration`` for a negative `cost`.
    @inlinable
    public func setValue(_ value: Value, forKey key: Key, ttl: Duration?, cost: Int) throws(CacheError) {
        guard cost >= 0 else {
            throw .invalidConfiguration("cost is \(cost); it must be >= 0 (an entry's weight in bytes).")
        }
        try store(value, forKey: key, deadline: deadline(forTTL: ttl), weight: UInt64(cost))
    }

    /// Removes the entry for `key` (here and in a lower tier).
    ///
    /// - Returns: the removed value, or `nil` when there was none or it had
    ///   expired (an expired entry is still removed, and counted in
    ///   ``CacheStatistics/expiredRemovals``).
    @inlinable @discardableResult
    public func removeValue(forKey key: Key) -> Value? {
        let hash = Self.hash(key)
        let shard = shards[shardIndex(hash)]
        // Marked as a removal from before the memory copy goes until after the
        // tier's does, so that no fill in between (a promotion, a computed
        // value, a tiered set) stores the key again (see CacheShard.fillSnapshot).
        let removed = removeFromMemory(key, hash: hash, asRemoval: true)
        if hasTier { tier?.remove(forKey: key) }
        shard.endRemoval()
        return removed
    }

    /// Removes the memory copy of `key`: its live value, or `nil` (an expired
    /// entry is removed, counted and logged as an expiry). `asRemoval`: begin
    /// a removal in the same lock hold (the caller ends it).
    @inlinable
    func removeFromMemory(_ key: Key, hash: UInt64, asRemoval: Bool = false) -> Value? {
        let shard = shards[shardIndex(hash)]
        var removed: (key: Key, value: Value)? = nil
        var expired = false
        shard.mutex.lock()
        if asRemoval { shard.beginRemoval() }
        let slot = shard.find(key, hash: hash)
        if slot != larderNil {
            expired = shard.isExpired(slot)
            removed = shard.take(slot)
            if expired { shard.bump(shard.expiredRemovals) }
            shard.publishSize()
        }
        shard.mutex.unlock()
        if expired, let removed {
            logExpired(count: 1, firstKey: removed.key)
            return nil
        }
        return removed?.value
    }

    /// Removes every entry (here and in a lower tier). Statistics other than
    /// size are kept.
    ///
    /// Each shard is emptied in bounded batches per lock hold, so other
    /// threads keep working meanwhile; entries stored concurrently with the
    /// call, after it reached their shard, may remain. With a lower tier, a
    /// set overlapping the call keeps no memory copy that the tier lacks, and
    /// no promotion or computed value overlapping it is stored.
    public func removeAll() {
        // A removal in every shard from before the tier is cleared until the
        // shards are drained: a set or fill overlapping it leaves no memory
        // copy that the tier lacks (see CacheShard.fillSnapshot).
        for shard in shards {
            shard.mutex.lock()
            shard.beginRemoval()
            shard.mutex.unlock()
        }
        defer { for shard in shards { shard.endRemoval() } }
        tier?.removeAll()
        for shard in shards {
            var remaining = -1
            while remaining != 0 {
                let drained = withVictimBuffer(Key.self, Value.self, capacity: Self.batchSize) { victims in
                    shard.mutex.lock()
                    if remaining < 0 { remaining = Int(larder_core_count(shard.core)) }
                    let drained = shard.drainLocked(maxEntries: remaining, victims: &victims)
                    shard.mutex.unlock()
                    return drained
                }
                if drained == 0 { break }
                remaining -= drained
            }
        }
    }

    // MARK: Size and statistics

    /// The number of live entries (expired entries not yet removed included).
    public var count: Int {
        shards.reduce(0) { $0 + $1.entryCount.load(ordering: .relaxed) }
    }

    /// The summed weight of the entries in bytes.
    public var totalBytes: Int {
        shards.reduce(0) { $0 &+ $1.totalWeight.load(ordering: .relaxed) }
    }

    /// The counters, read without taking any lock.
    public var statistics: CacheStatistics {
        var result = CacheStatistics(effectiveByteBudget: effectiveByteBudget)
        for shard in shards {
            result.hits += shard.hits.load(ordering: .relaxed)
            result.misses += shard.misses.load(ordering: .relaxed)
            result.evictions += shard.evictions.load(ordering: .relaxed)
            result.expiredRemovals += shard.expiredRemovals.load(ordering: .relaxed)
            result.pressureEvictions += shard.pressureEvictions.load(ordering: .relaxed)
            result.currentSize += shard.entryCount.load(ordering: .relaxed)
            result.totalBytes &+= shard.totalWeight.load(ordering: .relaxed)
        }
        return result
    }

    // MARK: Expiry

    /// Removes every entry whose deadline has come, in bounded batches per
    /// lock hold; what the background sweeper runs.
    ///
    /// Costs time in proportion to the entries that expire (the C core files
    /// deadlines in a timer wheel), not to the size of the cache.
    /// - Returns: the number of entries removed.
    @discardableResult
    public func sweepExpired() -> Int {
        guard configuration.supportsExpiry else { return 0 }
        let now = clock.monotonicNanoseconds()
        var total = 0
        for shard in shards {
            while true {
                let removed = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: Self.batchSize) { slots in
                    withVictimBuffer(Key.self, Value.self, capacity: Self.batchSize) { victims in
                        shard.mutex.lock()
                        let removed = shard.expireLocked(now: now, slots: slots.baseAddress!, victims: &victims)
                        shard.mutex.unlock()
                        if removed > 0 { logExpired(victims) }
                        return removed
                    }
                }
                total += removed
                if removed < Self.batchSize { break }
            }
        }
        return total
    }

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
    }

    func runBackgroundSweep() {
        let removed = sweepExpired()
        if let logger {
            if removed > 0 {
                logger.debug("Larder sweeper removed expired entries", metadata: ["removed": "\(removed)"])
            } else {
                logger.trace("Larder sweeper found nothing expired")
            }
        }
        sweeperRuns.wrappingAdd(1, ordering: .relaxed)
        hooks.onSweep?(removed)
    }
}

// MARK: - Internals

extension Cache {
    /// The key's hash from Swift's `Hasher` (seeded per process: never persisted).
    @inlinable
    static func hash(_ key: Key) -> UInt64 {
        UInt64(bitPattern: Int64(key.hashValue))
    }

    /// Whether `Key`'s bytes are its whole value and fit the miss hint
    /// (larder_miss_hint.h): a trivial type of at most 16 bytes. Constant
    /// once specialized.
    @inlinable
    static var keyFitsMissHint: Bool { _isPOD(Key.self) && MemoryLayout<Key>.size <= 16 }

    /// `Key`'s identity in the miss hint: two key types with the same bytes
    /// may hash differently.
    @inlinable
    static var keyTypeIdentity: UnsafeRawPointer { unsafeBitCast(Key.self as Any.Type, to: UnsafeRawPointer.self) }

    /// `key`'s bytes, zero-padded to 16 (call only when `keyFitsMissHint`).
    @inlinable @inline(__always)
    static func hintBytes(of key: Key) -> (UInt64, UInt64) {
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeBytes(of: key) { source in
            withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: source) }
        }
        return bytes
    }

    /// Leaves a missed key's hash for a set of the same key on this thread.
    @inlinable @inline(__always)
    static func noteMiss(_ key: Key, hash: UInt64) {
        guard keyFitsMissHint else { return }
        let hint = larder_thread_miss_hint()!
        hint.pointee.key = hintBytes(of: key)
        hint.pointee.hash = hash
        hint.pointee.type = keyTypeIdentity
    }

    /// The hash of a key being stored: the miss hint's when this thread's last
    /// miss was the same key (the get-then-set of cache-aside code), else
    /// computed. Equal type and bytes give the same hash: for a trivial type
    /// the bytes are the whole value.
    @inlinable @inline(__always)
    static func hashForStore(_ key: Key) -> UInt64 {
        if keyFitsMissHint {
            let hint = larder_thread_miss_hint()!
            if hint.pointee.type == keyTypeIdentity && hint.pointee.key == hintBytes(of: key) {
                return hint.pointee.hash
            }
        }
        return hash(key)
    }

    /// The shard for a hash. The C core takes the index tag from the high 32
    /// bits and the bucket from the low bits, so the shard comes from a
    /// multiplicative mix of all 64 bits (then Lemire's multiply-shift range
    /// reduction): a shard's keys still spread over its whole index.
    @inlinable
    func shardIndex(_ hash: UInt64) -> Int {
        let count = UInt64(shards.count)
        if count == 1 { return 0 }
        let mixed = (hash &* 0x9E37_79B9_7F4A_7C15) >> 32
        return Int((mixed &* count) >> 32)
    }

    /// The share of `total` bytes shard `index` gets: the shares add up to `total`.
    @inlinable @inline(__always)
    static func share(of total: Int?, shard index: Int, shardCount: Int) -> UInt64 {
        guard let total else { return .max }
        let bytes = max(0, total)
        return UInt64(bytes / shardCount + (index < bytes % shardCount ? 1 : 0))
    }

    /// The budget in force: min(maxBytes, pressure budget), `nil` when neither is set.
    @inlinable
    var effectiveByteBudget: Int? {
        let pressure = pressureBudget.load(ordering: .relaxed)
        switch (configuration.maxBytes, pressure >= 0 ? pressure : nil) {
        case (nil, nil): return nil
        case (let limit?, nil): return limit
        case (nil, let pressure?): return pressure
        case (let limit?, let pressure?): return min(limit, pressure)
        }
    }

    /// An entry's weight when no cost is given: inline sizes in the slot
    /// arrays, the core's bookkeeping per slot, and the heap bytes measured.
    @inlinable
    func naturalWeight(key: Key, value: Value) -> UInt64 {
        if let fixedEntryWeight { return fixedEntryWeight }
        let inline = UInt64(MemoryLayout<Key>.stride + MemoryLayout<Value>.stride)
        let heap = UInt64(max(0, Self.heapBytes(key: key, value: value)))
        return inline &+ slotOverhead &+ heap
    }

    /// EntryWeigher's measure (not inlinable: the memory work owns it).
    @usableFromInline
    static func heapBytes(key: Key, value: Value) -> Int {
        EntryWeigher.heapBytes(key: key, value: value)
    }

    /// The deadline for a set with `ttl` (`nil`: never), validated.
    @inlinable
    func deadline(forTTL ttl: Duration?) throws(CacheError) -> UInt64 {
        guard let ttl else { return larderNoDeadline }
        guard configuration.supportsExpiry else {
            throw CacheError(code: .expiryNotSupported, message:
                "a ttl (\(ttl)) was given to a cache created with supportsExpiry: false; "
                + "pass ttl: nil or create the cache with supportsExpiry: true.")
        }
        guard ttl > .zero else {
            throw CacheError(code: .invalidTTL, message:
                "ttl is \(ttl); it must be > 0 (an entry with ttl <= 0 would be expired when stored). "
                + "Pass a positive duration, or nil for an entry that never expires.")
        }
        let now = clock.monotonicNanoseconds()
        let (sum, overflow) = now.addingReportingOverflow(ttl.saturatingNanoseconds)
        // A deadline beyond the clock's range is "practically never", still a deadline.
        return overflow || sum >= larderNoDeadline ? larderNoDeadline - 1 : sum
    }

    @inlinable
    func defaultDeadline() -> UInt64 {
        guard let ttl = configuration.defaultTTL else { return larderNoDeadline }
        // Validated at creation, so this cannot throw.
        return (try? deadline(forTTL: ttl)) ?? larderNoDeadline
    }

    @usableFromInline
    func tooLarge(weight: UInt64, share: UInt64) -> CacheError {
        let shardCount = configuration.shardCount
        var budget = "maxBytes (\(configuration.maxBytes.map(String.init) ?? "none"))"
        let pressure = pressureBudget.load(ordering: .relaxed)
        if pressure >= 0 { budget += " under a memory-pressure budget of \(pressure) bytes" }
        if weight > larderMaxWeight {
            return CacheError(code: .valueTooLarge, message:
                "the entry weighs \(weight) bytes, more than the largest weight an entry may carry "
                + "(\(larderMaxWeight)); store a smaller value or pass a smaller cost.")
        }
        return CacheError(code: .valueTooLarge, message:
            "the entry weighs \(weight) bytes, more than its shard's share (\(share) bytes) of \(budget) "
            + "split over \(shardCount) shard(s); raise maxBytes, lower shardCount, or store a smaller value. "
            + "The cache is unchanged.")
    }

    /// The write path: weigh, refuse what cannot fit, store in the lower
    /// tier, then in memory (evicting least-recent entries as needed).
    ///
    /// `fillSnapshot`: a fill's snapshot (see ``CacheShard/fillSnapshot()``),
    /// taken before it computed; a removal since then keeps it out of memory.
    /// - Returns: how the memory insert went.
    @inlinable @discardableResult
    func store(_ value: Value, forKey key: Key, deadline: UInt64, weight explicitWeight: UInt64?,
               mode: StoreMode = .overwrite, writeThrough: Bool = true,
               fillSnapshot: UInt64? = nil) throws(CacheError) -> StoreOutcome {
        let weight = explicitWeight ?? naturalWeight(key: key, value: value)
        let hash = Self.hashForStore(key)
        let index = shardIndex(hash)
        // Refused before the tier sees it; checked again under the lock, where the
        // share may have shrunk meanwhile under memory pressure.
        let share = Self.share(of: effectiveByteBudget, shard: index, shardCount: shards.count)
        guard weight <= share, weight <= larderMaxWeight else {
            throw tooLarge(weight: weight, share: share)
        }
        var fillSnapshot = fillSnapshot
        if writeThrough, hasTier, let tier {
            // A removal between the tier's write and memory's must not leave a
            // memory copy the tier lacks.
            if fillSnapshot == nil { fillSnapshot = shards[index].fillSnapshot() }
            try tier.store(value, forKey: key, deadline: deadline == larderNoDeadline ? nil : deadline)
        }
        let outcome = withShard(index) { shard in
            insert(value, forKey: key, hash: hash, shard: shard, weight: weight, deadline: deadline, mode: mode,
                   fillSnapshot: fillSnapshot)
        }
        if case .tooLarge(let share) = outcome {
            if writeThrough, hasTier {
                // The share shrank (memory pressure) after the check above, and the
                // tier already holds the new value: it is stored, on disk only. Drop
                // the previous value from memory, or reads would return it until evicted.
                _ = removeFromMemory(key, hash: hash)
                logger?.debug("Larder: value stored in the lower tier only (memory share \(share) bytes, entry \(weight) bytes)")
                return outcome
            }
            throw tooLarge(weight: weight, share: share)
        }
        return outcome
    }

    /// Stores into one shard, a bounded batch of evictions per lock hold;
    /// evicted entries are reported and released after each hold.
    @inlinable
    func insert(_ value: Value, forKey key: Key, hash: UInt64, shard: CacheShard<Key, Value>,
                weight: UInt64, deadline: UInt64, mode: StoreMode, fillSnapshot: UInt64? = nil) -> StoreOutcome {
        // Without a byte budget a set evicts at most one entry.
        let batch = shard.byteShare == .max && mode != .restoreAtLRU ? 1 : Self.batchSize
        while true {
            let outcome = withVictimBuffer(Key.self, Value.self, capacity: batch) { victims in
                shard.mutex.lock()
                let outcome = shard.storeLocked(key: key, hash: hash, value: value, weight: weight,
                                                deadline: deadline, mode: mode, fillSnapshot: fillSnapshot,
                                                victims: &victims)
                shard.mutex.unlock()
                if victims.count > 0, hooks.onEvict != nil || logger != nil { reportEvictions(victims) }
                return outcome
            }
            if case .needsMoreRoom = outcome { continue }
            return outcome
        }
    }

    /// A memory miss with a lower tier: load, promote, count.
    @usableFromInline
    func promote(from tier: any CacheBackingTier<Key, Value>, key: Key, hash: UInt64,
                 shard: CacheShard<Key, Value>) -> Value? {
        var found: Value? = nil
        var deadline = larderNoDeadline
        // Before the load: a removal after it must keep the loaded value out.
        let snapshot = shard.fillSnapshot()
        if let loaded = tier.load(forKey: key) {
            if let loadedDeadline = loaded.deadline {
                if loadedDeadline > clock.monotonicNanoseconds() {
                    found = loaded.value
                    if configuration.supportsExpiry { deadline = loadedDeadline }
                }
            } else {
                found = loaded.value
            }
        }
        if let found {
            let weight = naturalWeight(key: key, value: found)
            if weight <= shard.byteShareSnapshot, weight <= larderMaxWeight {
                _ = insert(found, forKey: key, hash: hash, shard: shard, weight: weight,
                           deadline: deadline, mode: .ifAbsent, fillSnapshot: snapshot)
            }
        }
        shard.mutex.lock()
        if found == nil { shard.bump(shard.misses) } else { shard.bump(shard.hits) }
        shard.mutex.unlock()
        return found
    }

    @usableFromInline
    func reportEvictions(_ victims: VictimBuffer<Key, Value>) {
        if let onEvict = hooks.onEvict {
            for index in 0..<victims.count { onEvict(victims.keys[index]) }
        }
        guard let logger, logger.logLevel <= .debug else { return }
        logger.debug("Larder evicted least-recent entries", metadata: ["count": "\(victims.count)"])
        if logger.logLevel <= .trace {
            for index in 0..<victims.count {
                logger.trace("Larder evicted entry", metadata: ["key": "\(victims.keys[index])"])
            }
        }
    }

    @usableFromInline
    func logExpired(_ victims: VictimBuffer<Key, Value>) {
        guard let logger, logger.logLevel <= .debug else { return }
        logger.debug("Larder removed expired entries", metadata: ["count": "\(victims.count)"])
        if logger.logLevel <= .trace {
            for index in 0..<victims.count {
                logger.trace("Larder removed expired entry", metadata: ["key": "\(victims.keys[index])"])
            }
        }
    }

    @usableFromInline
    func logExpired(count: Int, firstKey key: Key) {
        guard let logger, logger.logLevel <= .trace else { return }
        logger.trace("Larder removed expired entry", metadata: ["key": "\(key)"])
    }

    /// Inserts recovered entries, given most recent first, at the least-recent
    /// end of their shards, without storing them in the tier again. Skips
    /// expired entries, keys already present, and entries that do not fit a
    /// shard's remaining count or bytes (nothing is evicted for them).
    /// - Returns: the number of entries inserted.
    @discardableResult
    func restore(_ entries: [(key: Key, value: Value, deadline: UInt64?)]) -> Int {
        let now = clock.monotonicNanoseconds()
        var restored = 0
        for entry in entries {
            var deadline = larderNoDeadline
            if let entryDeadline = entry.deadline {
                if entryDeadline <= now { continue }
                if configuration.supportsExpiry { deadline = entryDeadline }
            }
            let weight = naturalWeight(key: entry.key, value: entry.value)
            guard weight <= larderMaxWeight else { continue }
            let hash = Self.hash(entry.key)
            let outcome = insert(entry.value, forKey: entry.key, hash: hash, shard: shards[shardIndex(hash)],
                                 weight: weight, deadline: deadline, mode: .restoreAtLRU)
            if case .stored = outcome { restored += 1 }
        }
        logger?.debug("Larder restored entries from the lower tier", metadata: ["restored": "\(restored)"])
        return restored
    }
}

extension CacheShard {
    /// The byte share, read under the lock.
    var byteShareSnapshot: UInt64 {
        mutex.lock()
        defer { mutex.unlock() }
        return byteShare
    }
}

extension Cache {
    /// Verifies every shard's core (larder_core_check) and that the published
    /// counters match it: 0 when consistent, otherwise the first failing code
    /// (100 + n: a counter mismatch in shard n). Takes each shard's lock.
    func checkInvariants() -> Int {
        for (index, shard) in shards.enumerated() {
            shard.mutex.lock()
            defer { shard.mutex.unlock() }
            let code = Int(larder_core_check(shard.core))
            if code != 0 { return code }
            if shard.entryCount.load(ordering: .relaxed) != Int(larder_core_count(shard.core))
                || shard.totalWeight.load(ordering: .relaxed) != Int(clamping: larder_core_total_weight(shard.core)) {
                return 100 + index
            }
        }
        return 0
    }
}

extension Cache {
    /// Each shard's keys, least recent first (for tests and diagnostics).
    func keysByRecency() -> [[Key]] {
        shards.map { shard in
            var keys: [Key] = []
            keys.reserveCapacity(Int(shard.capacity))  // no allocation under the lock
            shard.mutex.lock()
            var slot = larder_core_lru(shard.core)
            while slot != larderNil {
                keys.append(shard.entries[Int(slot)].key)
                slot = larder_core_newer(shard.core, slot)
            }
            shard.mutex.unlock()
            return keys
        }
    }
}

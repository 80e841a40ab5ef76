import CLarderCore
import Logging

/// The write path: sets, weighing, deadlines, and the store into a shard.
extension Cache {
    // MARK: Setting values

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
    /// - Parameters:
    ///   - value: the value to store.
    ///   - key: the key to store it under.
    ///   - ttl: how long the entry lives from now, `> 0`; `nil` for an
    ///     entry that never expires (the default time to live does not apply).
    /// - Throws: ``CacheError/Code/invalidTTL`` for a zero or negative `ttl`,
    ///   ``CacheError/Code/expiryNotSupported`` for a `ttl` on a cache without
    ///   expiry, ``CacheError/Code/valueTooLarge`` as for ``setValue(_:forKey:)-4fjdq``.
    @inlinable
    public func setValue(_ value: Value, forKey key: Key, ttl: Duration?) throws(CacheError) {
        try store(value, forKey: key, deadline: deadline(forTTL: ttl), weight: nil)
    }

    /// Stores `value` for `key` with time to live `ttl` and an explicit weight.
    ///
    /// - Parameters:
    ///   - value: the value to store.
    ///   - key: the key to store it under.
    ///   - ttl: how long the entry lives from now, `> 0`, or `nil` for an
    ///     entry that never expires; as in ``setValue(_:forKey:ttl:)-3g88o``.
    ///   - cost: the entry's whole weight in bytes against
    ///     ``CacheConfiguration/maxBytes`` (`>= 0`), replacing the measured one.
    /// - Throws: as ``setValue(_:forKey:ttl:)-3g88o``, and
    ///   ``CacheError/Code/invalidConfiguration`` for a negative `cost`.
    @inlinable
    public func setValue(_ value: Value, forKey key: Key, ttl: Duration?, cost: Int) throws(CacheError) {
        guard cost >= 0 else {
            throw .invalidConfiguration("cost is \(cost); it must be >= 0 (an entry's weight in bytes).")
        }
        try store(value, forKey: key, deadline: deadline(forTTL: ttl), weight: UInt64(cost))
    }

    // MARK: The write path

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
        let write = try prepareStore(value, forKey: key, weight: explicitWeight, writeThrough: writeThrough,
                                     fillSnapshot: fillSnapshot)
        if write.toTier, let tier {
            try tier.store(value, forKey: key, deadline: deadline == larderNoDeadline ? nil : deadline)
        }
        if write.toShared { return try storeShared(value, forKey: key, deadline: deadline, mode: mode, write) }
        return try finishStore(value, forKey: key, deadline: deadline, mode: mode, write)
    }

    /// A write on its way: weighed, placed, and whether the lower tier takes it.
    @usableFromInline
    struct PreparedWrite {
        @usableFromInline let weight: UInt64
        @usableFromInline let hash: UInt64
        @usableFromInline let index: Int
        @usableFromInline let toTier: Bool
        /// Whether the shared tier takes it (and installs the local copy).
        @usableFromInline let toShared: Bool
        @usableFromInline let fillSnapshot: UInt64?

        @inlinable
        init(weight: UInt64, hash: UInt64, index: Int, toTier: Bool, toShared: Bool, fillSnapshot: UInt64?) {
            self.weight = weight
            self.hash = hash
            self.index = index
            self.toTier = toTier
            self.toShared = toShared
            self.fillSnapshot = fillSnapshot
        }
    }

    /// Weighs the entry and refuses it before the tier sees it when it cannot fit
    /// (checked again under the lock, where the share may have shrunk meanwhile
    /// under memory pressure).
    @inlinable @inline(__always)
    func prepareStore(_ value: Value, forKey key: Key, weight explicitWeight: UInt64?, writeThrough: Bool,
                      fillSnapshot: UInt64?) throws(CacheError) -> PreparedWrite {
        let weight = explicitWeight ?? naturalWeight(key: key, value: value)
        let hash = Self.hashForStore(key)
        let index = shardIndexLoadingBucket(hash)
        let share = Self.share(of: effectiveByteBudget, shard: index, shardCount: shards.count)
        guard weight <= share, weight <= larderMaxWeight else {
            throw tooLarge(weight: weight, share: share)
        }
        let toTier = writeThrough && hasTier
        let toShared = writeThrough && hasShared
        var fillSnapshot = fillSnapshot
        if toShared, fillSnapshot == nil {
            // An invalidation or removal before the server's acknowledgement keeps the local copy out.
            fillSnapshot = shards[index].fillSnapshot()
        }
        if toTier {
            // A removal between the tier's write and memory's must not leave a
            // memory copy the tier lacks.
            if fillSnapshot == nil { fillSnapshot = shards[index].fillSnapshot() }
            // This thread's hits still waiting in the shard's read buffer are
            // stamped now, before this write takes its stamp: they came first.
            if CacheShard<Key, Value>.readsOptimistically { withShard(index) { $0.applyOwnRecordedHits() } }
        }
        return PreparedWrite(weight: weight, hash: hash, index: index, toTier: toTier, toShared: toShared,
                             fillSnapshot: fillSnapshot)
    }

    /// The memory half of a write, after the tier's.
    @inlinable @inline(__always)
    func finishStore(_ value: Value, forKey key: Key, deadline: UInt64, mode: StoreMode,
                     _ write: PreparedWrite) throws(CacheError) -> StoreOutcome {
        let outcome = withShard(write.index) { shard in
            insert(value, forKey: key, hash: write.hash, shard: shard, weight: write.weight, deadline: deadline,
                   mode: mode, fillSnapshot: write.fillSnapshot)
        }
        if case .tooLarge(let share) = outcome {
            if write.toTier {
                // The share shrank (memory pressure) after the check above, and the
                // tier already holds the new value: it is stored, on disk only. Drop
                // the previous value from memory, or reads would return it until evicted.
                _ = removeFromMemory(key, hash: write.hash)
                logger?.debug("Larder: value stored in the lower tier only (memory share \(share) bytes, entry \(write.weight) bytes)")
                return outcome
            }
            throw tooLarge(weight: write.weight, share: share)
        }
        return outcome
    }

    /// Stores into one shard, a bounded batch of evictions per lock hold;
    /// evicted entries are reported and released after each hold.
    /// `countingHit`: count a hit in the first hold (a promotion from the tier).
    @inlinable @inline(__always)
    func insert(_ value: Value, forKey key: Key, hash: UInt64, shard: CacheShard<Key, Value>,
                weight: UInt64, deadline: UInt64, mode: StoreMode, fillSnapshot: UInt64? = nil,
                countingHit: Bool = false) -> StoreOutcome {
        // Entries of a lost connection go before anything new comes in.
        if hasShared { dropSharedEntriesIfStale(shard) }
        // Without a byte budget a set evicts at most one entry.
        let batch = shard.byteShare == .max && mode != .restoreAtLRU ? 1 : Self.batchSize
        var countHit = countingHit
        while true {
            let outcome = withVictimBuffer(Key.self, Value.self, capacity: batch) { victims in
                shard.lockForWrite()
                if countHit { shard.bump(shard.hits) }
                let outcome = shard.storeLocked(key: key, hash: hash, value: value, weight: weight,
                                                deadline: deadline, mode: mode, fillSnapshot: fillSnapshot,
                                                victims: &victims)
                // A promotion is an access: the tier's recency order hears of it.
                if countHit, case .stored = outcome, let log = shard.accessLog {
                    let slot = shard.find(key, hash: hash)
                    if slot != larderNil { log.record(slot) }
                }
                shard.unlockAfterWrite()
                if victims.count > 0, hooks.onEvict != nil || logger != nil { reportEvictions(victims) }
                return outcome
            }
            countHit = false
            if case .needsMoreRoom = outcome { continue }
            return outcome
        }
    }
}

import CLarderCore

/// Hooks for tests and diagnostics, called outside every lock.
@usableFromInline
struct CacheHooks<Key: Sendable>: Sendable {
    /// Called with each key evicted to make room (count, bytes or pressure),
    /// in eviction order, after the shard's lock is dropped.
    @usableFromInline var onEvict: (@Sendable (Key) -> Void)? = nil
    /// Called after each run of the background sweeper with the number of
    /// entries it removed.
    @usableFromInline var onSweep: (@Sendable (Int) -> Void)? = nil

    @usableFromInline
    init(onEvict: (@Sendable (Key) -> Void)? = nil, onSweep: (@Sendable (Int) -> Void)? = nil) {
        self.onEvict = onEvict
        self.onSweep = onSweep
    }
}

/// Checks and views for tests and diagnostics.
extension Cache {
    /// Verifies every shard's core (larder_core_check) and that the published
    /// counters match it: 0 when consistent, otherwise the first failing code
    /// (100 + n: a counter mismatch in shard n). Takes each shard's lock.
    func checkInvariants() -> Int {
        for (index, shard) in shards.enumerated() {
            shard.mutex.lock()
            defer { shard.mutex.unlock() }
            shard.applyAllRecordedHits()
            let code = Int(larder_core_check(shard.core))
            if code != 0 { return code }
            if shard.entryCount.count != Int(larder_core_count(shard.core))
                || shard.totalWeight.count != Int(clamping: larder_core_total_weight(shard.core)) {
                return 100 + index
            }
        }
        return 0
    }

    /// Each shard's keys, least recent first (for tests and diagnostics).
    func keysByRecency() -> [[Key]] {
        shards.map { shard in
            var keys: [Key] = []
            keys.reserveCapacity(Int(shard.capacity))  // no allocation under the lock
            shard.mutex.lock()
            shard.applyAllRecordedHits()
            var slot = larder_core_lru(shard.core)
            while slot != larderNil {
                keys.append(shard.entries[Int(slot)].key)
                slot = larder_core_newer(shard.core, slot)
            }
            shard.mutex.unlock()
            return keys
        }
    }

    /// Callers blocked or suspended waiting on the flight for `key`.
    func waitingCallers(forKey key: Key) -> Int {
        shards[shardIndex(Self.hash(key))].flights.withLock { $0[key]?.waiterCount ?? 0 }
    }

    /// Whether a computation for `key` is in flight.
    func hasFlight(forKey key: Key) -> Bool {
        shards[shardIndex(Self.hash(key))].flights.withLock { $0[key] != nil }
    }
}

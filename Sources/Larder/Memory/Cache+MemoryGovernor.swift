import CLarderCore

/// What the memory governor drives a cache through: all called outside any lock.
extension Cache: MemoryGovernedCache {
    /// Sets (or with `nil` lifts) the memory-pressure budget in bytes. The
    /// effective budget becomes min(maxBytes, pressure budget), split over the
    /// shards like maxBytes. Sets from now on evict to fit it; entries already
    /// over it go when ``evictTowardBudget(maxEntries:)`` runs.
    func setPressureBudget(_ bytes: Int?) {
        pressureBudget.store(bytes.map { max(0, $0) } ?? -1, ordering: .relaxed)
        let budget = effectiveByteBudget
        for (index, shard) in shards.enumerated() {
            let share = Self.share(of: budget, shard: index, shardCount: shards.count)
            shard.mutex.lock()
            shard.byteShare = share
            shard.mutex.unlock()
        }
        logger?.debug("Larder byte budget changed", metadata: [
            "pressureBudget": "\(bytes.map(String.init) ?? "none")",
            "effectiveBudget": "\(budget.map(String.init) ?? "none")",
        ])
    }

    /// Evicts least-recent entries until every shard is within its share of
    /// the effective budget (so totalBytes <= it) or `maxEntries` were
    /// evicted; each lock hold evicts a bounded batch. Counted in
    /// ``CacheStatistics/pressureEvictions`` and ``CacheStatistics/evictions``.
    /// - Returns: the entries evicted and the bytes they weighed.
    @discardableResult
    func evictTowardBudget(maxEntries: Int) -> (entries: Int, bytes: Int) {
        var entries = 0
        var bytes = 0
        for shard in shards {
            while entries < maxEntries {
                let (evicted, freed) = withVictimBuffer(Key.self, Value.self, capacity: Self.batchSize) {
                    victims -> (Int, UInt64) in
                    shard.lockForWrite()
                    let before = larder_core_total_weight(shard.core)
                    let evicted = shard.evictTowardLocked(limit: shard.byteShare, maxEntries: maxEntries - entries,
                                                          victims: &victims)
                    let freed = before - larder_core_total_weight(shard.core)
                    shard.unlockAfterWrite()
                    if evicted > 0 { reportEvictions(victims) }
                    return (evicted, freed)
                }
                entries += evicted
                bytes &+= Int(clamping: freed)
                if evicted < Self.batchSize { break }
            }
        }
        if entries > 0 {
            logger?.debug("Larder evicted entries under memory pressure",
                          metadata: ["entries": "\(entries)", "bytes": "\(bytes)"])
        }
        return (entries, bytes)
    }
}

extension MemoryGovernor {
    /// Puts `cache` under this governor: under memory pressure its effective byte budget
    /// is lowered and its least-recent entries evicted. The governor holds the cache
    /// weakly, so a released cache drops out by itself; registering twice has no effect.
    public func register<Key, Value>(_ cache: Cache<Key, Value>) {
        register(governed: cache)
    }

    /// Releases `cache` from this governor and lifts any pressure budget it set.
    public func unregister<Key, Value>(_ cache: Cache<Key, Value>) {
        unregister(governed: cache)
    }
}

import CLarderCore
import Synchronization

/// Removals: one key, or everything, in memory and the lower tier.
extension Cache {
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
        if hasShared { removeShared(key) }
        shard.endRemoval()
        return removed
    }

    /// Removes the memory copy of `key`: its live value, or `nil` (an expired
    /// entry is removed, counted and logged as an expiry). `asRemoval`: begin
    /// a removal in the same lock hold (the caller ends it).
    @inlinable
    func removeFromMemory(_ key: Key, hash: UInt64, asRemoval: Bool = false) -> Value? {
        let shard = shards[shardIndexLoadingBucket(hash)]
        var removed: (key: Key, value: Value)? = nil
        var expired = false
        shard.lockForWrite()
        if asRemoval { shard.beginRemoval() }
        let slot = shard.find(key, hash: hash)
        if slot != larderNil {
            expired = shard.isExpired(slot)
            removed = shard.take(slot)
            if expired { shard.bump(shard.expiredRemovals) }
            shard.publishSize()
        }
        shard.unlockAfterWrite()
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
        if hasShared { removeAllShared() }
        for shard in shards {
            var remaining = -1
            while remaining != 0 {
                let drained = withVictimBuffer(Key.self, Value.self, capacity: Self.batchSize) { victims in
                    shard.lockForWrite()
                    if remaining < 0 { remaining = Int(larder_core_count(shard.core)) }
                    let drained = shard.drainLocked(maxEntries: remaining, victims: &victims)
                    shard.unlockAfterWrite()
                    return drained
                }
                if drained == 0 { break }
                remaining -= drained
            }
        }
    }
}

import CLarderCore
import Synchronization

/// Expiry: the sweep of entries whose deadline has come, and the background sweeper's run.
extension Cache {
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
        // A shard that has held no entry with a deadline since it was last
        // empty has nothing to expire: skipped without its lock. Locking it
        // would make the sweeper's thread one of its lockers, so a shard one
        // thread uses alone would lose its mutex's bias and read as shared
        // (CacheShard.threadsShare) until that thread's next long streak:
        // every second, under the default sweep interval, on every shard of
        // a cache whose entries carry no time to live. A deadline stored
        // while this runs is swept on the next run.
        for shard in shards where shard.mayHaveDeadlines {
            while true {
                let removed = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: Self.batchSize) { slots in
                    withVictimBuffer(Key.self, Value.self, capacity: Self.batchSize) { victims in
                        shard.lockForWrite()
                        let removed = shard.expireLocked(now: now, slots: slots.baseAddress!, victims: &victims)
                        shard.unlockAfterWrite()
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

import CLarderCore
import CLarderSystem
import Synchronization

/// The lower tier (the durable store): promotion of a memory miss, restore after a restart.
extension Cache {
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
        // One lock hold: the store counts the hit, or a miss takes the lock to count it.
        // The share is read unlocked; the store checks it again under the lock.
        // A get-or-compute of this key that is writing its value (to the tier, then
        // to memory) may be what was just loaded: putting it in memory first would
        // make that caller's memory insert find it and, unable to tell it from a
        // concurrent set, drop the key. It is returned; the computing caller stores it.
        if let found, !shard.flights.withLock({ $0[key] != nil }) {
            let weight = naturalWeight(key: key, value: found)
            if weight <= shard.byteShare, weight <= larderMaxWeight {
                _ = insert(found, forKey: key, hash: hash, shard: shard, weight: weight,
                           deadline: deadline, mode: .ifAbsent, fillSnapshot: snapshot, countingHit: true)
                return found
            }
        }
        shard.mutex.lock()
        if found == nil { shard.bump(shard.misses) } else { shard.bump(shard.hits) }
        shard.mutex.unlock()
        return found
    }

    /// Asks the tier to take recorded accesses when `shard`'s log filled a batch.
    @inlinable @inline(__always)
    func askForAccessDrainIfWanted(_ shard: CacheShard<Key, Value>) {
        if let log = shard.accessRecord, larder_access_log_take_drain_request(log) != 0 {
            tier?.requestAccessDrain()
        }
    }

    /// The tier's source of recorded accesses: every shard's log, taken under its
    /// lock after the hits still waiting in read-buffer stripes are applied (so
    /// that a close records the latest ones too). Keys are copied under the lock
    /// (a slot may be reused after it), into room reserved before it.
    static func accessDrain(_ shards: [CacheShard<Key, Value>]) -> @Sendable () -> [(key: Key, stamp: UInt64)] {
        { [shards] in
            var taken: [(key: Key, stamp: UInt64)] = []
            for shard in shards {
                guard let log = shard.accessLog else { continue }
                while true {
                    shard.mutex.lock()
                    shard.applyAllRecordedHits()
                    let pending = log.pendingCount
                    guard taken.capacity - taken.count >= pending else {
                        shard.mutex.unlock()
                        taken.reserveCapacity(taken.count + pending + pending / 4 + 16)
                        continue
                    }
                    log.drain { slot, stamp in taken.append((shard.entries[Int(slot)].key, stamp)) }
                    shard.mutex.unlock()
                    break
                }
            }
            return taken
        }
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

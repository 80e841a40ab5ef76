import CLarderCore

/// Moving entries out under the lock: the policy's victims, pressure, removeAll, expiry.
/// Call with `mutex` held; the victims are released after it is dropped.
extension CacheShard {
    /// Moves the entry in `slot` (a victim the policy named) into `victims`.
    /// The caller checked that the buffer is not full.
    @inlinable
    func evictSlot(_ slot: UInt32, into victims: inout VictimBuffer<Key, Value>) {
        let (key, value) = take(slot)
        victims.append(key: key, value: value)
    }

    /// Moves up to `victims.capacity` of the policy's victims out while the
    /// shard is heavier than `limit`. Returns how many were evicted.
    func evictTowardLocked(limit: UInt64, maxEntries: Int, victims: inout VictimBuffer<Key, Value>) -> Int {
        var evicted = 0
        while evicted < maxEntries, !victims.isFull, larder_core_total_weight(core) > limit,
              larder_core_count(core) > 0 {
            evictSlot(larder_core_victim(core), into: &victims)
            evicted += 1
        }
        bump(evictions, by: evicted)
        bump(pressureEvictions, by: evicted)
        publishSize()
        return evicted
    }

    /// Moves up to `victims.capacity` entries out, least valuable first (for
    /// removeAll: removals, not evictions, so no policy remembers them).
    func drainLocked(maxEntries: Int, victims: inout VictimBuffer<Key, Value>) -> Int {
        var drained = 0
        while drained < maxEntries, !victims.isFull, larder_core_count(core) > 0 {
            evictSlot(larder_core_lru(core), into: &victims)
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

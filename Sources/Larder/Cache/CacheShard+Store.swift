import CLarderCore
import Synchronization
import CLarderSystem

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
    /// The eviction policy declined the new entry (W-TinyLFU's admission: it
    /// is asked for less often than what it would displace). Nothing stored
    /// in memory; counted as an eviction. A set still succeeds.
    case rejected
    /// A removal overlapped the fill or tiered set (see
    /// ``CacheShard/fillSnapshot()``): nothing stored, and for a set the key's
    /// memory copy was dropped (the lower tier holds the value).
    case superseded
}

/// The store into a shard: insert or update, evicting to fit the count and the byte share.
extension CacheShard {
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
            // An update is a hit for the policy (under LRU: most recent, so the
            // evictions below never pick it while anything else is left).
            larder_core_touch_inline(core, slot)
            if Self.readsOptimistically {
                // Trivial values: no release to defer; a whole-entry store that
                // optimistic readers may copy meanwhile.
                writeEntry(SlotEntry(key: entries[Int(slot)].key, value: value), at: slot)
            } else {
                // Swapped out, not assigned over: the old value is released after
                // the lock is dropped, with the victims.
                var replaced = value
                swap(&entries[Int(slot)].value, &replaced)
                victims.replaced = replaced
            }
            let status = larder_core_set_weight(core, slot, weight)
            assert(status == LARDER_OK)
            if hasExpiry {
                larder_core_set_deadline(core, slot, deadline)
                if deadline != larderNoDeadline { mayHaveDeadlines = true }
            }
            // A heavier value may pass the share: the policy's victims leave, and
            // under a frequency policy that may be the updated entry itself.
            var evicted = 0
            while larder_core_total_weight(core) > byteShare, larder_core_count(core) > 0 {
                if victims.isFull {
                    bump(evictions, by: evicted)
                    bump(byteEvictions, by: evicted)
                    publishSize()
                    return .needsMoreRoom  // the retry finds the update done and evicts on
                }
                let victim = larder_core_victim(core)
                evictSlot(victim, into: &victims)
                evicted += 1
                if victim == slot { break }
            }
            bump(evictions, by: evicted)
            bump(byteEvictions, by: evicted)
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
            if larder_core_count(core) == capacity, !victims.isFull {
                switch larder_core_replace_lru(core, hash, weight, byteShare, &newSlot) {
                case LARDER_OK:
                    let victim = (entries + Int(newSlot)).move()
                    accessLog?.forget(newSlot)
                    victims.append(key: victim.key, value: victim.value)
                    evicted = 1
                case LARDER_REJECTED:
                    // The policy declined the newcomer (rarer than what it would
                    // displace): counted as its eviction, as Caffeine does.
                    bump(evictions)
                    publishSize()
                    return .rejected
                default:
                    newSlot = larderNil
                }
            }
            var evictedForBytes = 0
            while newSlot == larderNil,
                  larder_core_count(core) == capacity || exceedsShare(larder_core_total_weight(core), plus: weight) {
                if victims.isFull {
                    bump(evictions, by: evicted)
                    bump(byteEvictions, by: evictedForBytes)
                    publishSize()
                    return .needsMoreRoom
                }
                let forBytes = larder_core_count(core) < capacity
                var victim: UInt32 = larderNil
                guard larder_core_victim_for(core, hash, weight, &victim) == LARDER_OK else {
                    bump(evictions, by: evicted + 1)
                    bump(byteEvictions, by: evictedForBytes + (forBytes ? 1 : 0))
                    publishSize()
                    return .rejected
                }
                if forBytes { evictedForBytes += 1 }
                evictSlot(victim, into: &victims)
                evicted += 1
            }
            bump(evictions, by: evicted)
            bump(byteEvictions, by: evictedForBytes)
            if newSlot == larderNil {
                let status = larder_core_insert(core, hash, weight, &newSlot)
                precondition(status == LARDER_OK, "larder_core_insert failed after making room: \(status.rawValue)")
            }
            // A full cache evicts again on the next miss: start loading the
            // next victim's cold bucket and entry now (see larder_core_prefetch_lru).
            if evicted > 0 { prefetchNextVictim() }
        }
        writeEntry(SlotEntry(key: key, value: value), at: newSlot)
        if hasExpiry && deadline != larderNoDeadline {
            larder_core_set_deadline(core, newSlot, deadline)
            mayHaveDeadlines = true
        }
        publishSize()
        return .stored
    }
}

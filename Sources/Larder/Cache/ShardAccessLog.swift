import CLarderSystem

/// One shard's record of the entries hit (or promoted) since the lower tier
/// last took them, with the stamp of each one's latest access: what keeps the
/// tier's recency order (the order a restart restores) without a lock or a
/// table per hit.
///
/// A hit stores a stamp in its slot's word and, the first time since the last
/// drain, appends the slot to a list; the tier takes the list in batches, under
/// the shard's lock (``Cache`` installs the drain). The record itself is C
/// (`larder_access_log.h`), inlined into the hit path through ``log``;
/// this class owns its memory. Everything here is guarded by the shard's
/// mutex; the drain request (`larder_access_log_take_drain_request`) is not.
///
/// Stamps: an access gets the latest write stamp of ``AccessStampClock`` plus a
/// sequence that this shard counts up between writes, so the order is exact
/// for one shard (and across shards relative to writes); accesses in different
/// shards between the same two writes are ordered only coarsely. After 2^20 - 1
/// accesses in one shard without a write, the later ones tie.
@usableFromInline
final class ShardAccessLog: @unchecked Sendable {
    /// The log's state and arrays, for the hit path's inlined record.
    @usableFromInline let log: UnsafeMutablePointer<larder_access_log>
    /// Kept alive for `log`, which reads its counter.
    let clock: AccessStampClock

    /// Memory per slot of the shard: a stamp and a list position.
    static var bytesPerSlot: Int { MemoryLayout<UInt64>.stride + MemoryLayout<UInt32>.stride }

    init(capacity: UInt32, clock: AccessStampClock, batchSize: Int) {
        self.clock = clock
        let stamps = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(capacity))
        stamps.initialize(repeating: 0, count: Int(capacity))
        // Each live slot is listed at most once per drain, so the list needs a
        // place per slot (see larder_access_log_record).
        let slots = UnsafeMutablePointer<UInt32>.allocate(capacity: Int(capacity))
        log = .allocate(capacity: 1)
        log.initialize(to: larder_access_log(
            clock: UnsafePointer(clock.next), stamps: stamps, slots: slots, epoch: 0, sequence: 0, count: 0,
            capacity: capacity, batch_size: UInt32(clamping: max(1, batchSize)), drain_wanted: 0))
    }

    deinit {
        log.pointee.stamps.deallocate()
        log.pointee.slots.deallocate()
        log.deallocate()
    }

    /// Records an access to the entry in `slot` now (outside the hit path, which
    /// calls the C record directly).
    @usableFromInline
    func record(_ slot: UInt32) {
        larder_access_log_record(log, slot)
    }

    /// The entry in `slot` leaves: its pending access goes with it.
    @inlinable @inline(__always)
    func forget(_ slot: UInt32) {
        log.pointee.stamps[Int(slot)] = 0
    }

    /// Slots listed since the last drain (some may have been forgotten since).
    var pendingCount: Int { Int(log.pointee.count) }

    /// Hands every pending access to `body` (slot, stamp), oldest listing first, and
    /// empties the log.
    func drain(_ body: (UInt32, UInt64) -> Void) {
        let stamps = log.pointee.stamps, slots = log.pointee.slots
        for index in 0..<Int(log.pointee.count) {
            let slot = slots[index]
            let stamp = stamps[Int(slot)]
            guard stamp != 0 else { continue }  // removed meanwhile, or listed twice
            stamps[Int(slot)] = 0
            body(slot, stamp)
        }
        log.pointee.count = 0
    }
}

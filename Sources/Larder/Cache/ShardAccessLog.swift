import Synchronization

/// One shard's record of the entries hit (or promoted) since the lower tier
/// last took them, with the stamp of each one's latest access: what keeps the
/// tier's recency order (the order a restart restores) without a lock or a
/// table per hit.
///
/// A hit stores a stamp in its slot's word and, the first time since the last
/// drain, appends the slot to a list; the tier takes the list in batches, under
/// the shard's lock (``Cache`` installs the drain). Everything here but
/// ``takeDrainRequest()`` is guarded by the shard's mutex.
///
/// Stamps: an access gets the latest write stamp of ``AccessStampClock`` plus a
/// sequence that this shard counts up between writes, so the order is exact
/// for one shard (and across shards relative to writes); accesses in different
/// shards between the same two writes are ordered only coarsely. After 2^20 - 1
/// accesses in one shard without a write, the later ones tie.
@usableFromInline
final class ShardAccessLog: @unchecked Sendable {
    @usableFromInline struct State {
        /// Slots in `slots`.
        @usableFromInline var count = 0
        /// The write stamp `sequence` counts from.
        @usableFromInline var epoch: UInt64 = 0
        @usableFromInline var sequence: UInt64 = 0
    }

    let clock: AccessStampClock
    /// `clock` unretained (owned by `clock`): a hit reads it without retaining it.
    @usableFromInline let clockRef: Unmanaged<AccessStampClock>
    /// Per slot: the stamp of its entry's latest unrecorded access, 0 when none.
    @usableFromInline let stamps: UnsafeMutablePointer<UInt64>
    /// Slots whose stamp went from 0 to a stamp since the last drain, in that order.
    @usableFromInline let slots: UnsafeMutablePointer<UInt32>
    @usableFromInline let slotCapacity: Int
    @usableFromInline let batchSize: Int
    // Behind a pointer: a class's stored `var` costs an exclusivity check per access.
    @usableFromInline let state: UnsafeMutablePointer<State>
    /// A batch filled and the tier has not been asked for a drain yet (read
    /// without the lock).
    @usableFromInline let drainWanted = Atomic<Bool>(false)
    let capacity: Int

    /// Memory per slot of the shard: a stamp and a list position.
    static var bytesPerSlot: Int { MemoryLayout<UInt64>.stride + MemoryLayout<UInt32>.stride }

    init(capacity: UInt32, clock: AccessStampClock, batchSize: Int) {
        self.capacity = Int(capacity)
        self.clock = clock
        self.clockRef = .passUnretained(clock)
        self.batchSize = max(1, batchSize)
        stamps = .allocate(capacity: Int(capacity))
        stamps.initialize(repeating: 0, count: Int(capacity))
        // Each live slot is listed at most once per drain; a slot reused after a
        // removal may be listed again, and such an access beyond the list is dropped.
        slotCapacity = Int(capacity)
        slots = .allocate(capacity: Int(capacity))
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        stamps.deallocate()
        slots.deallocate()
        state.deallocate()
    }

    /// Records an access to the entry in `slot` now.
    @inlinable @inline(__always)
    func record(_ slot: UInt32) {
        let epoch = clockRef._withUnsafeGuaranteedRef { $0.peek() }
        let previous = stamps[Int(slot)]
        if state.pointee.epoch != epoch {
            state.pointee.epoch = epoch
            state.pointee.sequence = 0
        } else if previous != 0, previous == epoch - AccessStampClock.spacing + state.pointee.sequence {
            // Already the latest access recorded: a newer stamp would order
            // nothing differently (a hot key's hits in a row cost no stores).
            return
        }
        if state.pointee.sequence < AccessStampClock.spacing - 1 { state.pointee.sequence += 1 }
        // Above the latest write's stamp (epoch - spacing), below the next one's.
        let stamp = epoch - AccessStampClock.spacing + state.pointee.sequence
        stamps[Int(slot)] = stamp
        if previous == 0 { list(slot) }
    }

    @usableFromInline
    func list(_ slot: UInt32) {
        let count = state.pointee.count
        guard count < slotCapacity else {
            stamps[Int(slot)] = 0
            return
        }
        slots[count] = slot
        state.pointee.count = count + 1
        if count + 1 == batchSize { drainWanted.store(true, ordering: .relaxed) }
    }

    /// Whether a batch filled since the last call (then the caller asks the tier
    /// to drain). Safe without the lock.
    @inlinable @inline(__always)
    func takeDrainRequest() -> Bool {
        drainWanted.load(ordering: .relaxed) && drainWanted.exchange(false, ordering: .relaxed)
    }

    /// The entry in `slot` leaves: its pending access goes with it.
    @inlinable @inline(__always)
    func forget(_ slot: UInt32) {
        stamps[Int(slot)] = 0
    }

    /// Slots listed since the last drain (some may have been forgotten since).
    var pendingCount: Int { state.pointee.count }

    /// Hands every pending access to `body` (slot, stamp), oldest listing first, and
    /// empties the log.
    func drain(_ body: (UInt32, UInt64) -> Void) {
        for index in 0..<state.pointee.count {
            let slot = slots[index]
            let stamp = stamps[Int(slot)]
            guard stamp != 0 else { continue }  // removed meanwhile, or listed twice
            stamps[Int(slot)] = 0
            body(slot, stamp)
        }
        state.pointee.count = 0
    }
}

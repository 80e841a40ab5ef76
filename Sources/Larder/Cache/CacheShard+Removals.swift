import Synchronization

/// The removal generation: what keeps a fill from undoing a removal that overlapped it.
///
/// A fill (a promotion from the lower tier, a computed value, a set through the
/// tier) reads its value or writes the tier before it takes the shard's mutex; a
/// `removeValue` or `removeAll` that ran meanwhile (its lower-tier half possibly
/// still running) would be undone by the store. Each removal moves the
/// generation when it starts (under the mutex) and when it ends, and counts
/// itself in progress in between; a fill snapshots the generation first and
/// stores only if it has not moved.
extension CacheShard {
    /// The snapshot a fill takes before it reads the lower tier or computes:
    /// the removal generation, or `UInt64.max` (never current) while a
    /// removal is in progress.
    @usableFromInline
    func fillSnapshot() -> UInt64 {
        let generation = removalGeneration.load(ordering: .acquiring)
        return removalsInProgress.load(ordering: .acquiring) == 0 ? generation : .max
    }

    /// Marks a removal's start; call with `mutex` held, before removing.
    @usableFromInline
    func beginRemoval() {
        removalsInProgress.wrappingAdd(1, ordering: .relaxed)
        removalGeneration.wrappingAdd(1, ordering: .releasing)
    }

    /// Marks a removal's end, after its lower-tier half (no lock needed).
    @usableFromInline
    func endRemoval() {
        removalGeneration.wrappingAdd(1, ordering: .releasing)
        removalsInProgress.wrappingSubtract(1, ordering: .releasing)
    }
}

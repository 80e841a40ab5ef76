import Synchronization

/// The shared tier's counters: atomics, so that statistics are read without a lock.
final class SharedTierCounters: Sendable {
    let connections = Atomic<Int>(0)
    let connectionLosses = Atomic<Int>(0)
    let reads = Atomic<Int>(0)
    let readHits = Atomic<Int>(0)
    let writes = Atomic<Int>(0)
    let deletes = Atomic<Int>(0)
    let invalidations = Atomic<Int>(0)
    let fullDrops = Atomic<Int>(0)
    let unavailable = Atomic<Int>(0)
    let revalidated = Atomic<Int>(0)

    func snapshot() -> SharedTierStatistics {
        var result = SharedTierStatistics()
        result.connections = connections.load(ordering: .relaxed)
        result.connectionLosses = connectionLosses.load(ordering: .relaxed)
        result.reads = reads.load(ordering: .relaxed)
        result.readHits = readHits.load(ordering: .relaxed)
        result.writes = writes.load(ordering: .relaxed)
        result.deletes = deletes.load(ordering: .relaxed)
        result.invalidations = invalidations.load(ordering: .relaxed)
        result.fullDrops = fullDrops.load(ordering: .relaxed)
        result.unavailable = unavailable.load(ordering: .relaxed)
        result.revalidated = revalidated.load(ordering: .relaxed)
        return result
    }
}

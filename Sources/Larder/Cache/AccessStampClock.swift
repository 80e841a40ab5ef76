import Synchronization

/// The logical clock that orders a lower tier's writes and the memory hits
/// recorded for it (the recency order a restart restores).
///
/// Write stamps are multiples of 2^20 (``spacing``); an access recorded between
/// two writes gets a stamp between theirs: the earlier write's stamp plus a
/// per-shard sequence (see ``ShardAccessLog``). So recording a hit never
/// changes this counter: it reads a cache line that only writes change, and
/// threads that hit the cache together do not pass it between their cores.
@usableFromInline
final class AccessStampClock: Sendable {
    /// The distance between consecutive write stamps: room for this many
    /// recorded accesses (per shard) between two writes, in order.
    @usableFromInline static var spacing: UInt64 { 1 << 20 }

    /// The stamp the next write takes.
    @usableFromInline let next: Atomic<UInt64>

    /// A clock whose first write stamp ranks above every stamp up to `highest`.
    init(after highest: UInt64) {
        next = Atomic(Self.writeStamp(after: highest))
    }

    /// The first write stamp above `highest` (a multiple of ``spacing``, never 0).
    static func writeStamp(after highest: UInt64) -> UInt64 {
        ((highest / spacing) &+ 1) &* spacing
    }

    /// Takes the next write stamp.
    func takeWriteStamp() -> UInt64 {
        next.add(Self.spacing, ordering: .relaxed).oldValue
    }

    /// The stamp the next write will take (taking none).
    @inlinable @inline(__always)
    func peek() -> UInt64 {
        next.load(ordering: .relaxed)
    }

    /// Moves the clock past `highest` if it is not already (stamps found on disk).
    func advance(past highest: UInt64) {
        let candidate = Self.writeStamp(after: highest)
        if candidate > next.load(ordering: .relaxed) { next.store(candidate, ordering: .relaxed) }
    }
}

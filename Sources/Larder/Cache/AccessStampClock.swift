import CLarderSystem

/// The logical clock that orders a lower tier's writes and the memory hits
/// recorded for it (the recency order a restart restores).
///
/// Write stamps are multiples of 2^20 (``spacing``); an access recorded between
/// two writes gets a stamp between theirs: the earlier write's stamp plus a
/// per-shard sequence (see ``ShardAccessLog``). So recording a hit never
/// changes this counter: it reads a cache line that only writes change, and
/// threads that hit the cache together do not pass it between their cores.
///
/// The counter is a word at an address of its own, read and written with C
/// atomics, because the shards' access logs read it from C
/// (`larder_access_log.h`); Swift's `Atomic` has no address to give them.
@usableFromInline
final class AccessStampClock: @unchecked Sendable {
    /// The distance between consecutive write stamps: room for this many
    /// recorded accesses (per shard) between two writes, in order.
    @usableFromInline static var spacing: UInt64 { UInt64(LARDER_ACCESS_SPACING) }

    /// The stamp the next write takes (a word of its own cache line: writes
    /// change it, hits only read it).
    let next: UnsafeMutablePointer<UInt64>

    /// A clock whose first write stamp ranks above every stamp up to `highest`.
    init(after highest: UInt64) {
        let line = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        next = line.bindMemory(to: UInt64.self, capacity: 8)
        next.initialize(repeating: 0, count: 8)
        next.pointee = Self.writeStamp(after: highest)
    }

    deinit {
        next.deallocate()
    }

    /// The first write stamp above `highest` (a multiple of ``spacing``, never 0).
    static func writeStamp(after highest: UInt64) -> UInt64 {
        ((highest / spacing) &+ 1) &* spacing
    }

    /// Takes the next write stamp.
    func takeWriteStamp() -> UInt64 {
        larder_word_fetch_add_relaxed(next, Self.spacing)
    }

    /// The stamp the next write will take (taking none).
    func peek() -> UInt64 {
        larder_word_load_relaxed(next)
    }

    /// Moves the clock past `highest` if it is not already (stamps found on disk).
    func advance(past highest: UInt64) {
        let candidate = Self.writeStamp(after: highest)
        if candidate > larder_word_load_relaxed(next) { larder_word_store_relaxed(next, candidate) }
    }
}

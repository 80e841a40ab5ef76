import CLarderSystem

/// One of the words a shard keeps in its C core (`larder_core_owner_words`),
/// read and written with C atomics: Swift's `Atomic` is a stored property and
/// cannot be placed at an address of our choosing.
///
/// Why there: the core's owner words share the cache line of its list
/// sentinels, which every insert and eviction writes. The shard's sequence
/// for optimistic readers and the counters a set moves lived on a line of the
/// shard object of their own; when two threads share a shard, that line was
/// last written by the other core about half the time, one more line fetched
/// from it at every set (docs/Performance.md).
@usableFromInline
struct ShardWord: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<UInt64>

    @inlinable init(_ pointer: UnsafeMutablePointer<UInt64>) {
        self.pointer = pointer
    }

    @inlinable @inline(__always) func loadRelaxed() -> UInt64 { larder_word_load_relaxed(pointer) }

    @inlinable @inline(__always) func loadAcquiring() -> UInt64 { larder_word_load_acquire(pointer) }

    @inlinable @inline(__always) func storeRelaxed(_ value: UInt64) { larder_word_store_relaxed(pointer, value) }

    @inlinable @inline(__always) func storeReleasing(_ value: UInt64) { larder_word_store_release(pointer, value) }

    /// The word as a count (the counters are stored as `Int`'s bits).
    @inlinable @inline(__always) var count: Int { Int(truncatingIfNeeded: loadRelaxed()) }
}

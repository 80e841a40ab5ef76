import CLarderSystem

/// One of a shard's words that a set moves (its sequence for optimistic
/// readers and its counters), read and written with C atomics: Swift's
/// `Atomic` is a stored property and cannot be placed at an address of our
/// choosing.
///
/// Why at an address: the words live in the shard's C core
/// (`larder_core_owner_words`), on the cache line of its list sentinels,
/// which every insert and eviction writes. On a line of the shard object of
/// their own, they would be one more line that a set fetches from the other
/// core about half the time when two threads share the shard
/// (docs/Performance.md). Shards whose applied hits move entries keep them on
/// a pair of lines after their read stripes instead (see ``CacheShard``).
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

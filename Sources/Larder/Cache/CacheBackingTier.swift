/// A lower tier under a ``Cache`` (the LMDB store): entries written through,
/// memory misses read through. Every call is made outside the shard locks.
@usableFromInline
protocol CacheBackingTier<Key, Value>: Sendable {
    associatedtype Key: Hashable & Sendable
    associatedtype Value: Sendable
    /// Called by every successful set before it returns (durability happens
    /// here); a throw fails the set, and memory is then left unchanged.
    /// `deadline` is in monotonic nanoseconds of the cache's clock.
    func store(_ value: Value, forKey key: Key, deadline: UInt64?) throws(CacheError)
    /// Called on a memory miss; a found entry is promoted into memory (without
    /// storing it again).
    func load(forKey key: Key) -> (value: Value, deadline: UInt64?)?
    /// Called by `removeValue(forKey:)`.
    func remove(forKey key: Key)
    /// Called by `removeAll()`.
    func removeAll()
    /// Called on memory hits; the tier records recency coarsely, in batches.
    func recordAccess(forKey key: Key)
}

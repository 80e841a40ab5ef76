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
    /// `store` for async callers: waits for durability by suspending, never by
    /// blocking the calling thread (the default blocks: a tier that never waits).
    func storeAsync(_ value: Value, forKey key: Key, deadline: UInt64?) async throws(CacheError)
    /// Called on a memory miss; a found entry is promoted into memory (without
    /// storing it again).
    func load(forKey key: Key) -> (value: Value, deadline: UInt64?)?
    /// Called by `removeValue(forKey:)`.
    func remove(forKey key: Key)
    /// Called by `removeAll()`.
    func removeAll()
    /// The clock the cache stamps memory hits and promotions with, and how many
    /// distinct entries a shard records before it asks for a drain; nil when the
    /// tier keeps no recency order.
    var accessRecording: (clock: AccessStampClock, batchSize: Int)? { get }
    /// Installs where the tier takes the accesses the cache recorded since it last
    /// asked (each key with the stamp of its latest access). Called once, by the
    /// cache's initializer; the tier calls `source` from its own writes, outside
    /// any shard lock.
    func setAccessSource(_ source: @escaping @Sendable () -> [(key: Key, stamp: UInt64)])
    /// A shard recorded a batch of accesses: take them soon.
    func requestAccessDrain()
}

extension CacheBackingTier {
    func storeAsync(_ value: Value, forKey key: Key, deadline: UInt64?) async throws(CacheError) {
        try store(value, forKey: key, deadline: deadline)
    }
}

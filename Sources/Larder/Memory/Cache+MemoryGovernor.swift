/// The memory governor drives a cache through these hooks (defined with the Cache).
extension Cache: MemoryGovernedCache {}

extension MemoryGovernor {
    /// Puts `cache` under this governor: under memory pressure its effective byte budget
    /// is lowered and its least-recent entries evicted. The governor holds the cache
    /// weakly, so a released cache drops out by itself; registering twice has no effect.
    public func register<Key, Value>(_ cache: Cache<Key, Value>) {
        register(governed: cache)
    }

    /// Releases `cache` from this governor and lifts any pressure budget it set.
    public func unregister<Key, Value>(_ cache: Cache<Key, Value>) {
        unregister(governed: cache)
    }
}

// Placeholder owned by the memory work: replaced by allocator-measured weights.

/// Estimates the heap bytes an entry's key and value hold beyond their inline
/// storage in the cache's slot arrays.
enum EntryWeigher {
    /// The heap bytes held by `key` and `value` (0 for trivial types).
    static func heapBytes<Key, Value>(key: Key, value: Value) -> Int {
        0
    }

    /// Runs `body` and reports the net heap bytes this thread allocated while it
    /// ran (nil when that cannot be measured), for weighing computed values.
    static func measuring<T>(_ body: () throws -> T) rethrows -> (value: T, allocatedBytes: Int?) {
        (try body(), nil)
    }
}

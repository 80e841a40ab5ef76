/// Entries moved out of a shard under its lock, to be released (and logged,
/// and reported to hooks) after the lock is dropped.
///
/// The buffers come from the caller's stack (`withUnsafeTemporaryAllocation`)
/// so that nothing is allocated while the lock is held.
@usableFromInline
struct VictimBuffer<Key, Value> {
    @usableFromInline let keys: UnsafeMutablePointer<Key>
    @usableFromInline let values: UnsafeMutablePointer<Value>
    @usableFromInline let capacity: Int
    @usableFromInline var count = 0
    /// The value an update replaced, released with the victims.
    @usableFromInline var replaced: Value? = nil
    /// The key of a memory copy dropped rather than evicted (a set that a
    /// removal overlapped), released with the victims; its value goes in `replaced`.
    @usableFromInline var droppedKey: Key? = nil

    @inlinable
    init(keys: UnsafeMutablePointer<Key>, values: UnsafeMutablePointer<Value>, capacity: Int) {
        self.keys = keys
        self.values = values
        self.capacity = capacity
    }

    @inlinable var isFull: Bool { count == capacity }

    @inlinable mutating func append(key: consuming Key, value: consuming Value) {
        (keys + count).initialize(to: key)
        (values + count).initialize(to: value)
        count += 1
    }

    /// Releases everything held; call after the lock is dropped.
    @inlinable mutating func release() {
        keys.deinitialize(count: count)
        values.deinitialize(count: count)
        count = 0
        replaced = nil
        droppedKey = nil
    }
}

/// Runs `body` with a victim buffer of `capacity` entries on the stack
/// (or the heap, for types too large for it); releases what is left after.
@inlinable
func withVictimBuffer<Key, Value, R>(
    _ keyType: Key.Type, _ valueType: Value.Type, capacity: Int,
    _ body: (inout VictimBuffer<Key, Value>) -> R
) -> R {
    withUnsafeTemporaryAllocation(of: Key.self, capacity: capacity) { keys in
        withUnsafeTemporaryAllocation(of: Value.self, capacity: capacity) { values in
            var buffer = VictimBuffer<Key, Value>(keys: keys.baseAddress!, values: values.baseAddress!,
                                                  capacity: capacity)
            let result = body(&buffer)
            buffer.release()
            return result
        }
    }
}

/// A type that reports the heap bytes its instances hold, so that a byte-bounded
/// ``Cache`` can weigh it.
///
/// Larder weighs `String`, `Substring`, `Array`, `ContiguousArray`, `Data`, `Optional`
/// of those, and class instances by itself. A struct or enum that holds heap buffers
/// in stored properties is weighed as 0 unless it adopts this protocol (Larder does not
/// reflect over stored properties: `Mirror` would allocate on every `setValue`).
///
/// Report what the allocator holds on the value's behalf beyond its inline size;
/// ``CacheCost/heapBytes(of:)`` measures a field the way the cache would:
///
/// ```swift
/// struct Page: CacheCostReporting {
///     var title: String
///     var body: [UInt8]
///     var cacheCost: Int { CacheCost.heapBytes(of: title) + CacheCost.heapBytes(of: body) }
/// }
/// ```
///
/// For a class, the object's own allocation is counted already (from its instance size,
/// rounded to the allocator's size class); `cacheCost` adds what the object references.
///
/// An explicit `cost:` passed to `setValue` takes precedence over this property; the
/// synchronous get-or-compute path weighs a computed value by the bytes the computation
/// allocated and does not consult it.
///
/// Keep `cacheCost` cheap and free of side effects: the cache reads it on every insert,
/// outside its locks.
public protocol CacheCostReporting {
    /// The heap bytes this value holds beyond its inline size (for a class instance:
    /// beyond the object's own allocation). Negative values count as 0.
    var cacheCost: Int { get }
}

/// Helpers for measuring values the way the cache weighs them.
public enum CacheCost {
    /// The heap bytes the allocator holds for `value`'s buffers: a native string's
    /// storage, an array's buffer (plus its elements' buffers, estimated from a sample
    /// of at most 64 elements for large arrays), `Data`'s storage and bytes, a class
    /// instance, or a ``CacheCostReporting`` value's ``CacheCostReporting/cacheCost``.
    /// Small (inline) strings, trivial values and structs that do not report a cost
    /// weigh 0.
    public static func heapBytes<T>(of value: T) -> Int {
        EntryWeigher.bytes(of: value)
    }
}

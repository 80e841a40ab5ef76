/// The cache key of one call to a ``Memoized`` or ``AsyncMemoized`` function:
/// its arguments, compared and hashed one by one with their own `Hashable`
/// conformances, except that a `Double` or `Float` argument is compared by
/// its bit pattern (`-0.0` is not `0.0`; a NaN matches itself, so it hits) and
/// a `String` by its UTF-8 bytes (canonically equivalent strings are
/// different calls): what a function can observe. Inside other types (an
/// array of doubles) their own `==` decides; use ``CallKey`` for exact keys
/// of nested values.
///
/// Every argument keeps its static type, so nothing is stringified and
/// arguments cannot run into each other: `("1", "23")` and `("12", "3")` are
/// different keys. Equality is exact; the hash only spreads keys over the
/// cache's shards and buckets, so its per-process seed never matters.
public struct MemoizationKey<each Argument: Hashable & Sendable>: Hashable, Sendable {
    /// The arguments of the call.
    public let arguments: (repeat each Argument)

    /// Creates the key of a call with these arguments.
    public init(_ arguments: repeat each Argument) {
        self.arguments = (repeat each arguments)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        for (left, right) in repeat (each lhs.arguments, each rhs.arguments) {
            guard memoizationArgumentsMatch(left, right) else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        for argument in repeat each arguments {
            combineMemoizationArgument(argument, into: &hasher)
        }
    }
}

/// Equality of one argument as a memoized function could tell it: floating-point
/// values by bit pattern (`-0.0` is not `0.0`, `NaN` matches itself) and strings by
/// their UTF-8 bytes, as ``CallKey`` compares them; other types by their own `==`.
@inline(__always)
func memoizationArgumentsMatch<T: Hashable>(_ a: T, _ b: T) -> Bool {
    if T.self == Double.self {
        return unsafeBitCast(a, to: Double.self).bitPattern == unsafeBitCast(b, to: Double.self).bitPattern
    }
    if T.self == Float.self {
        return unsafeBitCast(a, to: Float.self).bitPattern == unsafeBitCast(b, to: Float.self).bitPattern
    }
    if T.self == String.self {
        return unsafeBitCast(a, to: String.self).utf8.elementsEqual(unsafeBitCast(b, to: String.self).utf8)
    }
    return a == b
}

/// The hash matching ``memoizationArgumentsMatch(_:_:)``.
@inline(__always)
func combineMemoizationArgument<T: Hashable>(_ value: T, into hasher: inout Hasher) {
    if T.self == Double.self { hasher.combine(unsafeBitCast(value, to: Double.self).bitPattern); return }
    if T.self == Float.self { hasher.combine(unsafeBitCast(value, to: Float.self).bitPattern); return }
    hasher.combine(value)  // String's hash is coarser than byte equality: consistent
}

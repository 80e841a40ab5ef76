/// The cache key of one call to a ``Memoized`` or ``AsyncMemoized`` function:
/// its arguments, compared and hashed one by one with their own `Hashable`
/// conformances.
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
            guard left == right else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        for argument in repeat each arguments {
            hasher.combine(argument)
        }
    }
}

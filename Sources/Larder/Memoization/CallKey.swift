/// The key of one call with a dynamic argument list: the Swift counterpart of
/// Python's `*args` / `**kwargs`.
///
/// A `CallKey` holds positional values in order and named values by name.
/// Two keys are equal exactly when a memoized function could not tell their
/// argument lists apart:
///
/// - Named values compare and hash the same whatever order they were given in.
/// - Arrays are keyed by content and order; sets and dictionaries by content
///   only, at any depth.
/// - Every value carries its type: `1` (`Int`), `1.0` (`Double`), `true`
///   (`Bool`) and `Int8(1)` are four different keys, `[1, 2]` is not
///   `"[1, 2]"`, and `("1", "23")` is not `("12", "3")`. Nothing is joined
///   into a string.
/// - Floating-point values compare by bit pattern, so `NaN` equals itself (a
///   lookup can hit) and `-0.0` differs from `0.0` (`1 / x` tells them apart).
/// - Strings compare by their UTF-8 bytes, so canonically equivalent but
///   differently encoded strings (`"é"` as one scalar or as `e` plus an
///   accent) are different keys: a key never merges inputs a function could
///   distinguish.
///
/// Identity never depends on `hashValue`, which Swift seeds per process:
/// ``appendBytes(to:)`` gives a stable, type-tagged, length-prefixed byte form
/// (named values sorted by name, set elements and dictionary entries sorted by
/// their encoded bytes), and two keys are equal exactly when their bytes are.
/// Persistent memoization keys on those bytes.
///
/// ```swift
/// let a = CallKey(1, "x", [2.0, 3.0], named: ["limit": 10, "sort": "name"])
/// let b = try CallKey(positional: [1, "x", [2.0, 3.0]],
///                     namedPairs: [("sort", "name"), ("limit", 10)])
/// a == b   // true
/// ```
///
/// Values of types that cannot be keyed are rejected at compile time by the
/// typed initializer (its arguments must conform to ``CallKeyConvertible``),
/// and with a thrown ``CacheError`` by ``init(converting:named:)`` when they
/// arrive as `Any`.
public struct CallKey: Sendable {
    /// The positional values, in call order.
    public let positional: [Value]

    /// The named values, sorted by the UTF-8 bytes of their names; names are unique.
    public let named: [(name: String, value: Value)]

    /// Creates a key from typed arguments; only ``CallKeyConvertible`` types compile.
    ///
    /// ```swift
    /// CallKey(42, "report", [1, 2], named: ["verbose": true])
    /// ```
    ///
    /// - Parameters:
    ///   - positional: The positional arguments, in order.
    ///   - named: The named arguments; their order does not matter.
    public init<each Argument: CallKeyConvertible>(
        _ positional: repeat each Argument,
        named: [String: any CallKeyConvertible] = [:]
    ) {
        var values: [Value] = []
        for argument in repeat each positional {
            values.append(argument.callKeyValue)
        }
        self.init(
            validatedPositional: values,
            sortingNamed: named.map { (name: $0.key, value: $0.value.callKeyValue) })
    }

    /// Creates a key from values already in ``Value`` form.
    ///
    /// - Parameters:
    ///   - positional: The positional values, in order.
    ///   - named: The named values; their order does not matter.
    public init(positional: [Value], named: [String: Value] = [:]) {
        self.init(
            validatedPositional: positional,
            sortingNamed: named.map { (name: $0.key, value: $0.value) })
    }

    /// Creates a key from named values given as a sequence of pairs (for
    /// example, parsed from a request), rejecting a name given twice.
    ///
    /// - Throws: ``CacheError`` with code `.encodingFailed` when a name occurs
    ///   more than once; the message names it.
    public init<Pairs: Sequence<(String, Value)>>(
        positional: [Value], namedPairs: Pairs
    ) throws(CacheError) {
        let pairs = namedPairs.map { (name: $0.0, value: $0.1) }
        let sorted = Self.sortedByName(pairs)
        for index in sorted.indices.dropFirst()
        where sorted[index - 1].name.utf8.elementsEqual(sorted[index].name.utf8) {
            throw CacheError(
                code: .encodingFailed,
                message: "CallKey: the named argument \"\(sorted[index].name)\" is given more than once; pass each name once")
        }
        self.positional = positional
        self.named = sorted
    }

    /// Creates a key from arguments that arrive untyped, checking each one.
    ///
    /// Supported values are those of ``CallKeyConvertible`` types, plus arrays,
    /// sets, dictionaries and optionals whose contents are supported (so
    /// `[1, "a"] as [Any]` works). Optionals key as their wrapped value, or as
    /// ``Value/none`` when `nil`.
    ///
    /// - Throws: ``CacheError`` with code `.encodingFailed` naming the first
    ///   argument (and the position inside it) whose type cannot be keyed.
    public init(converting positional: [Any], named: [String: Any] = [:]) throws(CacheError) {
        var values: [Value] = []
        values.reserveCapacity(positional.count)
        for (index, argument) in positional.enumerated() {
            values.append(try Value.convert(argument, path: "positional argument \(index)"))
        }
        var namedValues: [(name: String, value: Value)] = []
        for (name, argument) in named {
            namedValues.append((name, try Value.convert(argument, path: "named argument \"\(name)\"")))
        }
        self.init(validatedPositional: values, sortingNamed: namedValues)
    }

    /// The value of the named argument `name`, or nil when there is none.
    public subscript(name: String) -> Value? {
        named.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }

    /// For callers whose names are already unique (they came from a dictionary).
    init(validatedPositional positional: [Value], sortingNamed named: [(name: String, value: Value)]) {
        self.positional = positional
        self.named = Self.sortedByName(named)
    }

    /// Sorts by UTF-8 bytes, not `String`'s `<`, so the order matches byte equality
    /// and is the same in every process.
    static func sortedByName(_ pairs: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        pairs.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }
}

extension CallKey: Hashable {
    public static func == (lhs: CallKey, rhs: CallKey) -> Bool {
        guard lhs.positional == rhs.positional, lhs.named.count == rhs.named.count else { return false }
        for (left, right) in zip(lhs.named, rhs.named) {
            guard left.name.utf8.elementsEqual(right.name.utf8), left.value == right.value else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(positional)
        hasher.combine(named.count)
        for (name, value) in named {
            // String's hash is coarser than byte equality (canonical equivalence), so
            // byte-equal names always hash alike; that is all Hashable needs.
            hasher.combine(name)
            hasher.combine(value)
        }
    }
}

extension CallKey: CustomStringConvertible {
    /// The argument list as a call would read, with a type marker on every value
    /// whose literal alone would not say its type: `(1, "x", Int8(3), flag: true)`.
    public var description: String {
        let parts = positional.map(\.description) + named.map { "\($0.name): \($0.value)" }
        return "(" + parts.joined(separator: ", ") + ")"
    }
}

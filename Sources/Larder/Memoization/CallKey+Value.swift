extension CallKey {
    /// One argument value, tagged with its type.
    ///
    /// Each case is a distinct type: `.int(1)`, `.int64(1)`, `.double(1)` and
    /// `.bool(true)` are all different. Literals make values read naturally:
    /// `1` is `.int`, `1.5` is `.double`, `"a"` is `.string`, `[1, 2]` is
    /// `.array`, `["a": 1]` is `.dictionary` and `nil` is `.none`.
    public enum Value: Sendable {
        /// `nil`, or an absent optional.
        case none
        case bool(Bool)
        case int(Int)
        case int8(Int8)
        case int16(Int16)
        case int32(Int32)
        case int64(Int64)
        case uint(UInt)
        case uint8(UInt8)
        case uint16(UInt16)
        case uint32(UInt32)
        case uint64(UInt64)
        /// Compared by bit pattern (see ``CallKey``).
        case float(Float)
        /// Compared by bit pattern (see ``CallKey``).
        case double(Double)
        /// Compared by UTF-8 bytes (see ``CallKey``).
        case string(String)
        /// Keyed by elements and their order.
        case array([Value])
        /// Keyed by elements only.
        case set(Set<Value>)
        /// Keyed by entries only.
        case dictionary([Value: Value])
        /// A value of a caller's own type: its type name keeps it apart from
        /// other types with the same content (a `Point(x: 1, y: 2)` from `[1, 2]`).
        indirect case custom(type: String, value: Value)

        /// Converts a value that arrives untyped.
        ///
        /// - Throws: ``CacheError`` with code `.encodingFailed` when the value, or
        ///   something inside it, has a type that cannot be keyed.
        public init(converting value: Any) throws(CacheError) {
            self = try Self.convert(value, path: "value")
        }

        static func convert(_ value: Any, path: String) throws(CacheError) -> Value {
            // Optionals first: an Optional of a convertible type would also match the
            // protocol, but an Optional<Any> would not.
            if let optional = value as? any AnyOptional {
                guard let wrapped = optional.wrappedAny else { return .none }
                return try convert(wrapped, path: path)
            }
            if let convertible = value as? any CallKeyConvertible {
                return convertible.callKeyValue
            }
            // Heterogeneous containers ([Any], [String: Any], Set<AnyHashable>): every
            // array, dictionary and set upcasts to these, so check element by element.
            if let array = value as? [Any] {
                var values: [Value] = []
                values.reserveCapacity(array.count)
                for (index, element) in array.enumerated() {
                    values.append(try convert(element, path: "\(path)[\(index)]"))
                }
                return .array(values)
            }
            if let dictionary = value as? [AnyHashable: Any] {
                var values: [Value: Value] = [:]
                for (key, element) in dictionary {
                    let keyValue = try convert(key.base, path: "a key of \(path)")
                    values[keyValue] = try convert(element, path: "\(path)[\(String(reflecting: key.base))]")
                }
                return .dictionary(values)
            }
            if let set = value as? Set<AnyHashable> {
                var values = Set<Value>()
                for element in set {
                    values.insert(try convert(element.base, path: "an element of \(path)"))
                }
                return .set(values)
            }
            throw CacheError(
                code: .encodingFailed,
                message: "CallKey: \(path) has type \(String(reflecting: type(of: value))), which cannot be keyed; "
                    + "pass integers, floating-point numbers, Bool, String, or arrays, sets, dictionaries and "
                    + "optionals of these, or conform the type to CallKeyConvertible")
        }
    }
}

/// Lets `Value.convert` see through an `Optional` whose static type was erased to `Any`.
private protocol AnyOptional {
    var wrappedAny: Any? { get }
}

extension Optional: AnyOptional {
    fileprivate var wrappedAny: Any? {
        switch self {
        case .some(let wrapped): wrapped
        case .none: nil
        }
    }
}

extension CallKey.Value: Hashable {
    public static func == (lhs: CallKey.Value, rhs: CallKey.Value) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): true
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.int8(a), .int8(b)): a == b
        case let (.int16(a), .int16(b)): a == b
        case let (.int32(a), .int32(b)): a == b
        case let (.int64(a), .int64(b)): a == b
        case let (.uint(a), .uint(b)): a == b
        case let (.uint8(a), .uint8(b)): a == b
        case let (.uint16(a), .uint16(b)): a == b
        case let (.uint32(a), .uint32(b)): a == b
        case let (.uint64(a), .uint64(b)): a == b
        case let (.float(a), .float(b)): a.bitPattern == b.bitPattern
        case let (.double(a), .double(b)): a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): a.utf8.elementsEqual(b.utf8)
        case let (.array(a), .array(b)): a == b
        case let (.set(a), .set(b)): a == b
        case let (.dictionary(a), .dictionary(b)): a == b
        case let (.custom(typeA, a), .custom(typeB, b)): typeA.utf8.elementsEqual(typeB.utf8) && a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(tag)
        switch self {
        case .none: break
        case .bool(let v): hasher.combine(v)
        case .int(let v): hasher.combine(v)
        case .int8(let v): hasher.combine(v)
        case .int16(let v): hasher.combine(v)
        case .int32(let v): hasher.combine(v)
        case .int64(let v): hasher.combine(v)
        case .uint(let v): hasher.combine(v)
        case .uint8(let v): hasher.combine(v)
        case .uint16(let v): hasher.combine(v)
        case .uint32(let v): hasher.combine(v)
        case .uint64(let v): hasher.combine(v)
        case .float(let v): hasher.combine(v.bitPattern)
        case .double(let v): hasher.combine(v.bitPattern)
        // String's hash is coarser than byte equality, which is all Hashable needs.
        case .string(let v): hasher.combine(v)
        case .array(let v): hasher.combine(v)
        case .set(let v): hasher.combine(v)  // order-independent
        case .dictionary(let v): hasher.combine(v)  // order-independent
        case let .custom(type, value):
            hasher.combine(type)
            hasher.combine(value)
        }
    }
}

extension CallKey.Value: CustomStringConvertible {
    /// The value as a literal, with the type named where the literal's default
    /// type would be wrong: `1`, `1.0`, `Int8(1)`, `Float(1.0)`, `"a"`, `Set([1])`.
    public var description: String {
        switch self {
        case .none: "nil"
        case .bool(let v): "\(v)"
        case .int(let v): "\(v)"
        case .int8(let v): "Int8(\(v))"
        case .int16(let v): "Int16(\(v))"
        case .int32(let v): "Int32(\(v))"
        case .int64(let v): "Int64(\(v))"
        case .uint(let v): "UInt(\(v))"
        case .uint8(let v): "UInt8(\(v))"
        case .uint16(let v): "UInt16(\(v))"
        case .uint32(let v): "UInt32(\(v))"
        case .uint64(let v): "UInt64(\(v))"
        case .float(let v): "Float(\(v))"
        case .double(let v): "\(v)"
        case .string(let v): String(reflecting: v)
        case .array(let v): "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .set(let v):
            // Sorted by encoding so the text is the same on every run.
            "Set([" + v.sorted(by: Self.encodedOrder).map(\.description).joined(separator: ", ") + "])"
        case .dictionary(let v):
            v.isEmpty
                ? "[:]"
                : "[" + v.sorted { Self.encodedOrder($0.key, $1.key) }
                    .map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
        case let .custom(type, value): "\(type)(\(value))"
        }
    }

    static func encodedOrder(_ a: CallKey.Value, _ b: CallKey.Value) -> Bool {
        a.encodedBytes.lexicographicallyPrecedes(b.encodedBytes)
    }
}

extension CallKey.Value: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .none }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: CallKey.Value...) { self = .array(elements) }
    /// Like a `Dictionary` literal, a key written twice is a programming error.
    public init(dictionaryLiteral elements: (CallKey.Value, CallKey.Value)...) {
        self = .dictionary(Dictionary(uniqueKeysWithValues: elements))
    }
}

/// A type whose values can be part of a ``CallKey``.
///
/// The standard integer, floating-point, `Bool` and `String` types conform, and
/// so do `Optional`, `Array`, `Set` and `Dictionary` of conforming types, so an
/// argument that cannot be keyed is a compile-time error in
/// ``CallKey/init(_:named:)``.
///
/// Conform your own types by describing their content, tagged with a type name
/// so equal content of different types stays apart:
///
/// ```swift
/// struct Point: CallKeyConvertible {
///     var x, y: Int
///     var callKeyValue: CallKey.Value { .custom(type: "Point", value: [.int(x), .int(y)]) }
/// }
/// ```
///
/// The value must depend only on what the memoized function reads: two values
/// that give the same `callKeyValue` share one cached result. Do not key a
/// mutable reference type by its identity, as later mutations would not change the key.
public protocol CallKeyConvertible {
    /// This value as a type-tagged call-key value.
    var callKeyValue: CallKey.Value { get }
}

extension CallKey.Value: CallKeyConvertible {
    public var callKeyValue: CallKey.Value { self }
}

extension Bool: CallKeyConvertible { public var callKeyValue: CallKey.Value { .bool(self) } }
extension Int: CallKeyConvertible { public var callKeyValue: CallKey.Value { .int(self) } }
extension Int8: CallKeyConvertible { public var callKeyValue: CallKey.Value { .int8(self) } }
extension Int16: CallKeyConvertible { public var callKeyValue: CallKey.Value { .int16(self) } }
extension Int32: CallKeyConvertible { public var callKeyValue: CallKey.Value { .int32(self) } }
extension Int64: CallKeyConvertible { public var callKeyValue: CallKey.Value { .int64(self) } }
extension UInt: CallKeyConvertible { public var callKeyValue: CallKey.Value { .uint(self) } }
extension UInt8: CallKeyConvertible { public var callKeyValue: CallKey.Value { .uint8(self) } }
extension UInt16: CallKeyConvertible { public var callKeyValue: CallKey.Value { .uint16(self) } }
extension UInt32: CallKeyConvertible { public var callKeyValue: CallKey.Value { .uint32(self) } }
extension UInt64: CallKeyConvertible { public var callKeyValue: CallKey.Value { .uint64(self) } }
extension Float: CallKeyConvertible { public var callKeyValue: CallKey.Value { .float(self) } }
extension Double: CallKeyConvertible { public var callKeyValue: CallKey.Value { .double(self) } }
extension String: CallKeyConvertible { public var callKeyValue: CallKey.Value { .string(self) } }

extension Optional: CallKeyConvertible where Wrapped: CallKeyConvertible {
    /// The wrapped value's key, or ``CallKey/Value/none`` for `nil`.
    public var callKeyValue: CallKey.Value {
        switch self {
        case .some(let wrapped): wrapped.callKeyValue
        case .none: .none
        }
    }
}

extension Array: CallKeyConvertible where Element: CallKeyConvertible {
    public var callKeyValue: CallKey.Value { .array(map(\.callKeyValue)) }
}

extension Set: CallKeyConvertible where Element: CallKeyConvertible {
    public var callKeyValue: CallKey.Value { .set(Set<CallKey.Value>(map(\.callKeyValue))) }
}

extension Dictionary: CallKeyConvertible where Key: CallKeyConvertible, Value: CallKeyConvertible {
    public var callKeyValue: CallKey.Value {
        var entries: [CallKey.Value: CallKey.Value] = [:]
        entries.reserveCapacity(count)
        for (key, value) in self {
            entries[key.callKeyValue] = value.callKeyValue
        }
        return .dictionary(entries)
    }
}

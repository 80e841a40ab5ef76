/// One RESP3 value as Redis sends it.
///
/// The cases mirror the wire types one for one, so that the layer above (the shared tier) can tell a
/// missing key (``null``) from an empty string, an error reply from a transport failure, and a push
/// (an out-of-band message such as a client-side caching invalidation) from a reply. Strings that
/// may carry arbitrary bytes (blob strings, blob errors, verbatim strings) keep them as `[UInt8]`:
/// cached values are binary, and decoding them as UTF-8 would both cost time and lose data.
///
/// RESP2 replies are a subset: RESP2's null bulk string (`$-1`) and null array (`*-1`) decode to
/// ``null``. Attributes (`|`) are parsed and skipped by ``RESP3Decoder``; they never appear here.
package enum RESP3Value: Hashable, Sendable {
    /// A key/value pair of a ``map``, kept in wire order (a map's order can matter to a caller, and
    /// its keys need not be hashable strings).
    package struct Pair: Hashable, Sendable {
        package var key: RESP3Value
        package var value: RESP3Value

        package init(key: RESP3Value, value: RESP3Value) {
            self.key = key
            self.value = value
        }
    }

    /// `+OK`: a short status string without CR or LF.
    case simpleString(String)
    /// `-ERR ...`: an error reply. Returned as a value, not thrown: the command failed, the
    /// connection is fine.
    case simpleError(String)
    /// `!len`: an error reply whose message may hold any bytes.
    case blobError([UInt8])
    /// `:n`: a signed 64-bit integer.
    case integer(Int64)
    /// `,d`: a double, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// `#t` / `#f`.
    case boolean(Bool)
    /// `(n`: an integer of any size, kept as its decimal text.
    case bigNumber(String)
    /// `_`, and RESP2's `$-1` and `*-1`.
    case null
    /// `$len`: a binary-safe string.
    case blobString([UInt8])
    /// `=len`: a string with a three-letter format (`txt`, `mkd`), meant to be shown as is.
    case verbatimString(format: String, text: [UInt8])
    /// `*n`: an ordered list.
    case array([RESP3Value])
    /// `~n`: an unordered collection, kept in wire order.
    case set([RESP3Value])
    /// `%n`: key/value pairs, kept in wire order.
    case map([Pair])
    /// `>n`: an out-of-band message (pub/sub, client-side caching invalidation); its first element
    /// names its kind.
    case push([RESP3Value])
}

extension RESP3Value {
    /// The text of a simple string, blob string or verbatim string (blobs decoded as UTF-8,
    /// invalid sequences repaired); `nil` for every other case.
    package var string: String? {
        switch self {
        case .simpleString(let s): return s
        case .blobString(let b): return String(decoding: b, as: UTF8.self)
        case .verbatimString(_, let t): return String(decoding: t, as: UTF8.self)
        default: return nil
        }
    }

    /// The bytes of a blob string, simple string or verbatim string; `nil` for every other case.
    package var bytes: [UInt8]? {
        switch self {
        case .blobString(let b): return b
        case .simpleString(let s): return Array(s.utf8)
        case .verbatimString(_, let t): return t
        default: return nil
        }
    }

    /// The value of an integer reply; `nil` for every other case.
    package var integer: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    /// The elements of an array, set or push; `nil` for every other case.
    package var elements: [RESP3Value]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): return a
        default: return nil
        }
    }

    /// The message of a simple or blob error; `nil` when this is not an error reply.
    package var errorMessage: String? {
        switch self {
        case .simpleError(let s): return s
        case .blobError(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    /// Whether this is an error reply (simple or blob).
    package var isError: Bool { errorMessage != nil }

    /// The value stored under `key` (compared as text) in a map reply; `nil` when this is not a
    /// map or has no such key. Used for HELLO's reply and CLIENT TRACKINGINFO.
    package func mapValue(forKey key: String) -> RESP3Value? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first(where: { $0.key.string == key })?.value
    }
}

extension RESP3Value: CustomStringConvertible {
    /// A compact, redis-cli-like rendering for logs and test failures.
    package var description: String {
        switch self {
        case .simpleString(let s): return s
        case .simpleError(let s): return "(error) \(s)"
        case .blobError(let b): return "(error) \(String(decoding: b, as: UTF8.self))"
        case .integer(let n): return "(integer) \(n)"
        case .double(let d): return "(double) \(d)"
        case .boolean(let b): return "(boolean) \(b)"
        case .bigNumber(let s): return "(big number) \(s)"
        case .null: return "(nil)"
        case .blobString(let b): return "\"\(String(decoding: b, as: UTF8.self))\""
        case .verbatimString(let f, let t): return "\(f):\(String(decoding: t, as: UTF8.self))"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .set(let a): return "~[" + a.map(\.description).joined(separator: ", ") + "]"
        case .map(let p): return "{" + p.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .push(let a): return ">[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

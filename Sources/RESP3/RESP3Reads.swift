import NIOCore

/// The read that fills a near-cache, for a batch of keys: `MGET` of them all, then `PTTL` of each,
/// as bytes on the wire and as their replies, without a ``RESP3Command`` or a ``RESP3Value`` per key.
///
/// One `MGET` instead of a `GET` per key: the server's cost of a command is mostly its dispatch,
/// so the batch costs it about half (`redis-benchmark`: `MGET` of 64 keys reads about five times
/// as many keys per second as `GET`). `PTTL` has no multi-key form. The requests are written
/// straight into one buffer and the usual replies (an array of blobs and nulls, then integers)
/// are parsed straight into ``RESP3ReadReplies``. Anything else the server sends in their place
/// (an error, an attribute, a push between them) goes through ``RESP3Decoder`` as usual.
package enum RESP3Reads {
    /// Appends `MGET names...` and `PTTL name` for each name (RESP arrays of bulk strings) to `buffer`.
    package static func encode(_ names: [[UInt8]], into buffer: inout ByteBuffer) {
        // One reservation and plain pointer writes: a ByteBuffer call per part costs more than
        // the part (about 20 parts per key).
        let length = encodedLength(names)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            var out = Writer(base: raw.baseAddress!)
            out.write("*")
            out.write(decimal: names.count + 1)
            out.write("\r\n$4\r\nMGET\r\n")
            for name in names { out.write(bulk: name) }
            for name in names {
                out.write("*2\r\n$4\r\nPTTL\r\n")
                out.write(bulk: name)
            }
            precondition(out.offset == length, "RESP3Reads: encodedLength disagrees with encode")
            return length
        }
    }

    /// The bytes ``encode(_:into:)`` writes for `names`.
    package static func encodedLength(_ names: [[UInt8]]) -> Int {
        var n = 1 + decimalLength(names.count + 1) + 2 + 10
        for name in names { n += 2 * (1 + decimalLength(name.count) + 2 + name.count + 2) + 14 }
        return n
    }

    /// Writes into memory reserved for exactly what is written.
    private struct Writer {
        let base: UnsafeMutableRawPointer
        var offset = 0

        mutating func write(_ text: StaticString) {
            (base + offset).copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
            offset += text.utf8CodeUnitCount
        }

        mutating func write(decimal n: Int) {
            let digits = decimalLength(n)
            var n = n
            for i in stride(from: digits - 1, through: 0, by: -1) {
                base.storeBytes(of: UInt8(ascii: "0") &+ UInt8(n % 10), toByteOffset: offset + i, as: UInt8.self)
                n /= 10
            }
            offset += digits
        }

        mutating func write(bulk bytes: [UInt8]) {
            write("$")
            write(decimal: bytes.count)
            write("\r\n")
            bytes.withUnsafeBytes { raw in
                if let source = raw.baseAddress { (base + offset).copyMemory(from: source, byteCount: raw.count) }
            }
            offset += bytes.count
            write("\r\n")
        }
    }

    private static func decimalLength(_ n: Int) -> Int {
        var n = n, d = 1
        while n >= 10 { n /= 10; d += 1 }
        return d
    }
}

/// The replies to a batch of ``RESP3Reads``: for each key, its value (its element of the `MGET`
/// reply) and its `PTTL`.
///
/// Values are copied into one array for the whole batch (not one per key), and each key's entry
/// is plain data; only a reply of an unexpected kind is kept as a ``RESP3Value``.
package struct RESP3ReadReplies: Sendable {
    /// A key's value.
    package enum Get: Equatable, Sendable {
        /// A blob string: its bytes are `bytes[range]` of the batch.
        case value(Range<Int>)
        /// No such key, or not a string (`MGET` answers null for both; a `PTTL` other than -2
        /// tells the second apart, or a write between the two commands).
        case null
        /// Anything else (an error reply, an unexpected type).
        case other(RESP3Value)
    }

    /// A key's `PTTL` reply.
    package enum PTTL: Equatable, Sendable {
        case integer(Int64)
        case other(RESP3Value)
    }

    /// How many keys the batch reads.
    package let keys: Int
    /// Every value's bytes, in key order.
    package private(set) var bytes: [UInt8] = []
    /// Per key: where its value starts in ``bytes``; -1: null; -2: an unusual reply (see ``get(_:)``).
    /// Plain arrays, so that a caller's specialized code can read them without this type.
    package private(set) var starts: [Int] = []
    /// Per key: its value's length in ``bytes``.
    package private(set) var lengths: [Int] = []
    /// Per key: its `PTTL` reply (0 when unusual, see ``pttl(_:)``).
    package private(set) var ttls: [Int64] = []
    /// Replies of an unexpected kind, by `2 * key` (its value) or `2 * key + 1` (its PTTL).
    private var others: [Int: RESP3Value] = [:]
    /// Whether the `MGET` reply's header has been read (its elements come next).
    private var inArray = false
    /// How many PTTL replies have arrived.
    private var pttlCount = 0

    package init(keys: Int) {
        self.keys = keys
        starts.reserveCapacity(keys)
        lengths.reserveCapacity(keys)
        ttls = Array(repeating: 0, count: keys)
    }

    /// Builds the replies from general values (`GET`, `PTTL` for each key in turn), as a
    /// connection that sent those commands returns them.
    package init(getsAndPTTLs replies: [RESP3Value]) {
        self.init(keys: replies.count / 2)
        for (i, reply) in replies.enumerated() where i & 1 == 0 { addValue(reply) }
        for (i, reply) in replies.enumerated() where i & 1 == 1 { add(reply) }
    }

    /// Whether every reply has arrived.
    package var isComplete: Bool { pttlCount == keys }

    /// Whether the `MGET` reply's header has been parsed and its elements are still to come: the
    /// next value, whatever its kind (a push too), is one of them, as in a general decoder.
    package var isInArray: Bool { inArray }

    /// How many replies are of an unexpected kind (read them through ``get(_:)`` and ``pttl(_:)``).
    package var unusualCount: Int { others.count }

    /// Key `index`'s value.
    package func get(_ index: Int) -> Get {
        switch starts[index] {
        case -1: return .null
        case -2: return .other(others[2 * index] ?? .null)
        case let start: return .value(start..<start + lengths[index])
        }
    }

    /// Key `index`'s `PTTL` reply.
    package func pttl(_ index: Int) -> PTTL {
        if let other = others[2 * index + 1] { return .other(other) }
        return .integer(ttls[index])
    }

    private mutating func appendValue(start: Int, length: Int) {
        starts.append(start)
        lengths.append(length)
    }

    /// One key's element of the `MGET` reply, as a general value.
    private mutating func addValue(_ value: RESP3Value) {
        switch value {
        case .null:
            appendValue(start: -1, length: 0)
        case .blobString(let value):
            appendValue(start: bytes.count, length: value.count)
            bytes.append(contentsOf: value)
        default:
            others[2 * starts.count] = value
            appendValue(start: -2, length: 0)
        }
    }

    /// Adds the next reply (or element of the `MGET` reply) as a general value: the unusual path.
    package mutating func add(_ reply: RESP3Value) {
        if starts.count < keys {
            if inArray {
                addValue(reply)
                if starts.count == keys { inArray = false }
            } else if case .array(let elements) = reply, elements.count == keys {
                for element in elements { addValue(element) }
            } else {
                // An error (or a reply of the wrong shape) for the MGET: every key's value is it.
                for _ in 0..<keys {
                    others[2 * starts.count] = reply
                    appendValue(start: -2, length: 0)
                }
            }
        } else if pttlCount < keys {
            if case .integer(let n) = reply { ttls[pttlCount] = n } else { others[2 * pttlCount + 1] = reply }
            pttlCount += 1
        }
    }

    /// What ``parseNext(from:maxBlobLength:)`` did.
    package enum Parsed {
        /// Consumed one reply (or the array's header, or one of its elements) and added it.
        case added
        /// The reply has not fully arrived; nothing was consumed.
        case needMore
        /// Not the usual shape (or not well formed): nothing was consumed, and the reply is for
        /// ``RESP3Decoder`` to read (or reject).
        case unusual
    }

    /// Parses the next reply, or the next part of the `MGET` reply, straight from `buffer` when
    /// it has the usual shape: the array's header, a blob string or null as its element, an
    /// integer for a `PTTL`.
    package mutating func parseNext(from buffer: inout ByteBuffer, maxBlobLength: Int) -> Parsed {
        let expectingHeader = !inArray && starts.count < keys
        let expectingValue = inArray && starts.count < keys
        let result: (Parsed, consumed: Int) = buffer.withUnsafeReadableBytes { raw in
            guard let type = raw.first else { return (.needMore, 0) }
            switch type {
            case UInt8(ascii: "*") where expectingHeader:
                guard let (count, header) = Self.line(raw, negativeOne: false) else {
                    return (raw.count > 22 ? .unusual : .needMore, 0)
                }
                guard count == keys else { return (.unusual, 0) }
                inArray = true
                return (.added, header)
            case UInt8(ascii: "$") where expectingValue:
                guard let (length, header) = Self.line(raw, negativeOne: true) else {
                    return (raw.count > 22 ? .unusual : .needMore, 0)
                }
                guard let length else { return (.unusual, 0) }
                if length < 0 {
                    appendValue(start: -1, length: 0)
                    return (.added, header)
                }
                guard length <= maxBlobLength else { return (.unusual, 0) }
                guard raw.count >= header + length + 2 else { return (.needMore, 0) }
                guard raw[header + length] == 13, raw[header + length + 1] == 10 else { return (.unusual, 0) }
                appendValue(start: bytes.count, length: length)
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[header..<header + length])
                    .assumingMemoryBound(to: UInt8.self))
                return (.added, header + length + 2)
            case UInt8(ascii: "_") where expectingValue:
                guard raw.count >= 3 else { return (.needMore, 0) }
                guard raw[1] == 13, raw[2] == 10 else { return (.unusual, 0) }
                appendValue(start: -1, length: 0)
                return (.added, 3)
            case UInt8(ascii: ":") where starts.count == keys && pttlCount < keys:
                guard let (value, header) = Self.line(raw, negativeOne: false) else {
                    return (raw.count > 22 ? .unusual : .needMore, 0)
                }
                guard let value else { return (.unusual, 0) }
                ttls[pttlCount] = Int64(value)
                pttlCount += 1
                return (.added, header)
            default:
                return (.unusual, 0)
            }
        }
        if result.0 == .added {
            buffer.moveReaderIndex(forwardBy: result.consumed)
            if starts.count == keys { inArray = false }
        }
        return result.0
    }

    /// The number on a `*`, `$` or `:` line and the line's length with its CRLF; `nil` when the
    /// CRLF has not arrived within the longest line of a usual reply, an inner `nil` when the line
    /// is not a number this path takes (left to the general decoder: its errors and limits apply).
    /// `negativeOne`: only -1 may be negative (a null blob); otherwise any sign is allowed.
    private static func line(_ raw: UnsafeRawBufferPointer, negativeOne: Bool) -> (Int?, Int)? {
        // A type byte, up to 19 digits and a sign, CR and LF.
        let end = min(raw.count, 23)
        var i = 1
        while i < end && raw[i] != 13 { i += 1 }
        guard i < end else { return nil }
        guard i + 1 < raw.count else { return nil }
        guard raw[i + 1] == 10 else { return (nil, 0) }
        var j = 1
        var negative = false
        if j < i && raw[j] == UInt8(ascii: "-") {
            negative = true
            j += 1
        }
        guard j < i, i - j <= 18 else { return (nil, 0) }
        var n = 0
        while j < i {
            let d = raw[j] &- UInt8(ascii: "0")
            guard d < 10 else { return (nil, 0) }
            n = n * 10 + Int(d)
            j += 1
        }
        if negative {
            if negativeOne && n != 1 { return (nil, 0) }
            n = -n
        }
        return (n, i + 2)
    }
}

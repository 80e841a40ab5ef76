import NIOCore

/// `GET` then `PTTL` of each of a list of keys: the read that fills a near-cache, as bytes on the
/// wire and as its replies, without a ``RESP3Command`` or a ``RESP3Value`` per command.
///
/// A fill is the shared tier's hottest path and every command of it has the same shape, so the
/// requests are written straight into one buffer and the usual replies (a blob or null, then an
/// integer) are parsed straight into ``RESP3ReadReplies``. Anything else the server sends in their
/// place (an error, an attribute, a push between them) goes through ``RESP3Decoder`` as usual.
package enum RESP3Reads {
    /// Appends `GET name` and `PTTL name` (two RESP arrays of bulk strings) to `buffer`.
    package static func encode(name: [UInt8], into buffer: inout ByteBuffer) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let length = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var n = name.count, i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(ascii: "0") &+ UInt8(n % 10)
                n /= 10
            } while n > 0
            // Move the digits to the front so the header is one contiguous write below.
            let count = raw.count - i
            for j in 0..<count { raw[j] = raw[i + j] }
            return count
        }
        withUnsafeBytes(of: &digits) { raw in
            let decimal = UnsafeRawBufferPointer(rebasing: raw[0..<length])
            buffer.writeStaticString("*2\r\n$3\r\nGET\r\n$")
            buffer.writeBytes(decimal)
            buffer.writeStaticString("\r\n")
            buffer.writeBytes(name)
            buffer.writeStaticString("\r\n*2\r\n$4\r\nPTTL\r\n$")
            buffer.writeBytes(decimal)
            buffer.writeStaticString("\r\n")
            buffer.writeBytes(name)
            buffer.writeStaticString("\r\n")
        }
    }

    /// The bytes ``encode(name:into:)`` writes for a name of `nameLength` bytes.
    package static func encodedLength(nameLength: Int) -> Int {
        var digits = 1, n = nameLength
        while n >= 10 { n /= 10; digits += 1 }
        return 14 + digits + 2 + nameLength + 2 + 15 + digits + 2 + nameLength + 2
    }
}

/// The replies to a batch of ``RESP3Reads``: for each key, its `GET`'s and its `PTTL`'s.
///
/// Values are copied into one array for the whole batch (not one per key), and each key's entry
/// is plain data; only a reply of an unexpected kind is kept as a ``RESP3Value``.
package struct RESP3ReadReplies: Sendable {
    /// A key's `GET` reply.
    package enum Get: Equatable, Sendable {
        /// A blob string: its bytes are `bytes[range]` of the batch.
        case value(Range<Int>)
        /// No such key.
        case null
        /// Anything else (an error reply, an unexpected type).
        case other(RESP3Value)
    }

    /// A key's `PTTL` reply.
    package enum PTTL: Equatable, Sendable {
        case integer(Int64)
        case other(RESP3Value)
    }

    /// Every value's bytes, in key order.
    package private(set) var bytes: [UInt8] = []
    /// Per key: where its value starts in ``bytes``; -1: null; -2: an unusual reply (see ``get(_:)``).
    /// Plain arrays, so that a caller's specialized code can read them without this type.
    package private(set) var starts: [Int] = []
    /// Per key: its value's length in ``bytes``.
    package private(set) var lengths: [Int] = []
    /// Per key: its `PTTL` reply (0 when unusual, see ``pttl(_:)``).
    package private(set) var ttls: [Int64] = []
    /// Replies of an unexpected kind, by reply index (`2 * key` for GET, `2 * key + 1` for PTTL).
    private var others: [Int: RESP3Value] = [:]
    /// How many replies have been added (two per key when complete).
    package private(set) var replyCount = 0

    /// How many replies are of an unexpected kind (read them through ``get(_:)`` and ``pttl(_:)``).
    package var unusualCount: Int { others.count }

    package init(keys: Int = 0) {
        starts.reserveCapacity(keys)
        lengths.reserveCapacity(keys)
        ttls.reserveCapacity(keys)
    }

    private mutating func appendGet(start: Int, length: Int) {
        starts.append(start)
        lengths.append(length)
        ttls.append(0)
    }

    /// Builds the replies from general values (`GET`, `PTTL` for each key in turn), as a
    /// connection that sent ``RESP3Command``s returns them.
    package init(replies: [RESP3Value]) {
        self.init(keys: replies.count / 2)
        for reply in replies { add(reply) }
    }

    /// The number of keys with both replies.
    package var count: Int { replyCount / 2 }

    /// Key `index`'s `GET` reply.
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

    /// Adds the next reply as a general value (the unusual path, and replies built from values).
    package mutating func add(_ reply: RESP3Value) {
        if replyCount & 1 == 0 {
            switch reply {
            case .null:
                appendGet(start: -1, length: 0)
            case .blobString(let value):
                appendGet(start: bytes.count, length: value.count)
                bytes.append(contentsOf: value)
            default:
                appendGet(start: -2, length: 0)
                others[replyCount] = reply
            }
        } else if case .integer(let n) = reply {
            ttls[ttls.count - 1] = n
        } else {
            others[replyCount] = reply
        }
        replyCount += 1
    }

    /// What ``parseNext(from:maxBlobLength:)`` did.
    package enum Parsed {
        /// Consumed one reply and added it.
        case added
        /// The reply has not fully arrived; nothing was consumed.
        case needMore
        /// Not the usual shape (or not well formed): nothing was consumed, and the reply is for
        /// ``RESP3Decoder`` to read (or reject).
        case unusual
    }

    /// Parses the next reply straight from `buffer` when it has the usual shape: a blob string or
    /// null for a `GET`, an integer for a `PTTL`.
    package mutating func parseNext(from buffer: inout ByteBuffer, maxBlobLength: Int) -> Parsed {
        let expectingGet = replyCount & 1 == 0
        let result: (Parsed, consumed: Int) = buffer.withUnsafeReadableBytes { raw in
            guard let type = raw.first else { return (.needMore, 0) }
            switch type {
            case UInt8(ascii: "$") where expectingGet:
                guard let (length, header) = Self.line(raw, negativeOne: true) else {
                    return (raw.count > 22 ? .unusual : .needMore, 0)
                }
                guard let length else { return (.unusual, 0) }
                if length < 0 {
                    appendGet(start: -1, length: 0)
                    return (.added, header)
                }
                guard length <= maxBlobLength else { return (.unusual, 0) }
                guard raw.count >= header + length + 2 else { return (.needMore, 0) }
                guard raw[header + length] == 13, raw[header + length + 1] == 10 else { return (.unusual, 0) }
                appendGet(start: bytes.count, length: length)
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[header..<header + length])
                    .assumingMemoryBound(to: UInt8.self))
                return (.added, header + length + 2)
            case UInt8(ascii: "_") where expectingGet:
                guard raw.count >= 3 else { return (.needMore, 0) }
                guard raw[1] == 13, raw[2] == 10 else { return (.unusual, 0) }
                appendGet(start: -1, length: 0)
                return (.added, 3)
            case UInt8(ascii: ":") where !expectingGet:
                guard let (value, header) = Self.line(raw, negativeOne: false) else {
                    return (raw.count > 22 ? .unusual : .needMore, 0)
                }
                guard let value else { return (.unusual, 0) }
                ttls[ttls.count - 1] = Int64(value)
                return (.added, header)
            default:
                return (.unusual, 0)
            }
        }
        if result.0 == .added {
            buffer.moveReaderIndex(forwardBy: result.consumed)
            replyCount += 1
        }
        return result.0
    }

    /// The number on a `$` or `:` line and the line's length with its CRLF; `nil` when the CRLF
    /// has not arrived within the longest line of a usual reply, an inner `nil` when the line is
    /// not a number this path takes (left to the general decoder: its errors and limits apply).
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

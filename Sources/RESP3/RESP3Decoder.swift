import NIOCore

/// Turns a RESP3 (or RESP2) byte stream into ``RESP3Value``s, incrementally and within bounds.
///
/// The decoder keeps the aggregates it has started on a stack, so bytes are consumed as soon as a
/// complete element is available: a large array arriving over many reads is never re-parsed from
/// its start. A blob is consumed whole once all its bytes (and the CRLF after them) are buffered.
///
/// Every length and count on the wire is checked against ``Limits`` before anything is allocated
/// for it, so a malformed or hostile stream (a bad type byte, a huge or negative length, a missing
/// CRLF, an endless line, a nesting bomb) ends in ``RESP3Error/protocolError(_:)`` rather than a
/// crash or unbounded memory. After such an error the stream cannot be re-synchronised, and the
/// connection that owns the decoder is closed.
///
/// Attributes (`|`) are parsed, checked against the same limits, and dropped: they carry optional
/// metadata Redis does not use for the commands Larder sends.
package struct RESP3Decoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = RESP3Value

    /// Bounds on what one stream may ask the decoder to hold.
    package struct Limits: Hashable, Sendable {
        /// The deepest nesting of aggregates (arrays in arrays...). Redis's own replies nest a few
        /// levels; 32 leaves room while stopping a depth bomb.
        package var maxDepth: Int
        /// The longest blob string, blob error or verbatim string: 512 MiB is Redis's own
        /// `proto-max-bulk-len` default, so no value Redis can store is refused.
        package var maxBlobLength: Int
        /// The most elements (or key/value pairs) one aggregate may announce.
        package var maxAggregateCount: Int
        /// The longest line of a line-based type (simple string, error, number): the bytes waiting
        /// for a CRLF are held in memory, so this bounds them.
        package var maxLineLength: Int

        package init(
            maxDepth: Int = 32,
            maxBlobLength: Int = 512 * 1024 * 1024,
            maxAggregateCount: Int = 1 << 24,
            maxLineLength: Int = 64 * 1024
        ) {
            self.maxDepth = maxDepth
            self.maxBlobLength = maxBlobLength
            self.maxAggregateCount = maxAggregateCount
            self.maxLineLength = maxLineLength
        }

        /// The defaults: depth 32, blobs up to 512 MiB, 16 Mi elements, lines up to 64 KiB.
        package static let `default` = Limits()
    }

    private enum Kind { case array, set, map, push, attribute }

    private struct Frame {
        var kind: Kind
        var remaining: Int
        var items: [RESP3Value]
    }

    private enum Token {
        case value(RESP3Value)
        case aggregate(Kind, Int)
    }

    private let limits: Limits
    private var stack: [Frame] = []

    package init(limits: Limits = .default) {
        self.limits = limits
    }

    /// Whether an aggregate has been started and not finished: the next bytes continue it.
    package var isMidValue: Bool { !stack.isEmpty }

    package mutating func decode(buffer: inout ByteBuffer) throws -> RESP3Value? {
        nextToken: while true {
            guard let token = try readToken(&buffer) else { return nil }
            var completed: RESP3Value
            switch token {
            case .value(let v):
                completed = v
            case .aggregate(let kind, let count):
                guard stack.count < limits.maxDepth else {
                    throw RESP3Error.protocolError("aggregates nested deeper than \(limits.maxDepth)")
                }
                let elements = (kind == .map || kind == .attribute) ? count * 2 : count
                if elements == 0 {
                    if kind == .attribute { continue nextToken }
                    completed = Self.build(kind, [])
                } else {
                    var items: [RESP3Value] = []
                    items.reserveCapacity(min(elements, 1024))
                    stack.append(Frame(kind: kind, remaining: elements, items: items))
                    continue nextToken
                }
            }
            // Hand the completed value to the aggregate it belongs to, closing every aggregate it
            // completes; a value with no aggregate around it is a whole reply.
            while var top = stack.popLast() {
                top.items.append(completed)
                top.remaining -= 1
                if top.remaining > 0 {
                    stack.append(top)
                    continue nextToken
                }
                if top.kind == .attribute {
                    // Attached to nothing: the value that follows is read as if it were absent.
                    continue nextToken
                }
                completed = Self.build(top.kind, top.items)
            }
            return completed
        }
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESP3Value? {
        try decode(buffer: &buffer)
    }

    private static func build(_ kind: Kind, _ items: [RESP3Value]) -> RESP3Value {
        switch kind {
        case .array: return .array(items)
        case .set: return .set(items)
        case .push: return .push(items)
        case .map, .attribute:
            var pairs: [RESP3Value.Pair] = []
            pairs.reserveCapacity(items.count / 2)
            var i = 0
            while i + 1 < items.count {
                pairs.append(RESP3Value.Pair(key: items[i], value: items[i + 1]))
                i += 2
            }
            return .map(pairs)
        }
    }

    /// Reads one scalar or one aggregate header; `nil` (consuming nothing) when more bytes are needed.
    private func readToken(_ buffer: inout ByteBuffer) throws -> Token? {
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        guard Self.isTypeByte(type) else {
            throw RESP3Error.protocolError("unexpected type byte \(Self.show(type))")
        }
        guard let cr = try findCRLF(in: buffer) else {
            // The type byte, a line of the longest length and its CR (the LF still to come) may
            // all be here: only more than that is too long.
            if buffer.readableBytes > limits.maxLineLength + 2 {
                throw RESP3Error.protocolError("line longer than \(limits.maxLineLength) bytes without CRLF")
            }
            return nil
        }
        let lineLength = cr - 1
        guard lineLength <= limits.maxLineLength else {
            throw RESP3Error.protocolError("line longer than \(limits.maxLineLength) bytes")
        }
        let line = buffer.getBytes(at: buffer.readerIndex + 1, length: lineLength) ?? []
        let headerLength = cr + 2

        switch type {
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = try parseLength(line, type: type, allowNull: type == UInt8(ascii: "$"))
            if length < 0 {
                buffer.moveReaderIndex(forwardBy: headerLength)
                return .value(.null)
            }
            guard length <= limits.maxBlobLength else {
                throw RESP3Error.protocolError(
                    "blob of \(length) bytes exceeds the limit of \(limits.maxBlobLength)")
            }
            guard buffer.readableBytes >= headerLength + length + 2 else { return nil }
            let end = buffer.readerIndex + headerLength + length
            guard buffer.getInteger(at: end, as: UInt8.self) == 13,
                buffer.getInteger(at: end + 1, as: UInt8.self) == 10
            else {
                throw RESP3Error.protocolError("blob of \(length) bytes not followed by CRLF")
            }
            buffer.moveReaderIndex(forwardBy: headerLength)
            let bytes = buffer.readBytes(length: length) ?? []
            buffer.moveReaderIndex(forwardBy: 2)
            switch type {
            case UInt8(ascii: "$"): return .value(.blobString(bytes))
            case UInt8(ascii: "!"): return .value(.blobError(bytes))
            default:
                guard bytes.count >= 4, bytes[3] == UInt8(ascii: ":") else {
                    throw RESP3Error.protocolError("verbatim string without a 3-byte format and ':'")
                }
                return .value(.verbatimString(
                    format: String(decoding: bytes[0..<3], as: UTF8.self), text: Array(bytes[4...])))
            }

        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ">"), UInt8(ascii: "|"):
            let count = try parseLength(line, type: type, allowNull: type == UInt8(ascii: "*"))
            buffer.moveReaderIndex(forwardBy: headerLength)
            if count < 0 { return .value(.null) }
            guard count <= limits.maxAggregateCount else {
                throw RESP3Error.protocolError(
                    "aggregate of \(count) elements exceeds the limit of \(limits.maxAggregateCount)")
            }
            let kind: Kind
            switch type {
            case UInt8(ascii: "*"): kind = .array
            case UInt8(ascii: "~"): kind = .set
            case UInt8(ascii: "%"): kind = .map
            case UInt8(ascii: ">"): kind = .push
            default: kind = .attribute
            }
            return .aggregate(kind, count)

        default:
            let value = try Self.parseLine(type, line)
            buffer.moveReaderIndex(forwardBy: headerLength)
            return .value(value)
        }
    }

    private static func parseLine(_ type: UInt8, _ line: [UInt8]) throws -> RESP3Value {
        switch type {
        case UInt8(ascii: "+"): return .simpleString(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"): return .simpleError(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"):
            guard let n = parseInt64(line) else {
                throw RESP3Error.protocolError("invalid integer \(quote(line))")
            }
            return .integer(n)
        case UInt8(ascii: ","):
            let text = String(decoding: line, as: UTF8.self)
            switch text {
            case "inf", "+inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            case "nan", "-nan": return .double(.nan)
            default:
                guard !text.isEmpty, text.utf8.allSatisfy(isDoubleByte), let d = Double(text) else {
                    throw RESP3Error.protocolError("invalid double \(quote(line))")
                }
                return .double(d)
            }
        case UInt8(ascii: "#"):
            if line == [UInt8(ascii: "t")] { return .boolean(true) }
            if line == [UInt8(ascii: "f")] { return .boolean(false) }
            throw RESP3Error.protocolError("invalid boolean \(quote(line))")
        case UInt8(ascii: "_"):
            guard line.isEmpty else { throw RESP3Error.protocolError("null with a payload \(quote(line))") }
            return .null
        case UInt8(ascii: "("):
            var digits = line[...]
            if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
                digits = digits.dropFirst()
            }
            guard !digits.isEmpty, digits.allSatisfy(isDigit) else {
                throw RESP3Error.protocolError("invalid big number \(quote(line))")
            }
            return .bigNumber(String(decoding: line, as: UTF8.self))
        default:
            throw RESP3Error.protocolError("unexpected type byte \(show(type))")
        }
    }

    /// A length or count: decimal digits, or `-1` where RESP2 uses it for null.
    private func parseLength(_ line: [UInt8], type: UInt8, allowNull: Bool) throws -> Int {
        if allowNull && line == [UInt8(ascii: "-"), UInt8(ascii: "1")] { return -1 }
        guard !line.isEmpty, line.count <= 18, line.allSatisfy(Self.isDigit) else {
            if type == UInt8(ascii: "$") && line == [UInt8(ascii: "?")] {
                throw RESP3Error.protocolError("streamed strings are not supported")
            }
            throw RESP3Error.protocolError("invalid length \(Self.quote(line)) after \(Self.show(type))")
        }
        var n = 0
        for d in line { n = n * 10 + Int(d &- UInt8(ascii: "0")) }
        return n
    }

    /// The offset from the reader index of the CR of the first CRLF after the type byte; `nil` when
    /// no CR has arrived yet (or it is the last byte). A CR not followed by LF is a protocol error.
    private func findCRLF(in buffer: ByteBuffer) throws -> Int? {
        let found: Int?? = buffer.withUnsafeReadableBytes { raw -> Int?? in
            guard raw.count > 1 else { return .some(nil) }
            guard let i = raw[1...].firstIndex(of: 13) else { return .some(nil) }
            if i + 1 >= raw.count { return .some(nil) }
            if raw[i + 1] != 10 { return .none }
            return .some(i)
        }
        guard let result = found else {
            throw RESP3Error.protocolError("CR not followed by LF")
        }
        return result
    }

    private static func parseInt64(_ line: [UInt8]) -> Int64? {
        var digits = line[...]
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy(isDigit) else { return nil }
        var magnitude: UInt64 = 0
        for d in digits {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d &- UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            magnitude = a
        }
        if negative {
            if magnitude == UInt64(Int64.max) + 1 { return Int64.min }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    private static func isTypeByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: ","), UInt8(ascii: "#"),
            UInt8(ascii: "_"), UInt8(ascii: "("), UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="),
            UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ">"), UInt8(ascii: "|"):
            return true
        default:
            return false
        }
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private static func isDoubleByte(_ b: UInt8) -> Bool {
        isDigit(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".")
            || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
    }

    private static func show(_ b: UInt8) -> String {
        let hex = "0x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        return (32..<127).contains(b) ? "\(hex) ('\(Character(Unicode.Scalar(b)))')" : hex
    }

    private static func quote(_ line: [UInt8]) -> String {
        let prefix = line.prefix(40)
        return "\"" + String(decoding: prefix, as: UTF8.self) + (line.count > 40 ? "…" : "") + "\""
    }
}

// The stable byte form of call keys: what persistent memoization keys on.
//
// Format 1:
//   key    := 0x01 count(positional) value* count(named) (string value)*   names in UTF-8 byte order
//   value  := tag payload
//   count  := unsigned LEB128, minimal
//   string := count(UTF-8 bytes) bytes
// Integers and floating-point bit patterns are fixed-width little-endian; Int and UInt
// are always 8 bytes. A set's elements and a dictionary's entries are sorted by their
// (key's) encoded bytes, so equal content gives equal bytes whatever the insertion order.
// Decoding accepts only the canonical form, so decode(bytes) re-encodes to `bytes`.

extension CallKey: ByteCodable {
    /// The version byte that starts every encoded key.
    static let formatVersion: UInt8 = 1

    /// What a decoder reserves for a collection of `count` elements. A count is only
    /// bounded by the bytes left, and each of up to 255 nesting levels may claim all of
    /// them: reserving in full let a 1 MiB input reserve gigabytes (and abort under an
    /// address-space limit). The collection grows as its elements actually decode.
    static func initialCapacity(_ count: Int) -> Int { min(count, 64) }

    /// Appends the key's stable byte form: equal keys give equal bytes in every
    /// process, and different keys give different bytes.
    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(Self.formatVersion)
        CallKeyByteWriter.appendCount(positional.count, to: &bytes)
        for value in positional {
            value.appendBytes(to: &bytes)
        }
        CallKeyByteWriter.appendCount(named.count, to: &bytes)
        for (name, value) in named {
            CallKeyByteWriter.appendString(name, to: &bytes)
            value.appendBytes(to: &bytes)
        }
    }

    /// Decodes a key from exactly the bytes ``appendBytes(to:)`` produced.
    ///
    /// - Throws: ``CacheError`` with code `.storeDamaged` when the bytes are not
    ///   a canonical encoding (truncated, trailing bytes, unknown tag or version,
    ///   invalid UTF-8, unsorted or repeated names, set elements or dictionary keys).
    public init(bytes: UnsafeRawBufferPointer) throws {
        try self.init(decoding: bytes)
    }

    /// The typed-throws body of ``init(bytes:)``.
    init(decoding bytes: UnsafeRawBufferPointer) throws(CacheError) {
        var reader = CallKeyByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.formatVersion else {
            throw reader.damaged("unknown format version \(version) (this build reads \(Self.formatVersion))")
        }
        let positionalCount = try reader.readCount()
        var positional: [Value] = []
        positional.reserveCapacity(Self.initialCapacity(positionalCount))
        for _ in 0..<positionalCount {
            positional.append(try Value(reading: &reader, depth: 0))
        }
        let namedCount = try reader.readCount()
        var named: [(name: String, value: Value)] = []
        named.reserveCapacity(Self.initialCapacity(namedCount))
        var previousName: UnsafeRawBufferPointer? = nil
        for _ in 0..<namedCount {
            let (name, nameBytes) = try reader.readString()
            if let previousName, !previousName.lexicographicallyPrecedes(nameBytes) {
                throw reader.damaged("named arguments are not in strictly increasing name order")
            }
            previousName = nameBytes
            named.append((name, try Value(reading: &reader, depth: 0)))
        }
        try reader.expectEnd()
        self.positional = positional
        self.named = named
    }
}

extension CallKey.Value: ByteCodable {
    /// The deepest nesting a decoder accepts, so damaged bytes cannot exhaust the stack.
    static let maximumDecodingDepth = 256

    enum Tag: UInt8 {
        case none = 0, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64
        case float, double, string, array, set, dictionary, custom
    }

    var tag: Tag {
        switch self {
        case .none: .none
        case .bool: .bool
        case .int: .int
        case .int8: .int8
        case .int16: .int16
        case .int32: .int32
        case .int64: .int64
        case .uint: .uint
        case .uint8: .uint8
        case .uint16: .uint16
        case .uint32: .uint32
        case .uint64: .uint64
        case .float: .float
        case .double: .double
        case .string: .string
        case .array: .array
        case .set: .set
        case .dictionary: .dictionary
        case .custom: .custom
        }
    }

    /// Appends the value's stable, type-tagged byte form.
    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(tag.rawValue)
        switch self {
        case .none: break
        case .bool(let v): bytes.append(v ? 1 : 0)
        case .int(let v): CallKeyByteWriter.appendFixed(Int64(v), to: &bytes)
        case .int8(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .int16(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .int32(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .int64(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .uint(let v): CallKeyByteWriter.appendFixed(UInt64(v), to: &bytes)
        case .uint8(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .uint16(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .uint32(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .uint64(let v): CallKeyByteWriter.appendFixed(v, to: &bytes)
        case .float(let v): CallKeyByteWriter.appendFixed(v.bitPattern, to: &bytes)
        case .double(let v): CallKeyByteWriter.appendFixed(v.bitPattern, to: &bytes)
        case .string(let v): CallKeyByteWriter.appendString(v, to: &bytes)
        case .array(let values):
            CallKeyByteWriter.appendCount(values.count, to: &bytes)
            for value in values {
                value.appendBytes(to: &bytes)
            }
        case .set(let values):
            let encoded = values.map(\.encodedBytes).sorted { $0.lexicographicallyPrecedes($1) }
            CallKeyByteWriter.appendCount(encoded.count, to: &bytes)
            for element in encoded {
                bytes.append(contentsOf: element)
            }
        case .dictionary(let entries):
            // Keys are distinct values, so their encodings are distinct: sorting by key alone is total.
            let encoded = entries.map { (key: $0.key.encodedBytes, value: $0.value) }
                .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            CallKeyByteWriter.appendCount(encoded.count, to: &bytes)
            for entry in encoded {
                bytes.append(contentsOf: entry.key)
                entry.value.appendBytes(to: &bytes)
            }
        case let .custom(type, value):
            CallKeyByteWriter.appendString(type, to: &bytes)
            value.appendBytes(to: &bytes)
        }
    }

    /// Decodes a value from exactly the bytes ``appendBytes(to:)`` produced.
    ///
    /// - Throws: ``CacheError`` with code `.storeDamaged` when the bytes are not a
    ///   canonical encoding of one value.
    public init(bytes: UnsafeRawBufferPointer) throws {
        var reader = CallKeyByteReader(bytes)
        self = try Self(reading: &reader, depth: 0)
        try reader.expectEnd()
    }

    init(reading reader: inout CallKeyByteReader, depth: Int) throws(CacheError) {
        guard depth < Self.maximumDecodingDepth else {
            throw reader.damaged("values nest deeper than \(Self.maximumDecodingDepth) levels")
        }
        let tagByte = try reader.readByte()
        guard let tag = Tag(rawValue: tagByte) else {
            throw reader.damaged("unknown value tag \(tagByte)")
        }
        switch tag {
        case .none: self = .none
        case .bool:
            switch try reader.readByte() {
            case 0: self = .bool(false)
            case 1: self = .bool(true)
            case let other: throw reader.damaged("Bool byte \(other) is neither 0 nor 1")
            }
        case .int: self = .int(Int(try reader.readFixed(Int64.self)))
        case .int8: self = .int8(try reader.readFixed(Int8.self))
        case .int16: self = .int16(try reader.readFixed(Int16.self))
        case .int32: self = .int32(try reader.readFixed(Int32.self))
        case .int64: self = .int64(try reader.readFixed(Int64.self))
        case .uint: self = .uint(UInt(try reader.readFixed(UInt64.self)))
        case .uint8: self = .uint8(try reader.readFixed(UInt8.self))
        case .uint16: self = .uint16(try reader.readFixed(UInt16.self))
        case .uint32: self = .uint32(try reader.readFixed(UInt32.self))
        case .uint64: self = .uint64(try reader.readFixed(UInt64.self))
        case .float: self = .float(Float(bitPattern: try reader.readFixed(UInt32.self)))
        case .double: self = .double(Double(bitPattern: try reader.readFixed(UInt64.self)))
        case .string: self = .string(try reader.readString().string)
        case .array:
            let count = try reader.readCount()
            var values: [CallKey.Value] = []
            values.reserveCapacity(CallKey.initialCapacity(count))
            for _ in 0..<count {
                values.append(try CallKey.Value(reading: &reader, depth: depth + 1))
            }
            self = .array(values)
        case .set:
            let count = try reader.readCount()
            var values = Set<CallKey.Value>(minimumCapacity: CallKey.initialCapacity(count))
            var previous: UnsafeRawBufferPointer? = nil
            for _ in 0..<count {
                let start = reader.offset
                let value = try CallKey.Value(reading: &reader, depth: depth + 1)
                let encoded = reader.bytes(from: start)
                if let previous, !previous.lexicographicallyPrecedes(encoded) {
                    throw reader.damaged("set elements are not in strictly increasing byte order")
                }
                previous = encoded
                values.insert(value)
            }
            self = .set(values)
        case .dictionary:
            let count = try reader.readCount()
            var entries = [CallKey.Value: CallKey.Value](minimumCapacity: CallKey.initialCapacity(count))
            var previous: UnsafeRawBufferPointer? = nil
            for _ in 0..<count {
                let start = reader.offset
                let key = try CallKey.Value(reading: &reader, depth: depth + 1)
                let encoded = reader.bytes(from: start)
                if let previous, !previous.lexicographicallyPrecedes(encoded) {
                    throw reader.damaged("dictionary keys are not in strictly increasing byte order")
                }
                previous = encoded
                entries[key] = try CallKey.Value(reading: &reader, depth: depth + 1)
            }
            self = .dictionary(entries)
        case .custom:
            let type = try reader.readString().string
            self = .custom(type: type, value: try CallKey.Value(reading: &reader, depth: depth + 1))
        }
    }
}

enum CallKeyByteWriter {
    static func appendFixed<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { bytes.append(contentsOf: $0) }
    }

    static func appendCount(_ count: Int, to bytes: inout [UInt8]) {
        var rest = UInt64(count)
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        appendCount(string.utf8.count, to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }
}

/// Reads the canonical encoding, turning every malformation into `.storeDamaged`.
struct CallKeyByteReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
    }

    func damaged(_ reason: String) -> CacheError {
        CacheError(
            code: .storeDamaged,
            message: "CallKey bytes are not a valid encoding: \(reason) at byte \(offset) of \(buffer.count); "
                + "drop the record and recompute it")
    }

    mutating func readByte() throws(CacheError) -> UInt8 {
        guard offset < buffer.count else { throw damaged("unexpected end") }
        defer { offset += 1 }
        return buffer[offset]
    }

    mutating func readFixed<T: FixedWidthInteger>(_: T.Type) throws(CacheError) -> T {
        let size = MemoryLayout<T>.size
        guard buffer.count - offset >= size else { throw damaged("unexpected end") }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) {
            $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + size]))
        }
        offset += size
        return T(littleEndian: value)
    }

    /// A minimal LEB128 count no larger than the bytes left, since every counted
    /// item takes at least one byte: damaged counts cannot trigger huge allocations.
    mutating func readCount() throws(CacheError) -> Int {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            guard shift < 63 || (shift == 63 && byte <= 1) else { throw damaged("count is too large") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw damaged("count is not minimally encoded") }
                break
            }
            shift += 7
        }
        guard result <= UInt64(buffer.count - offset) else {
            throw damaged("count \(result) exceeds the \(buffer.count - offset) bytes left")
        }
        return Int(result)
    }

    mutating func readString() throws(CacheError) -> (string: String, bytes: UnsafeRawBufferPointer) {
        let count = try readCount()
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw damaged("string is not valid UTF-8")
        }
        offset += count
        return (string, slice)
    }

    func bytes(from start: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[start..<offset])
    }

    func expectEnd() throws(CacheError) {
        guard offset == buffer.count else { throw damaged("\(buffer.count - offset) trailing bytes") }
    }
}

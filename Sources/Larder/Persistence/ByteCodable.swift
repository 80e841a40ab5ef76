import Foundation

/// A type whose values convert to and from a stable byte form: equal values
/// give equal bytes in every process and on every run (never `hashValue`),
/// so the bytes can key and hold entries on disk.
///
/// Larder ships conformances for `String` (UTF-8), `[UInt8]`, `Data`, the
/// fixed-width integers (little-endian, always their full width; `Int` and
/// `UInt` are 8 bytes), `Bool` (one byte, 0 or 1), `Double` and `Float`
/// (their IEEE 754 bit pattern, little-endian) and `UUID` (its 16 bytes).
/// Any `Codable` type can be stored through ``CodableBytes``.
///
/// A conformance must be a pure function of the value: two equal values
/// (`==`) must append the same bytes, and `init(bytes:)` must accept exactly
/// what `appendBytes(to:)` produced and reject anything else with a thrown
/// error rather than a trap.
public protocol ByteCodable: Sendable {
    /// Appends this value's stable byte form to `bytes`.
    func appendBytes(to bytes: inout [UInt8])

    /// Decodes a value from exactly the bytes `appendBytes(to:)` produced.
    ///
    /// - Throws: ``CacheError`` with code `.storeDamaged` when the bytes are
    ///   not a valid encoding (wrong length, invalid UTF-8, …).
    init(bytes: UnsafeRawBufferPointer) throws
}

extension ByteCodable {
    /// This value's stable byte form as a new array.
    @inlinable
    public var encodedBytes: [UInt8] {
        var bytes: [UInt8] = []
        appendBytes(to: &bytes)
        return bytes
    }

    /// Decodes a value from a byte array (see ``init(bytes:)``).
    @inlinable
    public init(encodedBytes: [UInt8]) throws {
        self = try encodedBytes.withUnsafeBytes { try Self(bytes: $0) }
    }
}

@usableFromInline
func byteDecodingError(_ type: Any.Type, _ detail: String) -> CacheError {
    CacheError(code: .storeDamaged,
               message: "stored bytes are not a valid \(type) encoding: \(detail)")
}

// MARK: - Fixed-width integers

extension ByteCodable where Self: FixedWidthInteger {
    /// Appends the integer's `bitWidth / 8` bytes, least significant first.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        var le = self.littleEndian
        withUnsafeBytes(of: &le) { bytes.append(contentsOf: $0) }
    }

    /// Decodes exactly `bitWidth / 8` little-endian bytes.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == MemoryLayout<Self>.size else {
            throw byteDecodingError(Self.self, "expected \(MemoryLayout<Self>.size) bytes, found \(bytes.count)")
        }
        self.init(littleEndian: bytes.loadUnaligned(as: Self.self))
    }
}

extension Int: ByteCodable {}
extension Int8: ByteCodable {}
extension Int16: ByteCodable {}
extension Int32: ByteCodable {}
extension Int64: ByteCodable {}
extension UInt: ByteCodable {}
extension UInt8: ByteCodable {}
extension UInt16: ByteCodable {}
extension UInt32: ByteCodable {}
extension UInt64: ByteCodable {}

// MARK: - Bool, floating point

extension Bool: ByteCodable {
    /// One byte: 1 for `true`, 0 for `false`.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(self ? 1 : 0)
    }

    /// Accepts exactly one byte, 0 or 1.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == 1, bytes[0] <= 1 else {
            throw byteDecodingError(Bool.self, "expected one byte 0 or 1, found \(Array(bytes.prefix(4)))")
        }
        self = bytes[0] == 1
    }
}

extension Double: ByteCodable {
    /// The 8-byte IEEE 754 bit pattern, little-endian (so -0.0 and each NaN
    /// payload keep their exact bits).
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        bitPattern.appendBytes(to: &bytes)
    }

    /// Decodes exactly 8 little-endian bytes of bit pattern.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        self.init(bitPattern: try UInt64(bytes: bytes))
    }
}

extension Float: ByteCodable {
    /// The 4-byte IEEE 754 bit pattern, little-endian.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        bitPattern.appendBytes(to: &bytes)
    }

    /// Decodes exactly 4 little-endian bytes of bit pattern.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        self.init(bitPattern: try UInt32(bytes: bytes))
    }
}

// MARK: - Strings and byte buffers

extension String: ByteCodable {
    /// The string's UTF-8 bytes, no terminator and no length prefix.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        var copy = self
        copy.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Decodes UTF-8, rejecting invalid sequences instead of repairing them.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw byteDecodingError(String.self, "invalid UTF-8")
        }
        self = string
    }
}

extension Array: ByteCodable where Element == UInt8 {
    /// The bytes themselves.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: self)
    }

    /// A copy of the bytes.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        self.init(bytes)
    }
}

extension Data: ByteCodable {
    /// The bytes themselves.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: self)
    }

    /// A copy of the bytes.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        self.init(bytes)
    }
}

extension UUID: ByteCodable {
    /// The 16 bytes of the UUID in RFC 4122 order.
    @inlinable
    public func appendBytes(to bytes: inout [UInt8]) {
        var raw = uuid
        withUnsafeBytes(of: &raw) { bytes.append(contentsOf: $0) }
    }

    /// Decodes exactly 16 bytes.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == 16 else {
            throw byteDecodingError(UUID.self, "expected 16 bytes, found \(bytes.count)")
        }
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: bytes) }
        self.init(uuid: raw)
    }
}

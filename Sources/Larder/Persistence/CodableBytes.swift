import Foundation

/// Stores any `Codable` value in a persistent cache by encoding it to JSON
/// with sorted keys, so equal values give equal bytes across processes.
///
/// The value is encoded once, when the wrapper is created, so an encoding
/// failure is a thrown error at that point (not a trap inside the cache), and
/// the wrapper keeps the bytes: it costs the JSON size in memory on top of the
/// value. Equality and hashing use the bytes.
///
/// Stable bytes need a stable `Codable` form: `Set` and dictionaries whose
/// keys are neither `String` nor `Int` encode in hash order, which changes
/// from one process to the next; as keys, such types would miss on disk after
/// a restart. Use sorted arrays for them instead.
///
/// ```swift
/// struct Profile: Codable, Sendable { var name: String; var age: Int }
/// let cache = try Cache<String, CodableBytes<Profile>>(configuration: …, persistence: …)
/// try cache.setValue(CodableBytes(Profile(name: "a", age: 3)), forKey: "a")
/// cache.value(forKey: "a")?.value
/// ```
public struct CodableBytes<Wrapped: Codable & Sendable>: ByteCodable, Hashable, Sendable {
    /// The wrapped value.
    public let value: Wrapped
    /// The value's stable JSON bytes.
    public let bytes: [UInt8]

    /// Wraps `value`, encoding it to JSON with sorted keys.
    ///
    /// - Throws: ``CacheError`` with code `.encodingFailed` when `JSONEncoder`
    ///   rejects the value (for example a non-finite `Double`).
    public init(_ value: Wrapped) throws(CacheError) {
        do {
            self.bytes = Array(try Self.encoder().encode(value))
        } catch {
            throw CacheError(code: .encodingFailed,
                             message: "cannot encode \(Wrapped.self) as JSON for the store: \(error); make the value encodable (finite numbers, no throwing encode(to:))")
        }
        self.value = value
    }

    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: self.bytes)
    }

    public init(bytes: UnsafeRawBufferPointer) throws {
        let copy = [UInt8](bytes)
        do {
            self.value = try JSONDecoder().decode(Wrapped.self, from: Data(copy))
        } catch {
            throw CacheError(code: .storeDamaged,
                             message: "stored bytes are not valid JSON for \(Wrapped.self): \(error)")
        }
        self.bytes = copy
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

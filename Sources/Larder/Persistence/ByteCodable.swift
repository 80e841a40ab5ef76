// Placeholder owned by the persistence work: conformances land with the LMDB tier.

/// A type whose values convert to and from a stable byte form: equal values
/// give equal bytes in every process and on every run (never `hashValue`),
/// so the bytes can key and hold entries on disk.
public protocol ByteCodable: Sendable {
    /// Appends this value's stable byte form to `bytes`.
    func appendBytes(to bytes: inout [UInt8])

    /// Decodes a value from exactly the bytes `appendBytes(to:)` produced.
    ///
    /// - Throws: ``CacheError`` when the bytes are not a valid encoding.
    init(bytes: UnsafeRawBufferPointer) throws
}

// One entry as stored in the `entries` database. Format version 1, little-endian:
//
//   0  magic "LR" (0x4C 0x52)      2  format version (1)      3  flags (bit 0: has deadline)
//   4  key length u32              8  value length u32       12  reserved u32 (0)
//  16  deadline u64: wall-clock ns since 1970 (0 when none)
//  24  access stamp u64: the store's logical clock at the last recorded set or read
//  32  payload checksum u64: xxHash64(key ++ value, seed payloadSeed)
//  40  header checksum u64: xxHash64(bytes 0..<40, seed headerSeed)
//  48  key bytes, then value bytes
//
// Two checksums so that recording an access (a new stamp) re-hashes 40 bytes, not the
// value. The full key is kept so that keys stored under a digest are confirmed on read.

enum DiskRecord {
    static let headerSize = 48
    static let formatVersion: UInt8 = 1
    static let magic: (UInt8, UInt8) = (0x4C, 0x52)
    static let payloadSeed: UInt64 = 0x4C41_5244_4552_0001
    static let headerSeed: UInt64 = 0x4C41_5244_4552_0002

    /// Why a record was rejected; for logs and tests.
    enum Damage: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case badMagic
        case unsupportedVersion(UInt8)
        case headerChecksum
        case lengthMismatch(expected: Int, actual: Int)
        case payloadChecksum

        var description: String {
            switch self {
            case .tooShort(let n): "record of \(n) bytes is shorter than its \(DiskRecord.headerSize)-byte header"
            case .badMagic: "record does not start with the Larder magic bytes"
            case .unsupportedVersion(let v): "record format version \(v) is not supported (expected \(DiskRecord.formatVersion))"
            case .headerChecksum: "record header checksum does not match"
            case .lengthMismatch(let e, let a): "record length \(a) does not match its header (\(e))"
            case .payloadChecksum: "record key/value checksum does not match"
            }
        }
    }

    /// A validated record's fields; `key` and `value` point into the record's bytes.
    struct View {
        var deadline: UInt64?
        var stamp: UInt64
        var key: UnsafeRawBufferPointer
        var value: UnsafeRawBufferPointer
    }

    /// Builds a record around `key` and the value bytes `appendValue` writes.
    static func make(key: [UInt8], deadline: UInt64?, stamp: UInt64,
                     appendValue: (inout [UInt8]) -> Void) -> [UInt8] {
        var record = [UInt8](repeating: 0, count: headerSize)
        record.reserveCapacity(headerSize + key.count + 64)
        record.append(contentsOf: key)
        appendValue(&record)
        let valueLength = record.count - headerSize - key.count
        record.withUnsafeMutableBytes { raw in
            raw[0] = magic.0
            raw[1] = magic.1
            raw[2] = formatVersion
            raw[3] = deadline == nil ? 0 : 1
            raw.storeBytes(of: UInt32(key.count).littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: UInt32(truncatingIfNeeded: valueLength).littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: (deadline ?? 0).littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: stamp.littleEndian, toByteOffset: 24, as: UInt64.self)
            seal(raw)
        }
        return record
    }

    /// Writes both checksums of a record whose fields are in place (also for tests and fuzzing,
    /// which change fields on purpose and re-seal them so the checksums do not hide them).
    static func seal(_ raw: UnsafeMutableRawBufferPointer) {
        let payload = XXHash64.hash(UnsafeRawBufferPointer(rebasing: raw[headerSize...]), seed: payloadSeed)
        raw.storeBytes(of: payload.littleEndian, toByteOffset: 32, as: UInt64.self)
        sealHeader(raw)
    }

    /// Recomputes the header checksum after a header field changed.
    static func sealHeader(_ raw: UnsafeMutableRawBufferPointer) {
        let sum = XXHash64.hash(UnsafeRawBufferPointer(rebasing: raw[0..<40]), seed: headerSeed)
        raw.storeBytes(of: sum.littleEndian, toByteOffset: 40, as: UInt64.self)
    }

    /// Overwrites the access stamp of a record (already validated) in place.
    static func setStamp(_ stamp: UInt64, in raw: UnsafeMutableRawBufferPointer) {
        raw.storeBytes(of: stamp.littleEndian, toByteOffset: 24, as: UInt64.self)
        sealHeader(raw)
    }

    /// Total record size a value of `valueLength` bytes under `keyLength` bytes of key takes.
    static func size(keyLength: Int, valueLength: Int) -> Int { headerSize + keyLength + valueLength }

    /// Validates the header only (cheap): returns lengths, deadline and stamp.
    static func header(_ raw: UnsafeRawBufferPointer) throws(Damage)
        -> (keyLength: Int, valueLength: Int, deadline: UInt64?, stamp: UInt64) {
        guard raw.count >= headerSize else { throw .tooShort(raw.count) }
        guard raw[0] == magic.0, raw[1] == magic.1 else { throw .badMagic }
        guard raw[2] == formatVersion else { throw .unsupportedVersion(raw[2]) }
        let sum = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
        guard sum == XXHash64.hash(UnsafeRawBufferPointer(rebasing: raw[0..<40]), seed: headerSeed) else {
            throw .headerChecksum
        }
        let keyLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let valueLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let expected = headerSize + keyLength + valueLength
        guard expected == raw.count else { throw .lengthMismatch(expected: expected, actual: raw.count) }
        let hasDeadline = raw[3] & 1 != 0
        let deadline = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let stamp = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        return (keyLength, valueLength, hasDeadline ? deadline : nil, stamp)
    }

    /// Validates the whole record (header and payload checksums).
    static func validate(_ raw: UnsafeRawBufferPointer) throws(Damage) -> View {
        let h = try header(raw)
        let payload = UnsafeRawBufferPointer(rebasing: raw[headerSize...])
        let sum = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        guard sum == XXHash64.hash(payload, seed: payloadSeed) else { throw .payloadChecksum }
        return View(deadline: h.deadline, stamp: h.stamp,
                    key: UnsafeRawBufferPointer(rebasing: payload[payload.startIndex..<(payload.startIndex + h.keyLength)]),
                    value: UnsafeRawBufferPointer(rebasing: payload[(payload.startIndex + h.keyLength)...]))
    }
}

/// Where an entry lives in LMDB. Keys up to `inlineLimit` bytes are stored as
/// `0x00 ++ key`; longer keys (LMDB rejects keys over 511 bytes) as
/// `0x01 ++ xxHash64(key, seed A) ++ xxHash64(key, seed B)` (128 bits), with the
/// full key kept in the record and compared on read. The prefix byte keeps the
/// two forms apart. A recency-index key (8-byte stamp + storage key) stays under 511.
enum StorageKey {
    static let inlineLimit = 255
    static let digestSeedA: UInt64 = 0x4C41_5244_4552_4B41
    static let digestSeedB: UInt64 = 0x4C41_5244_4552_4B42

    static func make(_ key: [UInt8]) -> [UInt8] {
        if key.count <= inlineLimit {
            var out = [UInt8]()
            out.reserveCapacity(key.count + 1)
            out.append(0)
            out.append(contentsOf: key)
            return out
        }
        var out: [UInt8] = [1]
        out.reserveCapacity(17)
        key.withUnsafeBytes { raw in
            XXHash64.hash(raw, seed: digestSeedA).appendBytes(to: &out)
            XXHash64.hash(raw, seed: digestSeedB).appendBytes(to: &out)
        }
        return out
    }

    /// The recency-index key: big-endian stamp (so LMDB's byte order is stamp order) + storage key.
    static func recencyKey(stamp: UInt64, storageKey: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(8 + storageKey.count)
        var be = stamp.bigEndian
        withUnsafeBytes(of: &be) { out.append(contentsOf: $0) }
        out.append(contentsOf: storageKey)
        return out
    }
}

@testable import Larder

/// Valid records (the target's mode byte, two length bytes, then the record), and the re-sealing
/// the target applies when its mode asks.
enum DiskRecordSeeds {
    static func all() -> [[UInt8]] {
        let records = [
            DiskRecord.make(key: Array("k".utf8), deadline: nil, stamp: 1) { $0 += [1, 2, 3] },
            DiskRecord.make(key: Array("user:42".utf8), deadline: 1_700_000_000_000_000_000, stamp: 99) { $0 += Array("value".utf8) },
            DiskRecord.make(key: [], deadline: nil, stamp: 0) { _ in },
            DiskRecord.make(key: [UInt8](repeating: 0xAB, count: 300), deadline: 5, stamp: .max) { $0 += [0] },
        ]
        return records.flatMap { [[0, 0, 0] + $0, [1, 0, 0] + $0, [3, 1, 200] + $0] }
    }

    /// Makes the magic, version and checksums right; with `setLengths`, first sets the key length
    /// to a split of the payload chosen by the first byte (or a huge value when the second's top
    /// bit is set) and the value length to what is left.
    static func reseal(_ b: inout [UInt8], setLengths: (UInt8, UInt8)?) {
        guard b.count >= DiskRecord.headerSize else { return }
        b[0] = DiskRecord.magic.0; b[1] = DiskRecord.magic.1; b[2] = DiskRecord.formatVersion
        if let (split, huge) = setLengths {
            let payload = b.count - DiskRecord.headerSize
            let k = huge & 0x80 != 0 ? UInt32.max - UInt32(huge & 0x7F) : UInt32(payload * Int(split) / 255)
            let v = UInt32(truncatingIfNeeded: payload &- Int(k))
            b.withUnsafeMutableBytes {
                $0.storeBytes(of: k.littleEndian, toByteOffset: 4, as: UInt32.self)
                $0.storeBytes(of: v.littleEndian, toByteOffset: 8, as: UInt32.self)
            }
        }
        b.withUnsafeMutableBytes { DiskRecord.seal($0) }
    }
}

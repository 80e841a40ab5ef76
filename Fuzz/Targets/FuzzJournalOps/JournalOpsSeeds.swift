import LarderFuzzSupport

@testable import Larder

/// Rounds described by bytes (the target's structured form) and seeds in both forms.
enum JournalOpsSeeds {
    /// Up to 8 ops, each: kind (bit 0: delete), key length and key, deadline flag, value length
    /// and value; records get stamps in order.
    static func round(_ input: inout FuzzInput) -> [DiskStore.WriteOp] {
        var ops: [DiskStore.WriteOp] = []
        while !input.isEmpty && ops.count < 8 {
            let kind = input.byte()
            let key = input.take(Int(input.byte()) * (kind & 2 != 0 ? 2 : 1))  // past 255: a digest key
            let storageKey = StorageKey.make(key)
            if kind & 1 != 0 {
                ops.append(.delete(storageKey: storageKey))
                continue
            }
            let deadline: UInt64? = input.byte() & 1 != 0 ? 1_700_000_000_000_000_000 : nil
            let value = input.take(Int(input.byte()))
            let record = DiskRecord.make(key: key, deadline: deadline, stamp: UInt64(ops.count)) { $0 += value }
            ops.append(.put(storageKey: storageKey, record: record))
        }
        return ops
    }

    static func all() -> [[UInt8]] {
        let described: [[UInt8]] = [
            [1, 0, 0, 0, 0, 1, 107, 0, 2, 118, 49],                // put "k" = "v1"
            [1, 0, 0, 0, 1, 1, 107, 0, 3, 100, 1, 0] + [1, 107],  // a delete of "k", then a dated put
            [1, 9, 0, 0x40] + [2, 200] + [UInt8](repeating: 7, count: 400) + [0, 1, 0],  // a digest key, damaged
        ]
        let raw = described.compactMap { bytes -> [UInt8]? in
            bytes.withUnsafeBufferPointer { buffer in
                var input = FuzzInput(buffer.baseAddress, buffer.count)
                _ = input.take(4)
                return DiskStore.journalValue(round(&input)).map { [0] + $0 }
            }
        }
        return described + raw
    }
}

@testable import Larder

/// Recency keys of an inline and a digest storage key, and keys cut short.
enum RecencyKeySeeds {
    static func all() -> [[UInt8]] {
        let short = StorageKey.make(Array("k".utf8))
        let digest = StorageKey.make([UInt8](repeating: 1, count: 300))
        return [
            short.withUnsafeBytes { StorageKey.recencyKey(stamp: 1, storageKey: $0) },
            digest.withUnsafeBytes { StorageKey.recencyKey(stamp: 0x0102_0304_0506_0708, storageKey: $0) },
            [0], [0, 0, 0, 0, 0, 0, 0, 9], [UInt8](repeating: 0xFF, count: 9),
        ]
    }
}

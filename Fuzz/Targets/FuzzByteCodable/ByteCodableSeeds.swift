import Foundation

@testable import Larder

/// One encoding of each type the target decodes, after its selector byte.
enum ByteCodableSeeds {
    static func all() -> [[UInt8]] {
        let leaf = Sample(id: 1, name: "a", tags: ["x"], ratio: 0.5, children: [])
        let tree = Sample(id: -9, name: "é\"\\", tags: nil, ratio: nil, children: [leaf, leaf])
        let encodings: [[UInt8]] = [
            Int.min.encodedBytes, Int8(-1).encodedBytes, Int16(300).encodedBytes, Int32.max.encodedBytes,
            Int64(42).encodedBytes, UInt(7).encodedBytes, UInt8(255).encodedBytes, UInt16(1).encodedBytes,
            UInt32(70_000).encodedBytes, UInt64.max.encodedBytes, true.encodedBytes, Double.nan.encodedBytes,
            Float(2).encodedBytes, UUID(uuid: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)).encodedBytes,
            "é名\u{1F600}".encodedBytes, [UInt8]([0, 1, 2]).encodedBytes, Data([3, 4]).encodedBytes,
            (try? CodableBytes(tree).bytes) ?? [], (try? CodableBytes([1, nil, 3] as [Int?]).bytes) ?? [],
        ]
        return encodings.enumerated().map { [UInt8($0.offset)] + $0.element }
    }
}

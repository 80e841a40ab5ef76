@testable import Larder

/// Keys with every kind of value, nested (the target's selector byte first).
enum CallKeySeeds {
    static func all() -> [[UInt8]] {
        let scalars: [CallKey.Value] = [
            .none, .bool(true), .int(-1), .int8(-128), .int16(300), .int32(.max), .int64(.min), .uint(7), .uint8(255),
            .uint16(1), .uint32(70_000), .uint64(.max), .float(1.5), .double(-0.0), .double(.nan), .string("é名\u{1F600}"),
        ]
        let nested: CallKey.Value = .array([.set([.int(1), .string("a")]), .dictionary([.string("k"): .array([.none])]),
                                            .custom(type: "Point", value: .array([.double(1), .double(2)]))])
        let keys = [
            CallKey(positional: scalars),
            CallKey(positional: [nested], named: ["width": .int(3), "é": .string("")]),
            CallKey(positional: []),
        ]
        return keys.map { [0] + $0.encodedBytes }
            + ([nested] + scalars.prefix(4)).map { [1] + $0.encodedBytes }
            + [[2] + PersistentMemoizationKey(function: "render.v2", arguments: keys[1]).encodedBytes]
    }
}

import LarderFuzzSupport

/// The streams with one, two and three requests pending, read whole and byte by byte.
enum RESP3PushSeeds {
    static func all() -> [[UInt8]] {
        // shape: request count in bits 0-1, then 2 bits of replies per request.
        RESP3Seeds.streams.flatMap { [[0b0000_1001, 7] + $0, [0b0010_1010, 0] + $0, [0b0101_0111, 3] + $0] }
    }
}

import LarderFuzzSupport

/// Each stream with the default limits read whole, and with small limits read byte by byte.
enum RESP3ReplySeeds {
    static func all() -> [[UInt8]] {
        RESP3Seeds.streams.flatMap { [[0, 0, 0, 0, 0, 7] + $0, [1, 3, 40, 8, 24, 0] + $0] }
    }
}

import NIOCore
import RESP3

/// Decoding a byte stream as a connection does, read by read.
enum RESP3Stream {
    struct Decoded: CustomStringConvertible {
        var values: [RESP3Value]
        var failed: Bool
        var description: String { "\(values)\(failed ? " then an error" : "")" }
    }

    /// Feeds `bytes` to one decoder in reads ending at `cuts` (ascending) and at the end.
    static func decode(_ bytes: [UInt8], limits: RESP3Decoder.Limits, cuts: [Int]) -> Decoded {
        var decoder = RESP3Decoder(limits: limits)
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        var values: [RESP3Value] = []
        var start = 0
        for end in cuts + [bytes.count] {
            buffer.writeBytes(bytes[start..<end])
            start = end
            do {
                while let value = try decoder.decode(buffer: &buffer) { values.append(value) }
            } catch {
                return Decoded(values: values, failed: true)
            }
        }
        return Decoded(values: values, failed: false)
    }
}

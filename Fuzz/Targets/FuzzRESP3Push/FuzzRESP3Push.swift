import LarderFuzzSupport
import NIOCore
import NIOEmbedded
import RESP3

@testable import Larder

// RESP3 push messages: the connection's decoder and handler on an EmbeddedChannel route each value
// of the server's stream to the oldest pending request or, for a push, to the shared tier, whose
// push handling (RedisSharedTier.pushed) turns invalidations into keys to drop. Input: how many
// requests are pending and how many replies each awaits, a byte that picks where the stream is cut
// into reads, then the stream.
//
// Checks: pushes and replies reach their destinations exactly as the stream, decoded on its own,
// says (replies in request order, pushes in wire order, nothing after a protocol error or a reply
// nobody asked for); the connection reports its end once and fails whatever was left pending; an
// invalidated key is one the push named under the tier's prefix.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(RESP3PushSeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP3Push(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let shape = input.byte()
    let expected = (0..<Int(shape & 3)).map { Int(shape >> (2 + 2 * $0)) & 3 }  // replies per request
    let cutting = input.byte()
    let bytes = input.rest()

    let connection = ConnectionUnderTest(requests: expected)
    var start = 0
    for end in fuzzReadCuts(count: bytes.count, pattern: cutting) + [bytes.count] {
        connection.receive(bytes[start..<end])
        start = end
    }
    let outcome = connection.finish()

    let model = RoutingModel(stream: bytes, requests: expected)
    fuzzCheck(RESP3Wire.encode(outcome.pushes) == RESP3Wire.encode(model.pushes),
              "pushes \(outcome.pushes), expected \(model.pushes): \(fuzzHex(bytes))")
    for (i, result) in outcome.results.enumerated() {
        switch (result, model.replies[i]) {
        case (.success(let got)?, let want?):
            fuzzCheck(RESP3Wire.encode(got) == RESP3Wire.encode(want), "request \(i) got \(got), expected \(want)")
        case (.failure?, nil):
            break
        default:
            fuzzCheck(false, "request \(i) ended \(String(describing: result)), expected \(String(describing: model.replies[i]))")
        }
    }
    fuzzCheck(outcome.closes == 1, "the connection reported its end \(outcome.closes) times")
    for push in outcome.pushes { TierPushes.check(push) }
    return 0
}

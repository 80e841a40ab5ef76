import LarderFuzzSupport
import NIOCore
import RESP3

@testable import Larder

// RESP3 replies (RESP3Decoder): what the shared tier reads from a Redis server, or from whatever
// answers on its port. Input: a limits byte (bit 0: small limits from the next four bytes, so
// that every limit is reached; else the defaults), a byte that picks where the stream is cut into
// reads, then the stream.
//
// Checks: the stream decodes to the same values, and fails or not alike, whether it arrives whole
// or cut into reads (the decoder keeps its state across reads); every value survives encoding and
// decoding again; the replies the cluster mode interprets (a MOVED or ASK redirect, a CLUSTER
// SLOTS map) are read without trapping and within their ranges.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(RESP3ReplySeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP3Reply(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let small = input.byte() & 1 != 0
    let bounds = input.take(4) + [0, 0, 0, 0]
    let limits = small
        ? RESP3Decoder.Limits(maxDepth: 1 + Int(bounds[0] % 8), maxBlobLength: Int(bounds[1]),
                              maxAggregateCount: Int(bounds[2]), maxLineLength: Int(bounds[3] % 64))
        : .default
    let cutting = input.byte()
    let bytes = input.rest()

    let whole = RESP3Stream.decode(bytes, limits: limits, cuts: [])
    let cut = RESP3Stream.decode(bytes, limits: limits, cuts: fuzzReadCuts(count: bytes.count, pattern: cutting))
    fuzzCheck(RESP3Wire.encode(whole.values) == RESP3Wire.encode(cut.values) && whole.failed == cut.failed,
              "whole: \(whole), in reads (\(cutting)): \(cut), stream \(fuzzHex(bytes))")

    for value in whole.values {
        let again = RESP3Stream.decode(RESP3Wire.encode(value), limits: .default, cuts: [])
        if hasLossyFormat(value) { continue }
        fuzzCheck(!again.failed && RESP3Wire.encode(again.values) == RESP3Wire.encode(value),
                  "\(value) does not survive encoding: \(again)")
        interpret(value)
    }
    return 0
}

/// Whether a verbatim string's format, anywhere in `value`, was not UTF-8 and so was decoded with
/// replacement characters: its bytes cannot be encoded back.
func hasLossyFormat(_ value: RESP3Value) -> Bool {
    switch value {
    case .verbatimString(let format, _): return format.utf8.count != 3
    case .array(let items), .set(let items), .push(let items): return items.contains(where: hasLossyFormat)
    case .map(let pairs): return pairs.contains { hasLossyFormat($0.key) || hasLossyFormat($0.value) }
    default: return false
    }
}

/// The cluster mode's readings of a reply.
func interpret(_ value: RESP3Value) {
    if let redirect = ClusterRedirect(value) {
        switch redirect {
        case .moved(let slot, _), .ask(let slot, _):
            fuzzCheck((0..<ClusterSlotMap.slotCount).contains(slot), "redirect to slot \(slot)")
        }
    }
    // Only what looks like a slot map, a list of [first, last, node...]: the map's set-up walks
    // all 16384 slots, which would otherwise cost most of the target's time.
    guard case .array(let ranges) = value, case .array(let parts)? = ranges.first, parts.count >= 3 else { return }
    if let map = try? ClusterSlotMap(slotsReply: value, from: "fuzz") {
        for slot in [0, 1, 8191, ClusterSlotMap.slotCount - 1] {
            let node = map.primary(forSlot: slot)
            fuzzCheck((1...65535).contains(node.port), "slot \(slot) owned by port \(node.port)")
        }
    }
}

/// Where a byte stream of `count` bytes is cut into reads, so that a target sees a decoder's
/// state carried across reads: `pattern` 0 cuts after every byte, otherwise the reads follow a
/// short cycle of lengths (1 to 12 bytes) drawn from it.
package func fuzzReadCuts(count: Int, pattern: UInt8) -> [Int] {
    var out: [Int] = []
    var at = 0, state = UInt32(pattern)
    while true {
        state = state &* 1_103_515_245 &+ 12345
        at += pattern == 0 ? 1 : 1 + Int((state >> 16) % 12)
        guard at < count else { return out }
        out.append(at)
    }
}

import Foundation

/// A small deterministic generator (SplitMix64) so randomized tests replay.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// Log-uniform: every size class in the range is about equally likely.
    mutating func logUniform(_ range: ClosedRange<Int>) -> Int {
        let lo = log(Double(range.lowerBound)), hi = log(Double(range.upperBound))
        let u = Double(next() >> 11) / Double(1 << 53)
        return min(range.upperBound, max(range.lowerBound, Int(exp(lo + (hi - lo) * u))))
    }
}

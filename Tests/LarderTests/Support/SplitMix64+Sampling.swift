import Foundation
@testable import Larder

/// Draws the tests make from the library's seeded generator (``SplitMix64``, shared with
/// Bench and the C core's tests), so randomized tests replay.
extension SplitMix64 {
    mutating func uniform(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// Log-uniform: every size class in the range is about equally likely.
    mutating func logUniform(_ range: ClosedRange<Int>) -> Int {
        let lo = log(Double(range.lowerBound)), hi = log(Double(range.upperBound))
        let u = nextUnit()
        return min(range.upperBound, max(range.lowerBound, Int(exp(lo + (hi - lo) * u))))
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Larder

/// Zipf-distributed ranks in 0..<n with exponent `s` (< 1), by the
/// rejection-free method of Gray et al. that YCSB uses: O(n) set-up, O(1) per draw.
struct ZipfGenerator {
    let n: Int
    let theta: Double
    private let zetaN: Double
    private let alpha: Double
    private let eta: Double
    private let halfPowTheta: Double

    init(n: Int, s: Double) {
        precondition(n >= 2 && s > 0 && s < 1, "Zipf needs n >= 2 and 0 < s < 1")
        self.n = n
        theta = s
        var zeta = 0.0
        for i in 1...n { zeta += 1.0 / pow(Double(i), s) }
        zetaN = zeta
        let zeta2 = 1.0 + pow(0.5, s)
        alpha = 1.0 / (1.0 - s)
        eta = (1.0 - pow(2.0 / Double(n), 1.0 - s)) / (1.0 - zeta2 / zeta)
        halfPowTheta = pow(0.5, s)
    }

    func next(_ rng: inout SplitMix64) -> Int {
        let u = rng.nextUnit()
        let uz = u * zetaN
        if uz < 1.0 { return 0 }
        if uz < 1.0 + halfPowTheta { return 1 }
        let r = Int(Double(n) * pow(eta * u - eta + 1.0, alpha))
        return min(r, n - 1)
    }
}

/// 0..<n in a seeded random order.
func shuffledRange(_ n: Int, _ rng: inout SplitMix64) -> [Int] {
    var a = Array(0..<n)
    if n > 1 {
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
    return a
}

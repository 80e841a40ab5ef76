import Larder
/// The machine's latency for a dependent random load at a few working-set
/// sizes: a pointer chase through one random cycle over the lines of a buffer.
///
/// Larder's get-hit on a cold entry waits for two such loads in a row (the
/// index bucket, then the key beside its value), so these figures bound its
/// tail latency on the machine at hand: a cache larger than the last level
/// that serves this process puts two of the large-buffer figure in its p99.
enum MemoryLatency {
    struct Probe {
        var mebibytes: Int
        var nanosecondsPerLoad: Double
    }

    /// Measures each size (MiB) with `steps` dependent loads after one warm-up lap.
    static func measure(mebibytes sizes: [Int], steps: Int, seed: UInt64) -> [Probe] {
        sizes.map { size in
            let chaser = Chaser(bytes: size << 20, seed: seed)
            return Probe(mebibytes: size, nanosecondsPerLoad: chaser.measure(steps: steps))
        }
    }

    /// One buffer laid out as a random cycle, to measure again and again
    /// (the throughput suite probes before every slice).
    final class Chaser {
        private let buffer: UnsafeMutablePointer<Int>
        private let lines: Int
        private var at = 0

        init(bytes: Int, seed: UInt64) {
            let lineInts = 64 / MemoryLayout<Int>.stride  // one cache line, in Ints
            lines = bytes / 64
            buffer = UnsafeMutablePointer<Int>.allocate(capacity: lines * lineInts)
            // Sattolo's shuffle: a single cycle through every line, so the chase
            // visits all of them in an order the prefetchers cannot follow.
            var order = Array(0..<lines)
            var rng = SplitMix64(seed: seed)
            for i in stride(from: lines - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next() % UInt64(i)))
            }
            for i in 0..<lines {
                buffer[order[i] * lineInts] = order[(i + 1) % lines] * lineInts
            }
        }

        deinit { buffer.deallocate() }

        /// ns per dependent load over `steps` loads, after a warm-up lap (pages
        /// faulted in, TLBs as in steady state), on whatever else the caches hold now.
        func measure(steps: Int) -> Double {
            for _ in 0..<lines { at = buffer[at] }
            let t0 = nowNanoseconds()
            for _ in 0..<steps { at = buffer[at] }
            let t1 = nowNanoseconds()
            sink &+= at
            return Double(t1 - t0) / Double(steps)
        }
    }
}

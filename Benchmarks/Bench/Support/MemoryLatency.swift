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
        sizes.map { Probe(mebibytes: $0, nanosecondsPerLoad: chase(bytes: $0 << 20, steps: steps, seed: seed)) }
    }

    private static func chase(bytes: Int, steps: Int, seed: UInt64) -> Double {
        let lineInts = 64 / MemoryLayout<Int>.stride  // one cache line, in Ints
        let lines = bytes / 64
        let buffer = UnsafeMutablePointer<Int>.allocate(capacity: lines * lineInts)
        defer { buffer.deallocate() }
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
        var at = 0
        for _ in 0..<lines { at = buffer[at] }  // warm-up lap: pages faulted in, TLBs as in steady state
        let t0 = nowNanoseconds()
        for _ in 0..<steps { at = buffer[at] }
        let t1 = nowNanoseconds()
        sink &+= at
        return Double(t1 - t0) / Double(steps)
    }
}

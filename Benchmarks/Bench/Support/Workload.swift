import Larder
/// Sizes of a run; `--quick` shrinks all of them.
struct BenchConfig: Codable, Sendable {
    var capacity = 100_000
    var universe = 1_000_000
    var zipfS = 0.99
    var mixedOps = 5_000_000
    var microOps = 1_000_000
    /// The OrderedDictionary LRU pays O(count) per hit and per eviction: it
    /// runs only the first `orderedOps` operations of each sequence.
    var orderedOps = 300
    /// NSCache costs microseconds per operation on Linux: it runs the first
    /// `slowPeerOps` operations of each sequence, to keep the default run short.
    var slowPeerOps = 1_000_000
    var coreCapacity = 1_000_000
    var coreOps = 2_000_000
    /// How long each measurement of the threads suite runs, in milliseconds:
    /// every thread works until then (see ThreadsSuite.measure).
    var threadMillis = 150.0
    var threadCounts = [1, 2, 4]
    var shardCounts = [1, 16]
    var latencyOps = 200_000
    var memoryIntEntries = 1_000_000
    var memoryBlobEntries = 100_000
    var allocOps = 100_000
    var runs = 3
    /// Replays of each trace in the hit-ratio suite. Many more than `runs`: a
    /// replay takes milliseconds, and W-TinyLFU's figure on one small pair
    /// moves by up to a point with the hashes (the sketch's collisions). The
    /// median of 15 replays still moved by 0.3 point between processes, as
    /// much as the margins the suite compares (docs/Performance.md); of 101,
    /// by about a tenth.
    var replays = 101
    var seed: UInt64 = 0x4C41_5244_4552
    var quick = false
    /// --quick runs only traces shorter than this (0 = all).
    var traceRequestLimit = 0

    static var quickConfig: BenchConfig {
        var c = BenchConfig()
        c.capacity = 10_000
        c.universe = 100_000
        c.mixedOps = 100_000
        c.microOps = 20_000
        c.orderedOps = 100
        c.slowPeerOps = 20_000
        c.coreCapacity = 50_000
        c.coreOps = 100_000
        c.threadMillis = 5
        c.latencyOps = 5_000
        c.memoryIntEntries = 20_000
        c.memoryBlobEntries = 2_000
        c.allocOps = 5_000
        c.runs = 2
        c.replays = 2
        c.quick = true
        c.traceRequestLimit = 30_000
        return c
    }
}

extension BenchConfig {
    /// How many operations of a sequence of `n` the peer runs (see orderedOps, slowPeerOps).
    func operations(_ n: Int, for peer: PeerKind) -> Int {
        switch peer {
        case .ordered: min(n, orderedOps)
        case .nscache: min(n, slowPeerOps)
        default: n
        }
    }
}

@inline(__always) func valueFor(_ key: Int) -> Int { key &* 7 &+ 1 }

extension IntCachePeer {
    /// Brings an empty peer to the state the mixed runs start from: an LRU
    /// peer takes the LRU's contents after the warm-up in one pass; a peer
    /// under another policy replays the warm-up itself (get, set on a miss),
    /// so that it starts from its own steady state, not from LRU's contents
    /// with no history (which W-TinyLFU and S3-FIFO would first have to
    /// unlearn, at a lower hit ratio).
    func warmUpForMixed(_ kind: PeerKind, _ w: Workload) {
        if kind.warmsUpByReplay {
            for key in w.mixedWarmUp where get(key) == nil { set(key, valueFor(key)) }
        } else {
            for key in w.mixedPrefill { set(key, valueFor(key)) }
        }
    }
}

/// Every key sequence the throughput, thread and latency suites use, generated
/// once from the seed so all peers and runs see exactly the same keys.
struct Workload: Sendable {
    /// `capacity` distinct keys, the state before the get-hit / get-miss / set runs.
    let resident: [Int]
    /// Uniform draws from `resident`.
    let hits: [Int]
    /// Keys never inserted.
    let misses: [Int]
    /// Distinct new keys: on a full cache each set evicts.
    let fresh: [Int]
    /// The LRU state after a Zipf warm-up, oldest first: the LRU peers start the mixed run from it.
    let mixedPrefill: [Int]
    /// That warm-up's draws: the peers under another policy replay them (see `PeerKind.warmsUpByReplay`).
    let mixedWarmUp: [Int]
    /// Zipf draws over `universe` keys.
    let mixed: [Int]

    init(_ c: BenchConfig) {
        var rng = SplitMix64(seed: c.seed)
        let permutation = shuffledRange(c.universe, &rng)
        resident = Array(permutation.prefix(c.capacity))
        hits = (0..<c.microOps).map { _ in permutation[Int(rng.next() % UInt64(c.capacity))] }
        // Keys in universe ..< 2*universe are never inserted by any suite.
        misses = (0..<c.microOps).map { _ in c.universe + Int(rng.next() % UInt64(c.universe)) }
        fresh = (0..<c.microOps).map { 2 * c.universe + $0 }

        let zipf = ZipfGenerator(n: c.universe, s: c.zipfS)
        let warm = (0..<(2 * c.capacity + c.universe)).map { _ in permutation[zipf.next(&rng)] }
        // The contents of an exact LRU after the warm-up: the last `capacity`
        // distinct keys, least recent first.
        var seen = Set<Int>(minimumCapacity: c.capacity)
        var newestFirst: [Int] = []
        newestFirst.reserveCapacity(c.capacity)
        for key in warm.reversed() where newestFirst.count < c.capacity {
            if seen.insert(key).inserted { newestFirst.append(key) }
        }
        mixedPrefill = newestFirst.reversed()
        mixedWarmUp = warm
        mixed = (0..<c.mixedOps).map { _ in permutation[zipf.next(&rng)] }
    }
}

import Larder

/// Recency-heavy access patterns, generated from a seed: workloads where recent
/// keys matter more than often-seen ones, on which a frequency-biased policy
/// with a fixed small admission window loses to LRU.
enum SyntheticTraces {
    struct Trace {
        let name: String
        let keys: [Int]
        /// The cache sizes the suite replays it at.
        let sizes: [Int]
    }

    static func all(seed: UInt64) -> [Trace] {
        [slidingWindow(seed: seed), shiftingHotSet(seed: seed)]
    }

    /// Keys drawn uniformly from a window of 800 consecutive ids that moves one id
    /// forward every 8 requests: each key is popular for a while, then never seen
    /// again. Sizes below and above the window.
    static func slidingWindow(seed: UInt64, requests: Int = 400_000) -> Trace {
        var rng = SplitMix64(seed: seed ^ 0x5344_4957)
        let window = 800
        var keys: [Int] = []
        keys.reserveCapacity(requests)
        for i in 0..<requests {
            keys.append(i / 8 + Int(rng.next() % UInt64(window)))
        }
        return Trace(name: "synthetic_sliding", keys: keys, sizes: [250, 500, 1000])
    }

    /// A hot set of 400 keys takes 90 % of the requests (the rest are one-off keys);
    /// every 20,000 requests a new hot set replaces the old one: the new keys start
    /// with no history while the old ones still carry theirs.
    static func shiftingHotSet(seed: UInt64, requests: Int = 400_000) -> Trace {
        var rng = SplitMix64(seed: seed ^ 0x5348_4946)
        let hot = 400
        let phase = 20_000
        var keys: [Int] = []
        keys.reserveCapacity(requests)
        var oneOff = 1 << 40
        for i in 0..<requests {
            if rng.next() % 10 == 0 {
                keys.append(oneOff)
                oneOff += 1
            } else {
                keys.append((i / phase) * hot + Int(rng.next() % UInt64(hot)))
            }
        }
        return Trace(name: "synthetic_shifting", keys: keys, sizes: [250, 500, 1000])
    }
}

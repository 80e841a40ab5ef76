import Histogram

/// Per-operation latency: every operation bracketed by two clock reads and
/// recorded in an HdrHistogram. The timer's own cost (two back-to-back reads)
/// is measured the same way and reported; "net" figures subtract its median.
enum LatencySuite {
    enum Operation: String, CaseIterable {
        case getHit = "get-hit"
        case getMiss = "get-miss"
        case setEvict = "set+evict"
        /// Gets of the mixed Zipf sequence from its warmed state; only hits are
        /// recorded, a miss is followed by an untimed set as in the mixed workload.
        case zipfHit = "get-hit zipf"
    }

    static func newHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000,
                          numberOfSignificantValueDigits: .three)
    }

    struct Run: PeerVisitor {
        let kind: PeerKind
        let workload: Workload
        let prefill: [Int]
        let keys: [Int]
        let count: Int
        let operation: Operation

        func visit<P: IntCachePeer>(_ peer: P) -> Histogram<UInt64> {
            if operation == .zipfHit {
                peer.warmUpForMixed(kind, workload)
            } else {
                for key in prefill { peer.set(key, valueFor(key)) }
            }
            var histogram = LatencySuite.newHistogram()
            var acc = 0
            let n = min(count, keys.count)
            keys.withUnsafeBufferPointer { buffer in
                switch operation {
                case .getHit, .getMiss:
                    for i in 0..<n {
                        let key = buffer[i]
                        let t0 = nowNanoseconds()
                        let v = peer.get(key)
                        let t1 = nowNanoseconds()
                        acc &+= v ?? 0
                        _ = histogram.record(t1 &- t0)
                    }
                case .zipfHit:
                    for i in 0..<n {
                        let key = buffer[i]
                        let t0 = nowNanoseconds()
                        let v = peer.get(key)
                        let t1 = nowNanoseconds()
                        if let v {
                            acc &+= v
                            _ = histogram.record(t1 &- t0)
                        } else {
                            peer.set(key, valueFor(key))
                        }
                    }
                case .setEvict:
                    for i in 0..<n {
                        let key = buffer[i]
                        let t0 = nowNanoseconds()
                        peer.set(key, i)
                        let t1 = nowNanoseconds()
                        _ = histogram.record(t1 &- t0)
                    }
                }
            }
            sink &+= acc
            peer.close()
            return histogram
        }
    }

    static func timerHistogram(_ n: Int) -> Histogram<UInt64> {
        var histogram = newHistogram()
        for _ in 0..<n {
            let t0 = nowNanoseconds()
            let t1 = nowNanoseconds()
            _ = histogram.record(t1 &- t0)
        }
        return histogram
    }

    struct Percentiles {
        var p50: [Double] = [], p99: [Double] = [], p999: [Double] = [], max: [Double] = []
        mutating func add(_ h: Histogram<UInt64>) {
            p50.append(Double(h.valueAtPercentile(50)))
            p99.append(Double(h.valueAtPercentile(99)))
            p999.append(Double(h.valueAtPercentile(99.9)))
            max.append(Double(h.max))
        }
    }

    static func run(_ c: BenchConfig, _ w: Workload) -> SuiteResult {
        var result = SuiteResult(name: "latency")
        let peers = PeerKind.allCases
        var figures: [Operation: [PeerKind: Percentiles]] = [:]
        var timer = Percentiles()
        for run in 0..<c.runs {
            progress("latency run \(run + 1)/\(c.runs)")
            timer.add(timerHistogram(c.latencyOps))
            for operation in Operation.allCases {
                let (prefill, keys): ([Int], [Int]) = switch operation {
                case .getHit: (w.resident, w.hits)
                case .getMiss: (w.resident, w.misses)
                case .setEvict: (w.resident, w.fresh)
                case .zipfHit: (w.mixedPrefill, w.mixed)
                }
                for peer in peers {
                    let n = c.operations(c.latencyOps, for: peer)
                    let h = peer.visit(capacity: c.capacity, Run(kind: peer, workload: w, prefill: prefill, keys: keys,
                                                                           count: n, operation: operation))
                    figures[operation, default: [:]][peer, default: Percentiles()].add(h)
                }
            }
        }
        let timerP50 = Spread(timer.p50).median
        progress("latency: dependent random loads")
        let probes = MemoryLatency.measure(mebibytes: c.quick ? [1, 4] : [1, 4, 64],
                                           steps: c.quick ? 200_000 : 2_000_000, seed: c.seed)
        func row(_ group: String, _ peer: String, _ p: Percentiles) -> (ResultRow, [String]) {
            let p50 = Spread(p.p50), p99 = Spread(p.p99), p999 = Spread(p.p999)
            let maxAll = p.max.max() ?? 0
            var r = ResultRow(group: group, peer: peer, unit: "ns", value: p99)
            r.extra = ["p50": p50.median, "p99": p99.median, "p99.9": p999.median, "max": maxAll,
                       "netP50": Swift.max(0, p50.median - timerP50), "netP99": Swift.max(0, p99.median - timerP50),
                       "timerP50": timerP50]
            let cells = [group, peer, fmt(p50.median, 0), fmt(p99.median, 0), fmt(p999.median, 0), fmt(maxAll, 0),
                         fmt(Swift.max(0, p99.median - timerP50), 0)]
            return (r, cells)
        }
        var table = Table("operation", "peer", "p50", "p99", "p99.9", "max", "net p99")
        let (timerRow, timerCells) = row("timer", "two clock reads", timer)
        result.rows.append(timerRow)
        table.add(cells: timerCells)
        for operation in Operation.allCases {
            for peer in peers {
                let (r, cells) = row(operation.rawValue, peer.label, figures[operation]![peer]!)
                result.rows.append(r)
                table.add(cells: cells)
            }
        }
        for probe in probes {
            result.rows.append(ResultRow(group: "machine", peer: "dependent random load, \(probe.mebibytes) MiB", unit: "ns",
                                         value: Spread([probe.nanosecondsPerLoad])))
        }
        print(table.render())
        let loads = probes.map { "\(fmt($0.nanosecondsPerLoad, 0)) ns over \($0.mebibytes) MiB" }.joined(separator: ", ")
        result.notes = [
            "get-hit/get-miss/set+evict: uniform keys over a full cache of \(c.capacity) (each a likely cache miss); get-hit zipf: hits of the mixed Zipf sequence.",
            "ns per operation including the timer; p50/p99/p99.9 are medians over \(c.runs) runs of \(c.latencyOps) operations, max is the largest seen; net p99 = p99 minus the timer's median (\(fmt(timerP50, 0)) ns).",
            "this machine's dependent random load (a pointer chase): \(loads); Cache's get-hit on a cold entry waits for two of these in a row (its index bucket, then the key beside the value); Dictionary's for about one (its occupancy bitmap stays cached and the key's and value's loads overlap).",
        ]
        for n in result.notes { print("  note: " + n) }
        for operation in Operation.allCases {
            let line = "\(operation.rawValue) p99: " + comparisonLine(subject: .larder1, against: peers.filter { $0 != .larder1 }) {
                Spread(figures[operation]![$0]!.p99).median
            }
            result.ratios.append(line)
            print("  " + line)
        }
        result.targets = [(Operation.getHit, "uniform over the resident keys"), (.zipfHit, "Zipf keys")].map { op, what in
            let p99 = Spread(figures[op]![.larder1]!.p99).median
            let net = Swift.max(0, p99 - timerP50)
            return .init(name: "Cache(1) get-hit p99, \(what) (net of timer)", goal: "<= 250 ns",
                         measured: "\(fmt(net, 0)) ns (raw \(fmt(p99, 0)) ns)", met: net <= 250)
        }
        printTargets(result.targets)
        return result
    }
}

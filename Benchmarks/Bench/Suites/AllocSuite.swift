import Larder

/// Heap bytes allocated per operation on the hot path, from jemalloc's
/// per-thread counter (`thread.allocatedp`, read with a load).
enum AllocSuite {
    struct Run: PeerVisitor {
        let prefill: [Int]
        let keys: [Int]
        let count: Int
        let counter: UnsafeMutablePointer<UInt64>

        func visit<P: IntCachePeer>(_ peer: P) -> (getHit: Double, setExisting: Double) {
            for key in prefill { peer.set(key, valueFor(key)) }
            let n = min(count, keys.count)
            var acc = 0
            // One untimed pass first: lazily created state is not the steady state.
            for i in 0..<min(n, 100) { acc &+= peer.get(keys[i]) ?? 0; peer.set(keys[i], i) }
            var getBytes: UInt64 = 0
            var setBytes: UInt64 = 0
            keys.withUnsafeBufferPointer { buffer in
                let a0 = counter.pointee
                for i in 0..<n { acc &+= peer.get(buffer[i]) ?? 0 }
                let a1 = counter.pointee
                for i in 0..<n { peer.set(buffer[i], i) }
                let a2 = counter.pointee
                getBytes = a1 &- a0
                setBytes = a2 &- a1
            }
            sink &+= acc
            peer.close()
            return (Double(getBytes) / Double(max(n, 1)), Double(setBytes) / Double(max(n, 1)))
        }
    }

    static func run(_ c: BenchConfig, _ w: Workload) -> SuiteResult {
        var result = SuiteResult(name: "alloc")
        guard let counter = JemallocThreadCounters.allocatedCounter() else {
            result.notes = ["jemalloc's thread.allocatedp is not available: nothing measured."]
            print("  " + result.notes[0])
            return result
        }
        let peers = PeerKind.allCases
        var gets: [PeerKind: [Double]] = [:]
        var sets: [PeerKind: [Double]] = [:]
        for run in 0..<c.runs {
            progress("alloc run \(run + 1)/\(c.runs)")
            for peer in peers {
                let n = c.operations(c.allocOps, for: peer)
                let r = peer.visit(capacity: c.capacity, Run(prefill: w.resident, keys: w.hits, count: n, counter: counter))
                gets[peer, default: []].append(r.getHit)
                sets[peer, default: []].append(r.setExisting)
            }
        }
        var table = Table("bytes allocated per op, median", "get-hit", "set existing key")
        for peer in peers {
            let g = Spread(gets[peer]!), s = Spread(sets[peer]!)
            result.rows.append(ResultRow(group: "get-hit", peer: peer.label, unit: "B/op", value: g))
            result.rows.append(ResultRow(group: "set-existing", peer: peer.label, unit: "B/op", value: s))
            table.add(peer.label, fmt(g.median, 2), fmt(s.median, 2))
        }
        print(table.render())
        result.notes = ["\(c.allocOps) get-hits then \(c.allocOps) sets of resident Int keys, on a full cache of \(c.capacity)."]
        for n in result.notes { print("  note: " + n) }
        let g1 = Spread(gets[.larder1]!).median, s1 = Spread(sets[.larder1]!).median
        let gd = Spread(gets[.larderDefault]!).median, sd = Spread(sets[.larderDefault]!).median
        result.targets = [
            .init(name: "Cache(1) bytes allocated per get-hit", goal: "0", measured: fmt(g1, 2), met: g1 == 0),
            .init(name: "Cache(1) bytes allocated per set of an existing Int key", goal: "0", measured: fmt(s1, 2), met: s1 == 0),
            .init(name: "default Cache bytes allocated per get-hit / set existing", goal: "0",
                  measured: "\(fmt(gd, 2)) / \(fmt(sd, 2))", met: gd == 0 && sd == 0),
        ]
        for peer in [PeerKind.larderTinyLFU, .larderS3FIFO] {
            let g = Spread(gets[peer]!).median, s = Spread(sets[peer]!).median
            result.targets.append(.init(name: "\(peer.shortName) bytes allocated per get-hit / set existing", goal: "0",
                                        measured: "\(fmt(g, 2)) / \(fmt(s, 2))", met: g == 0 && s == 0))
        }
        printTargets(result.targets)
        return result
    }
}

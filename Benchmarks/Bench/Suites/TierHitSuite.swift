import Foundation
import Larder

/// Memory hits on a cache with the LMDB tier attached against the same hits
/// without it: what recording accesses for the disk's recency order costs.
enum TierHitSuite {
    struct Workload {
        let name: String
        /// Keys read in turn (one key: the hot-key case).
        let keys: [Int]
    }

    static func run(_ c: BenchConfig) throws -> SuiteResult {
        var result = SuiteResult(name: "tier")
        let reads = c.quick ? 200_000 : 4_000_000
        let resident = Array(0..<1_000)
        let workloads = [Workload(name: "one hot key", keys: [7]), Workload(name: "1000 resident keys in turn", keys: resident)]
        let bytes = [UInt8](repeating: 1, count: 100)
        var table = Table("workload", "value", "no tier ns/op", "LMDB tier ns/op", "tier / none")
        for workload in workloads {
            for valueKind in ["[UInt8] (100 bytes)", "Int"] {
                var plainNs: [Double] = [], tierNs: [Double] = [], ratios: [Double] = []
                for run in 0..<c.runs {
                    progress("tier hits: \(workload.name), \(valueKind), run \(run + 1)/\(c.runs)")
                    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("larder-tierhit-\(getpid())-\(run)").path
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let persistence = PersistenceConfiguration.lmdb(directory: dir, maxBytes: 1 << 30, durability: .groupCommit)
                    let measured = valueKind == "Int"
                        ? try measure(persistence, keys: resident, reads: workload.keys, count: reads, run: run) { $0 }
                        : try measure(persistence, keys: resident, reads: workload.keys, count: reads, run: run) { _ in bytes }
                    plainNs.append(measured.plain)
                    tierNs.append(measured.tier)
                    ratios.append(measured.tier / measured.plain)
                }
                let group = "memory get-hit, \(workload.name), \(valueKind)"
                let ratio = Spread(ratios)
                result.rows.append(ResultRow(group: group, peer: "no tier", unit: "ns/op", value: Spread(plainNs)))
                result.rows.append(ResultRow(group: group, peer: "LMDB tier", unit: "ns/op", value: Spread(tierNs),
                                             extra: ["ratio_to_no_tier": ratio.median]))
                table.add(workload.name, valueKind, spreadText(Spread(plainNs)), spreadText(Spread(tierNs)),
                          spreadText(ratio, 2) + "x")
                result.targets.append(.init(name: "memory hit with the LMDB tier, \(workload.name), \(valueKind)",
                                            goal: "at most 1.25x the hit without a tier",
                                            measured: fmt(ratio.median, 2) + "x", met: ratio.median <= 1.25))
            }
        }
        print(table.render())
        result.notes = ["Each run builds both caches (maxCount 10000, 1000 resident keys; the tier in .groupCommit), then reads \(reads) times from one thread, the two caches in alternating order; the ratio is taken within each run."]
        for note in result.notes { print("  note: " + note) }
        for target in result.targets { print("  target: \(target.name): \(target.goal); measured \(target.measured)\(target.met ? "" : " (NOT MET)")") }
        return result
    }

    /// ns per hit on a cache without a tier and on one with the LMDB tier, holding
    /// `keys` with `value(key)`; the two alternate which goes first, so that drift
    /// in the machine's speed cancels out.
    static func measure<V: Sendable & ByteCodable>(_ persistence: PersistenceConfiguration, keys: [Int], reads: [Int],
                                                  count: Int, run: Int, value: (Int) -> V) throws -> (plain: Double, tier: Double) {
        let plain = try Cache<Int, V>(configuration: .init(maxCount: 10_000))
        let tiered = try Cache<Int, V>(configuration: .init(maxCount: 10_000), persistence: persistence)
        defer { tiered.close() }
        for k in keys {
            try plain.setValue(value(k), forKey: k)
            try tiered.setValue(value(k), forKey: k)
        }
        if run % 2 == 0 {
            let p = hitNanoseconds(plain, reads, count)
            return (p, hitNanoseconds(tiered, reads, count))
        }
        let t = hitNanoseconds(tiered, reads, count)
        return (hitNanoseconds(plain, reads, count), t)
    }

    static func hitNanoseconds<V>(_ cache: Cache<Int, V>, _ keys: [Int], _ reads: Int) -> Double {
        var found = 0
        for k in keys where cache.value(forKey: k) != nil { found += 1 }  // warm-up
        let n = keys.count
        let t0 = nowNanoseconds()
        var j = 0
        for _ in 0..<reads {
            if cache.value(forKey: keys[j]) != nil { found += 1 }
            j += 1
            if j == n { j = 0 }
        }
        let elapsed = nowNanoseconds() - t0
        precondition(found == reads + n, "a resident key missed")
        return Double(elapsed) / Double(reads)
    }
}

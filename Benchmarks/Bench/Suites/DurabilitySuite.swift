import Foundation
import Larder

/// The LMDB tier: sets per second under each durability mode, a memory miss
/// served from disk, and reopening a store. Stores live in a temporary
/// directory removed afterwards; values are 100-byte `[UInt8]` under `Int` keys.
enum DurabilitySuite {
    struct Sizes {
        var syncSets: Int
        var groupThreads: Int
        var groupSetsPerThread: Int
        var writeBackSets: Int
        var diskEntries: Int
        var memoryEntries: Int
        var diskReads: Int

        init(_ c: BenchConfig) {
            let quick = c.quick
            syncSets = quick ? 30 : 300
            groupThreads = 4
            groupSetsPerThread = quick ? 10 : 100
            writeBackSets = quick ? 1_000 : 50_000
            diskEntries = quick ? 2_000 : 50_000
            memoryEntries = quick ? 200 : 5_000
            diskReads = quick ? 500 : 20_000
        }
    }

    static func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 100) }

    static func open(_ dir: String, memory: Int, durability: PersistenceConfiguration.Durability) throws -> Cache<Int, [UInt8]> {
        try Cache<Int, [UInt8]>(
            configuration: CacheConfiguration(maxCount: memory),
            persistence: .lmdb(directory: dir, maxBytes: 1 << 30, durability: durability))
    }

    /// Sets per second of `threads` writers doing `perThread` sets each on a fresh store.
    static func setsPerSecond(_ root: String, _ name: String, _ durability: PersistenceConfiguration.Durability,
                              threads: Int, perThread: Int) throws -> Double {
        let dir = root + "/" + name
        let cache = try open(dir, memory: 100_000, durability: durability)
        let values = (0..<(threads * perThread)).map(value)
        let done = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        let failures = Failures()
        for t in 0..<threads {
            done.enter()
            Thread {
                go.wait()
                for i in (t * perThread)..<((t + 1) * perThread) {
                    do { try cache.setValue(values[i], forKey: i) } catch { failures.record(error) }
                }
                done.leave()
            }.start()
        }
        let start = nowNanoseconds()
        for _ in 0..<threads { go.signal() }
        done.wait()
        if case .writeBack = durability { try cache.flushPersistence() }
        let elapsed = nowNanoseconds() &- start
        cache.close()
        if let error = failures.first { throw error }
        return Double(threads * perThread) / (Double(elapsed) / 1e9)
    }

    final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var first: Error?
        func record(_ error: Error) { lock.lock(); if first == nil { first = error }; lock.unlock() }
    }

    static func run(_ c: BenchConfig) throws -> SuiteResult {
        var result = SuiteResult(name: "durability")
        let sizes = Sizes(c)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("larder-bench-\(getpid())").path
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }

        let runs = min(c.runs, 2)
        var sync: [Double] = [], group1: [Double] = [], groupN: [Double] = [], writeBack: [Double] = []
        var diskHit: [Double] = [], memoryHit: [Double] = [], reopen: [Double] = []
        for run in 0..<runs {
            progress("durability run \(run + 1)/\(runs)")
            sync.append(try setsPerSecond(root, "sync\(run)", .synchronous, threads: 1, perThread: sizes.syncSets))
            group1.append(try setsPerSecond(root, "group1-\(run)", .groupCommit, threads: 1, perThread: sizes.syncSets))
            groupN.append(try setsPerSecond(root, "groupN-\(run)", .groupCommit, threads: sizes.groupThreads,
                                            perThread: sizes.groupSetsPerThread))
            writeBack.append(try setsPerSecond(root, "wb\(run)", .writeBack(interval: .milliseconds(100)),
                                               threads: 1, perThread: sizes.writeBackSets))

            // A store larger than memory: gets of keys evicted from memory go to disk.
            let dir = root + "/tiers\(run)"
            do {
                let cache = try open(dir, memory: sizes.memoryEntries, durability: .writeBack(interval: .milliseconds(100)))
                for i in 0..<sizes.diskEntries { try cache.setValue(value(i), forKey: i) }
                try cache.flushPersistence()
                // The oldest keys are on disk only; each get promotes one (and evicts another to disk).
                var found = 0
                let t0 = nowNanoseconds()
                for i in 0..<sizes.diskReads { if cache.value(forKey: i % (sizes.diskEntries - sizes.memoryEntries)) != nil { found += 1 } }
                let t1 = nowNanoseconds()
                diskHit.append(Double(t1 - t0) / Double(sizes.diskReads))
                // Resident keys for comparison.
                let newest = sizes.diskEntries - 1
                let t2 = nowNanoseconds()
                for _ in 0..<sizes.diskReads { if cache.value(forKey: newest) != nil { found += 1 } }
                memoryHit.append(Double(nowNanoseconds() - t2) / Double(sizes.diskReads))
                sink &+= found
                try cache.flushPersistence()
                cache.close()
            }
            let t3 = nowNanoseconds()
            let reopened = try open(dir, memory: sizes.memoryEntries, durability: .synchronous)
            reopen.append(Double(nowNanoseconds() - t3) / 1e6)
            sink &+= reopened.count
            reopened.close()
        }
        var table = Table("durability", "figure", "median (min-max)")
        let rows: [(String, String, String, [Double], Int)] = [
            ("synchronous", "sets/s, 1 writer", "sets/s", sync, 0),
            ("groupCommit", "sets/s, 1 writer", "sets/s", group1, 0),
            ("groupCommit", "sets/s, \(sizes.groupThreads) writers", "sets/s", groupN, 0),
            ("writeBack 100 ms", "sets/s, 1 writer (incl. final flush)", "sets/s", writeBack, 0),
            ("disk tier", "get served from disk, ns", "ns/op", diskHit, 0),
            ("memory tier", "get-hit with a disk tier, ns", "ns/op", memoryHit, 0),
            ("reopen", "open + restore \(sizes.memoryEntries) of \(sizes.diskEntries) entries, ms", "ms", reopen, 1),
        ]
        for (group, figure, unit, values, decimals) in rows {
            let s = Spread(values)
            result.rows.append(ResultRow(group: group, peer: figure, unit: unit, value: s))
            table.add(group, figure, spreadText(s, decimals))
        }
        print(table.render())
        result.notes = [
            "Int keys, 100-byte [UInt8] values, LMDB in \(FileManager.default.temporaryDirectory.path); synchronous and group commit sync every commit, so they measure this disk's sync latency.",
        ]
        for n in result.notes { print("  note: " + n) }
        let line = "groupCommit with \(sizes.groupThreads) writers = \(ratioText(Spread(groupN).median, Spread(group1).median)) its 1-writer rate; writeBack = \(ratioText(Spread(writeBack).median, Spread(sync).median)) synchronous"
        result.ratios.append(line)
        print("  " + line)
        return result
    }
}

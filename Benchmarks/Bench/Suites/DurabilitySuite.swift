import CLMDB
import Foundation
import Larder
import Synchronization

/// The LMDB tier: puts per second under each durability mode with 1, 4 and 16
/// writers next to raw LMDB (one transaction per put, synced and `MDB_NOSYNC`),
/// a memory miss served from disk, and reopening a
/// large store. Every store lives in a fresh temporary directory removed afterwards;
/// values are 100-byte `[UInt8]` under `Int` keys.
enum DurabilitySuite {
    struct Sizes {
        /// Wall time of each put measurement (a fixed time, not a fixed count: the synced
        /// modes run at the disk's sync rate, which differs by orders of magnitude from write-back).
        var putSeconds: Double
        var threadCounts: [Int]
        /// Entries of the store that is reopened and read from disk.
        var storeEntries: Int
        /// Memory tier (maxCount) of the reopened cache: what a reopen restores.
        var memoryEntries: Int
        var diskReads: Int

        init(_ c: BenchConfig) {
            let quick = c.quick
            putSeconds = quick ? 0.04 : 1.0
            threadCounts = [1, 4, 16]
            storeEntries = quick ? 20_000 : 1_000_000
            memoryEntries = quick ? 1_000 : 10_000
            diskReads = quick ? 500 : 20_000
        }
    }

    static let valueBytes = 100
    static let value = [UInt8](repeating: 0xA5, count: valueBytes)

    static func open(_ dir: String, memory: Int, durability: PersistenceConfiguration.Durability) throws -> Cache<Int, [UInt8]> {
        try Cache<Int, [UInt8]>(
            configuration: CacheConfiguration(maxCount: memory),
            persistence: .lmdb(directory: dir, maxBytes: 1 << 30, durability: durability))
    }

    final class StopFlag: Sendable {
        let stop = Atomic<Bool>(false)
        let total = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
    }

    /// Puts per second of `threads` writers calling `put(thread, i)` until `seconds` have
    /// passed; `finish` (a final flush or sync) is inside the timed span.
    static func putsPerSecond(threads: Int, seconds: Double, put: @escaping @Sendable (Int, Int) throws -> Void,
                              finish: () throws -> Void) throws -> Double {
        let flag = StopFlag()
        let done = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for t in 0..<threads {
            done.enter()
            Thread {
                go.wait()
                var i = 0
                while !flag.stop.load(ordering: .relaxed) {
                    do { try put(t, i) } catch {
                        flag.failure.withLock { if $0 == nil { $0 = "\(error)" } }
                        break
                    }
                    i += 1
                }
                flag.total.add(i, ordering: .relaxed)
                done.leave()
            }.start()
        }
        let start = nowNanoseconds()
        for _ in 0..<threads { go.signal() }
        Thread.sleep(forTimeInterval: seconds)
        flag.stop.store(true, ordering: .relaxed)
        done.wait()
        try finish()
        let elapsed = nowNanoseconds() &- start
        if let failure = flag.failure.withLock({ $0 }) { throw BenchFailure(description: failure) }
        return Double(flag.total.load(ordering: .relaxed)) / (Double(elapsed) / 1e9)
    }

    struct BenchFailure: Error, CustomStringConvertible { var description: String }

    /// A distinct key per (thread, put).
    @inline(__always) static func key(_ thread: Int, _ i: Int) -> Int { thread << 40 | i }

    enum Mode: CaseIterable {
        // Measured in this order, so that each Larder mode runs next to its raw reference
        // (the sync rate of a shared disk drifts over seconds).
        case synchronous, rawSynced, groupCommit, writeBack, rawNoSync

        var label: String {
            switch self {
            case .synchronous: "Larder .synchronous"
            case .groupCommit: "Larder .groupCommit"
            case .writeBack: "Larder .writeBack(100 ms)"
            case .rawSynced: "raw LMDB, txn per put, synced"
            case .rawNoSync: "raw LMDB, txn per put, MDB_NOSYNC"
            }
        }

        var durability: PersistenceConfiguration.Durability? {
            switch self {
            case .synchronous: .synchronous
            case .groupCommit: .groupCommit
            case .writeBack: .writeBack(interval: .milliseconds(100))
            case .rawSynced, .rawNoSync: nil
            }
        }
    }

    /// One put measurement on a fresh store in `dir` (removed afterwards).
    static func measure(_ mode: Mode, threads: Int, seconds: Double, dir: String) throws -> Double {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        if let durability = mode.durability {
            let cache = try open(dir, memory: 100_000, durability: durability)
            defer { cache.close() }
            let rate = try putsPerSecond(threads: threads, seconds: seconds, put: { t, i in
                try cache.setValue(value, forKey: key(t, i))
            }, finish: {
                // Write-back acknowledges before the commit: the final flush is part of its cost.
                if case .writeBack = durability { try cache.flushPersistence() }
            })
            if ProcessInfo.processInfo.environment["LARDER_BENCH_DURABILITY_ONLY"] != nil,
               let commits = cache.persistenceStatistics?.commits, commits > 0 {
                print("  commits: \(commits), puts per commit: \(fmt(rate * seconds / Double(commits), 1))")
            }
            return rate
        }
        let raw = try RawLMDBPeer(directory: dir, synced: mode == .rawSynced)
        defer { raw.close() }
        return try putsPerSecond(threads: threads, seconds: seconds, put: { t, i in
            try raw.put(key(t, i), value)
        }, finish: {
            // NOSYNC's writes reach the disk at the end, like write-back's final flush.
            if mode == .rawNoSync { try raw.sync() }
        })
    }

    /// One writer, Larder `.synchronous` and raw synced LMDB taking turns in short slices
    /// (`slices` of each, alternating which goes first), so both see the same drift of the
    /// disk's sync latency. Returns both rates.
    static func interleavedSynced(dir: String, slices: Int, sliceSeconds: Double) throws -> (larder: Double, raw: Double) {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cache = try open(dir + "/larder", memory: 100_000, durability: .synchronous)
        defer { cache.close() }
        let raw = try RawLMDBPeer(directory: dir + "/raw", synced: true)
        defer { raw.close() }
        let sliceNs = UInt64(sliceSeconds * 1e9)
        var counts = [0, 0], times: [UInt64] = [0, 0]
        for slice in 0..<slices {
            for side in (slice % 2 == 0 ? [0, 1] : [1, 0]) {
                let t0 = nowNanoseconds()
                var now = t0
                repeat {
                    if side == 0 { try cache.setValue(value, forKey: counts[0]) } else { try raw.put(counts[1], value) }
                    counts[side] += 1
                    now = nowNanoseconds()
                } while now - t0 < sliceNs
                times[side] += now - t0
            }
        }
        return (Double(counts[0]) / (Double(times[0]) / 1e9), Double(counts[1]) / (Double(times[1]) / 1e9))
    }

    /// Larder `.groupCommit` with `writers` writers and `.synchronous` with one, taking turns
    /// in short slices like `interleavedSynced`, so the ratio of the two is not the ratio of
    /// two moments of a drifting disk. Between its slices the group writers are parked; a
    /// group slice ends when all of them have returned from their last put. Returns both rates.
    static func interleavedGroup(dir: String, writers: Int, slices: Int, sliceSeconds: Double) throws -> (group: Double, synchronous: Double) {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let sync = try open(dir + "/sync", memory: 100_000, durability: .synchronous)
        defer { sync.close() }
        let group = try open(dir + "/group", memory: 100_000, durability: .groupCommit)
        defer { group.close() }
        let flag = StopFlag()  // stop: the slice is over; total: puts in the slice
        let quit = Atomic<Bool>(false)
        let go = DispatchSemaphore(value: 0), parked = DispatchSemaphore(value: 0)
        for t in 0..<writers {
            Thread {
                var i = 0
                while true {
                    go.wait()
                    if quit.load(ordering: .relaxed) { break }
                    var n = 0
                    while !flag.stop.load(ordering: .relaxed) {
                        do { try group.setValue(value, forKey: key(t, i)) } catch {
                            flag.failure.withLock { if $0 == nil { $0 = "\(error)" } }
                            break
                        }
                        i += 1
                        n += 1
                    }
                    flag.total.add(n, ordering: .relaxed)
                    parked.signal()
                }
                parked.signal()
            }.start()
        }
        defer {
            quit.store(true, ordering: .relaxed)
            for _ in 0..<writers { go.signal() }
            for _ in 0..<writers { parked.wait() }
        }
        let sliceNs = UInt64(sliceSeconds * 1e9)
        var counts = [0, 0], times: [UInt64] = [0, 0]
        var syncKey = 0
        for slice in 0..<slices {
            for side in (slice % 2 == 0 ? [0, 1] : [1, 0]) {
                let t0 = nowNanoseconds()
                if side == 0 {
                    flag.stop.store(false, ordering: .relaxed)
                    flag.total.store(0, ordering: .relaxed)
                    for _ in 0..<writers { go.signal() }
                    while nowNanoseconds() - t0 < sliceNs { usleep(1_000) }
                    flag.stop.store(true, ordering: .relaxed)
                    for _ in 0..<writers { parked.wait() }
                    counts[0] += flag.total.load(ordering: .relaxed)
                    times[0] += nowNanoseconds() - t0
                } else {
                    var now = t0
                    repeat {
                        try sync.setValue(value, forKey: syncKey)
                        syncKey += 1
                        counts[1] += 1
                        now = nowNanoseconds()
                    } while now - t0 < sliceNs
                    times[1] += now - t0
                }
            }
        }
        if let failure = flag.failure.withLock({ $0 }) { throw BenchFailure(description: failure) }
        return (Double(counts[0]) / (Double(times[0]) / 1e9), Double(counts[1]) / (Double(times[1]) / 1e9))
    }

    static func run(_ c: BenchConfig) throws -> SuiteResult {
        var result = SuiteResult(name: "durability")
        let sizes = Sizes(c)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("larder-bench-\(getpid())").path
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let runs = c.runs

        // For profiling one case (strace -c -f, perf): LARDER_BENCH_DURABILITY_ONLY=mode:threads:seconds,
        // mode one of synchronous, groupCommit, writeBack, rawSynced, rawNoSync. Prints the put count.
        if let only = ProcessInfo.processInfo.environment["LARDER_BENCH_DURABILITY_ONLY"] {
            let parts = only.split(separator: ":").map(String.init)
            guard parts.count == 3, let mode = Mode.allCases.first(where: { "\($0)" == parts[0] }),
                  let threads = Int(parts[1]), let seconds = Double(parts[2]) else {
                throw BenchFailure(description: "LARDER_BENCH_DURABILITY_ONLY takes mode:threads:seconds, got '\(only)'")
            }
            let rate = try measure(mode, threads: threads, seconds: seconds, dir: root + "/only")
            print("  \(mode.label), \(threads) writers: \(fmt(rate, 0)) puts/s, about \(Int(rate * seconds)) puts")
            return result
        }

        // Puts: every mode and thread count once per run, runs interleaved so that
        // slow phases of the machine (other processes' I/O) spread over all of them.
        var puts: [String: [Double]] = [:]
        func putKey(_ mode: Mode, _ threads: Int) -> String { "\(mode)/\(threads)" }
        for run in 0..<runs {
            progress("durability puts, run \(run + 1)/\(runs)")
            for threads in sizes.threadCounts {
                for mode in Mode.allCases {
                    let rate = try measure(mode, threads: threads, seconds: sizes.putSeconds,
                                           dir: root + "/puts-\(mode)-\(threads)-\(run)")
                    puts[putKey(mode, threads), default: []].append(rate)
                }
            }
        }
        // The synchronous target, from interleaved slices (one writer each).
        var sliced: [Double] = [], slicedLarder: [Double] = [], slicedRaw: [Double] = []
        for run in 0..<runs {
            progress("durability: synchronous and raw synced in turns, run \(run + 1)/\(runs)")
            let r = try interleavedSynced(dir: root + "/turns-\(run)", slices: c.quick ? 2 : 10,
                                          sliceSeconds: c.quick ? 0.01 : 0.1)
            slicedLarder.append(r.larder)
            slicedRaw.append(r.raw)
            sliced.append(r.larder / r.raw)
        }

        // The group commit target, from interleaved slices (16 group writers, 1 synchronous).
        var groupSliced: [Double] = [], groupSlicedGroup: [Double] = [], groupSlicedSync: [Double] = []
        for run in 0..<runs {
            progress("durability: group commit (16 writers) and synchronous in turns, run \(run + 1)/\(runs)")
            let r = try interleavedGroup(dir: root + "/group-turns-\(run)", writers: 16, slices: c.quick ? 2 : 10,
                                         sliceSeconds: c.quick ? 0.01 : 0.1)
            groupSlicedGroup.append(r.group)
            groupSlicedSync.append(r.synchronous)
            groupSliced.append(r.group / r.synchronous)
        }

        var table = Table("puts per second, 100-byte values", "1 writer", "4 writers", "16 writers")
        for mode in Mode.allCases {
            var cells = [mode.label]
            for threads in sizes.threadCounts {
                let s = Spread(puts[putKey(mode, threads)]!)
                result.rows.append(ResultRow(group: "puts/s, \(threads) writer\(threads == 1 ? "" : "s")",
                                             peer: mode.label, unit: "puts/s", value: s))
                cells.append(spreadText(s, 0))
            }
            table.add(cells: cells)
        }
        print(table.render())
        let slicedL = Spread(slicedLarder), slicedR = Spread(slicedRaw)
        result.rows.append(ResultRow(group: "puts/s, 1 writer, interleaved slices", peer: Mode.synchronous.label, unit: "puts/s", value: slicedL))
        result.rows.append(ResultRow(group: "puts/s, 1 writer, interleaved slices", peer: Mode.rawSynced.label, unit: "puts/s", value: slicedR))
        print("  interleaved 1-writer slices: Larder .synchronous \(spreadText(slicedL, 0)), raw synced \(spreadText(slicedR, 0)) puts/s")
        let groupG = Spread(groupSlicedGroup), groupS = Spread(groupSlicedSync)
        result.rows.append(ResultRow(group: "puts/s, interleaved slices", peer: Mode.groupCommit.label + ", 16 writers", unit: "puts/s", value: groupG))
        result.rows.append(ResultRow(group: "puts/s, interleaved slices", peer: Mode.synchronous.label + ", 1 writer", unit: "puts/s", value: groupS))
        print("  interleaved slices: Larder .groupCommit 16 writers \(spreadText(groupG, 0)), .synchronous 1 writer \(spreadText(groupS, 0)) puts/s")

        // The large store: built once (write-back, one synced commit per 64 Ki entries), then
        // reopened and read from disk once per run.
        let storeDir = root + "/store"
        progress("durability: building a store of \(sizes.storeEntries) entries")
        let buildStart = nowNanoseconds()
        do {
            let cache = try open(storeDir, memory: sizes.memoryEntries, durability: .writeBack(interval: .seconds(1)))
            for i in 0..<sizes.storeEntries { try cache.setValue(value, forKey: i) }
            try cache.flushPersistence()
            cache.close()
        }
        let buildSeconds = Double(nowNanoseconds() - buildStart) / 1e9
        // Keys never promoted yet, a disjoint slice per run: each read is a memory miss served by LMDB.
        var candidates = Array(0..<(sizes.storeEntries - sizes.memoryEntries))
        var rng = SplitMix64(seed: c.seed)
        candidates.shuffle(using: &rng)
        let readsPerRun = min(sizes.diskReads, candidates.count / runs)

        var reopenMs: [Double] = [], diskMedian: [Double] = [], diskP99: [Double] = [], diskHitRatio: [Double] = []
        var timings = [UInt64](repeating: 0, count: readsPerRun)
        for run in 0..<runs {
            progress("durability reopen and reads, run \(run + 1)/\(runs)")
            let t0 = nowNanoseconds()
            let cache = try open(storeDir, memory: sizes.memoryEntries, durability: .groupCommit)
            reopenMs.append(Double(nowNanoseconds() - t0) / 1e6)
            sink &+= cache.count
            let before = cache.persistenceStatistics?.diskHits ?? 0
            for (n, k) in candidates[(run * readsPerRun)..<((run + 1) * readsPerRun)].enumerated() {
                let t = nowNanoseconds()
                let v = cache.value(forKey: k)
                timings[n] = nowNanoseconds() &- t
                sink &+= v?.count ?? 0
            }
            let served = (cache.persistenceStatistics?.diskHits ?? 0) - before
            diskHitRatio.append(Double(served) / Double(readsPerRun))
            timings.sort()
            diskMedian.append(Double(timings[timings.count / 2]))
            diskP99.append(Double(timings[min(timings.count - 1, timings.count * 99 / 100)]))
            cache.close()
        }

        // Reopening after a crash: the store is marked as still open (what a killed process
        // leaves), so the open rebuilds the recency index and byte count from the records.
        var crashReopenMs: [Double] = []
        for run in 0..<runs {
            progress("durability reopen after an unclean close, run \(run + 1)/\(runs)")
            try markStoreOpen(storeDir)
            let t0 = nowNanoseconds()
            let cache = try open(storeDir, memory: sizes.memoryEntries, durability: .groupCommit)
            crashReopenMs.append(Double(nowNanoseconds() - t0) / 1e6)
            sink &+= cache.count
            cache.close()
        }

        var other = Table("figure", "median (min-max)")
        func addRow(_ group: String, _ peer: String, _ unit: String, _ values: [Double], _ decimals: Int,
                    extra: [String: Double] = [:]) {
            let s = Spread(values)
            result.rows.append(ResultRow(group: group, peer: peer, unit: unit, value: s, extra: extra))
            other.add(group + ", " + peer, spreadText(s, decimals))
        }
        let storeLabel = "\(sizes.storeEntries / 1000)k"
        addRow("disk get (memory miss served by LMDB)", "median ns", "ns", diskMedian, 0,
               extra: ["p99_ns_median": Spread(diskP99).median, "served_from_disk": Spread(diskHitRatio).median])
        addRow("disk get (memory miss served by LMDB)", "p99 ns", "ns", diskP99, 0)
        addRow("reopen", "open + restore \(sizes.memoryEntries) of \(storeLabel) entries, ms", "ms", reopenMs, 1)
        addRow("reopen after an unclean close", "rebuild index + restore \(sizes.memoryEntries) of \(storeLabel) entries, ms", "ms", crashReopenMs, 1)
        print(other.render())

        result.notes = [
            "LMDB in \(FileManager.default.temporaryDirectory.path). Each put figure: \(fmt(sizes.putSeconds, 2)) s of puts of distinct Int keys on a fresh store, writers on their own threads; write-back's final flush and NOSYNC's final mdb_env_sync are inside the timed span.",
            "Synced commits (Larder .synchronous, .groupCommit, raw synced) wait for this disk's fdatasync: their rates are its sync latency, noisy when other processes write.",
            "Store of \(sizes.storeEntries) entries built once in \(fmt(buildSeconds, 1)) s (write-back); each run reopens it with maxCount \(sizes.memoryEntries) and reads \(readsPerRun) keys that are only on disk (each read promotes one; served from disk: \(fmt(Spread(diskHitRatio).median * 100, 0))%).",
        ]
        for n in result.notes { print("  note: " + n) }

        func median(_ mode: Mode, _ threads: Int) -> Double { Spread(puts[putKey(mode, threads)]!).median }
        // Each ratio is taken within a run (between neighbouring measurements), then the median over runs.
        func pairedRatio(_ a: Mode, _ ta: Int, _ b: Mode, _ tb: Int) -> Spread {
            let xs = puts[putKey(a, ta)]!, ys = puts[putKey(b, tb)]!
            return Spread(zip(xs, ys).map { $0 / $1 })
        }
        let syncPaired = Spread(sliced)
        let groupPaired = Spread(groupSliced)
        let writeBackPaired = pairedRatio(.writeBack, 1, .rawNoSync, 1)
        let syncRatio = syncPaired.median, groupRatio = groupPaired.median, writeBackRatio = writeBackPaired.median
        for (name, spread) in [("synchronous/rawSynced, 1 writer, interleaved slices", syncPaired), ("groupCommit 16 writers/synchronous 1 writer, interleaved slices", groupPaired),
                               ("writeBack/rawNoSync, 1 writer", writeBackPaired)] {
            result.rows.append(ResultRow(group: "target ratio", peer: name, unit: "ratio", value: spread))
        }
        result.ratios = [
            "synchronous, 1 writer = \(fmt(syncRatio * 100, 0))% of raw LMDB synced (1 writer, interleaved 0.1 s slices); per run \(syncPaired.runs.map { fmt($0 * 100, 0) + "%" }.joined(separator: ", ")); ratio of medians \(fmt(median(.synchronous, 1) / median(.rawSynced, 1) * 100, 0))%",
            "groupCommit, 16 writers = \(fmt(groupRatio, 1))x synchronous (1 writer, interleaved 0.1 s slices); per run \(groupPaired.runs.map { fmt($0, 1) + "x" }.joined(separator: ", ")); ratio of medians \(ratioText(median(.groupCommit, 16), median(.synchronous, 1)))",
            "writeBack, 1 writer = \(fmt(writeBackRatio * 100, 0))% of raw LMDB MDB_NOSYNC (1 writer); per run \(writeBackPaired.runs.map { fmt($0 * 100, 0) + "%" }.joined(separator: ", ")); ratio of medians \(fmt(median(.writeBack, 1) / median(.rawNoSync, 1) * 100, 0))%",
            "groupCommit, 16 writers = \(ratioText(median(.groupCommit, 16), median(.rawSynced, 16))) raw LMDB synced with 16 writers",
        ]
        for r in result.ratios { print("  " + r) }
        result.targets = [
            .init(name: "synchronous put rate / raw LMDB synced (1 writer)", goal: ">= 80%",
                  measured: fmt(syncRatio * 100, 1) + "%", met: syncRatio >= 0.8),
            .init(name: "groupCommit (16 writers) / synchronous (1 writer)", goal: ">= 10x",
                  measured: fmt(groupRatio, 1) + "x", met: groupRatio >= 10),
            .init(name: "writeBack put rate / raw LMDB MDB_NOSYNC (1 writer)", goal: ">= 50%",
                  measured: fmt(writeBackRatio * 100, 1) + "%", met: writeBackRatio >= 0.5),
        ]
        printTargets(result.targets)
        return result
    }

    /// Sets the store's `open` marker (meta database) as a killed process leaves it.
    static func markStoreOpen(_ dir: String) throws {
        var env: OpaquePointer?
        try RawLMDBPeer.check(mdb_env_create(&env), "mdb_env_create")
        defer { mdb_env_close(env) }
        try RawLMDBPeer.check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs")
        try RawLMDBPeer.check(mdb_env_set_mapsize(env, 1 << 32), "mdb_env_set_mapsize")
        try RawLMDBPeer.check(mdb_env_open(env, dir, 0, 0o600), "mdb_env_open")
        var txn: OpaquePointer?
        try RawLMDBPeer.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var dbi = MDB_dbi()
        var rc = mdb_dbi_open(txn, "meta", 0, &dbi)
        if rc == 0 {
            var key = Array("open".utf8)
            var one = UInt64(1).littleEndian
            rc = key.withUnsafeMutableBytes { k in withUnsafeMutableBytes(of: &one) { v in
                var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                var vv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                return mdb_put(txn, dbi, &kv, &vv, 0)
            } }
        }
        if rc != 0 { mdb_txn_abort(txn) }
        try RawLMDBPeer.check(rc, "marking the store open")
        try RawLMDBPeer.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }
}

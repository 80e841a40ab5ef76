import ArgumentParser
import Foundation
import Larder

/// `swift run -c release Bench`: Larder next to the caches a Swift user would
/// otherwise write or reach for, measured in one process on the same keys.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Bench",
        abstract: "Measures Larder's Cache against Dictionary, a textbook LRU, an OrderedDictionary LRU and NSCache.",
        discussion: """
            Suites: \(Suite.allCases.map(\.rawValue).joined(separator: ", ")).
            Every figure is the median of --runs runs (hit ratios: of --replays
            replays), with the min-max spread, and ratios are taken between peers
            measured in the same run.
            """)

    enum Suite: String, CaseIterable, ExpressibleByArgument {
        case core, throughput, threads, latency, memory, alloc, hitratio, durability, tier, footprint, shared, cluster
    }

    @Option(help: "Suites to run, comma-separated: core, throughput, threads, latency, memory, alloc, hitratio, durability, tier, footprint (default: all).")
    var suite: String?

    @Flag(help: "Small sizes and 2 runs: the whole run takes seconds (used by the smoke test).")
    var quick = false

    @Option(help: "Repetitions of each measurement (median and spread are over these); also sets hitratio's --replays unless that is given.")
    var runs: Int?

    @Option(help: "hitratio: replays of each trace, each with other key hashes; each figure is their median (default 101 for the bundled traces, --runs for a --trace file; 2 with --quick).")
    var replays: Int?

    @Option(help: "Cache capacity (maxCount) for throughput, threads, latency and alloc.")
    var capacity: Int?

    @Option(help: "Number of distinct keys the Zipf draws come from.")
    var universe: Int?

    @Option(help: "Operations of the mixed workload.")
    var ops: Int?

    @Option(name: .customLong("micro-ops"), help: "Operations of each get-hit / get-miss / set run.")
    var microOps: Int?

    @Option(help: "Zipf exponent s of the mixed workload (0 < s < 1).")
    var zipf: Double?

    @Option(name: .customLong("core-capacity"), help: "Capacity of the C core in the core suite.")
    var coreCapacity: Int?

    @Option(name: .customLong("memory-entries"), help: "Int -> Int entries in the memory suite.")
    var memoryEntries: Int?

    @Option(name: .customLong("threads"), help: "Thread counts, comma-separated (default 1,2,4).")
    var threadCounts: String?

    @Option(name: .customLong("shards"), help: "Shard counts of the threads suite, comma-separated (default 1,4,16).")
    var shardCounts: String?

    @Option(help: "Seed of every generated key sequence.")
    var seed: UInt64?

    @Option(help: "Folder holding the *.keys.gz traces (default: Benchmarks/Traces found from the current directory or the executable).")
    var traces: String?

    @Option(name: .customLong("trace"), help: "hitratio: replay this access log instead of the bundled traces (one unsigned decimal key per line, plain or gzip); repeatable.")
    var traceFiles: [String] = []

    @Option(name: .customLong("size"), help: "hitratio: a cache size (entries) to replay --trace at; repeatable (default: 1, 2, 5, 10, 20 and 50 % of the trace's distinct keys).")
    var sizes: [Int] = []

    @Option(help: "hitratio: also write each policy's hit ratio against cache size to this SVG file.")
    var plot: String?

    @Option(help: "Write machine-readable results to this file.")
    var json: String?

    func validate() throws {
        func positive(_ value: Int?, _ name: String) throws {
            if let value, value < 1 { throw ValidationError("--\(name) must be at least 1, got \(value)") }
        }
        _ = try chosenSuites()
        try positive(runs, "runs")
        try positive(replays, "replays")
        try positive(capacity, "capacity")
        try positive(ops, "ops")
        try positive(microOps, "micro-ops")
        try positive(coreCapacity, "core-capacity")
        try positive(memoryEntries, "memory-entries")
        if let universe, universe < 2 { throw ValidationError("--universe must be at least 2, got \(universe)") }
        if let capacity, let universe, universe < capacity {
            throw ValidationError("--universe (\(universe)) must be at least --capacity (\(capacity))")
        }
        if let zipf, !(zipf > 0 && zipf < 1) { throw ValidationError("--zipf must be in (0, 1), got \(zipf)") }
        if let bad = sizes.first(where: { $0 < 1 }) { throw ValidationError("--size must be at least 1, got \(bad)") }
        if !sizes.isEmpty && traceFiles.isEmpty { throw ValidationError("--size applies to --trace: name the trace file to replay") }
        _ = try parseList(threadCounts, "threads")
        _ = try parseList(shardCounts, "shards")
        if let json { try OutputPath.check(json, option: "json") }
        if let plot {
            guard try chosenSuites().contains(.hitratio) else {
                throw ValidationError("--plot draws the hitratio suite's figures: add hitratio to --suite, or leave --plot out")
            }
            try OutputPath.check(plot, option: "plot")
        }
    }

    private func chosenSuites() throws -> [Suite] {
        // A trace to replay asks for the hit-ratio suite alone unless suites are named.
        if suite == nil, !traceFiles.isEmpty { return [.hitratio] }
        guard let suite else { return Suite.allCases }
        var chosen: Set<Suite> = []
        for part in suite.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            if name == "all" { return Suite.allCases }
            guard let s = Suite(rawValue: name) else {
                throw ValidationError("unknown suite '\(name)': use one of \(Suite.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            chosen.insert(s)
        }
        guard !chosen.isEmpty else { throw ValidationError("--suite names no suite") }
        return Suite.allCases.filter(chosen.contains)
    }

    private func parseList(_ text: String?, _ name: String) throws -> [Int]? {
        guard let text else { return nil }
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--\(name) takes positive integers separated by commas, got '\(text)'")
        }
        return values.map { $0! }
    }

    func makeConfig() throws -> BenchConfig {
        var c = quick ? BenchConfig.quickConfig : BenchConfig()
        if let runs { c.runs = runs }
        // A user's log may be long: as many replays as runs unless asked.
        c.replays = replays ?? runs ?? (traceFiles.isEmpty ? c.replays : c.runs)
        if let capacity { c.capacity = capacity }
        if let universe { c.universe = universe }
        if c.universe < c.capacity { c.universe = c.capacity * 10 }
        if let ops { c.mixedOps = ops }
        if let microOps { c.microOps = microOps }
        if let zipf { c.zipfS = zipf }
        if let coreCapacity { c.coreCapacity = coreCapacity }
        if let memoryEntries { c.memoryIntEntries = memoryEntries }
        if let seed { c.seed = seed }
        if let t = try parseList(threadCounts, "threads") { c.threadCounts = t }
        if let s = try parseList(shardCounts, "shards") {
            guard s.allSatisfy({ $0 & ($0 - 1) == 0 }) else {
                throw ValidationError("--shards takes powers of two, got '\(shardCounts!)'")
            }
            c.shardCounts = s
        }
        return c
    }

    func run() throws {
        let started = nowNanoseconds()
        let config = try makeConfig()
        let chosen = try chosenSuites()
        let machine = MachineInfo.current()
        var report = BenchReport(machine: machine, configuration: config)

        print("Larder Bench: \(machine.cpu), \(machine.cores) cores, \(fmt(machine.memoryGiB, 1)) GiB, Linux \(machine.kernel)")
        print("build: \(machine.build); allocator: \(machine.allocator); runs: \(config.runs) (hitratio: \(config.replays) replays)\(config.quick ? " (--quick)" : ""); load average \(fmt(machine.loadAverageAtStart, 2)) on \(machine.cores) cores")
        if machine.loadAverageAtStart > Double(machine.cores) {
            print("warning: the machine is busy (load \(fmt(machine.loadAverageAtStart, 1)) > \(machine.cores) cores): expect noisy figures; ratios from the same run hold up best.")
        }
        if machine.build != "release" {
            print("warning: a debug build; measure with `swift run -c release Bench`.")
        }
        if larderIsStandIn {
            print("warning: the Larder rows come from a stand-in until the Cache lands (Peers/LarderPeer.swift).")
        }

        var workload: Workload?
        func sharedWorkload() -> Workload {
            if let workload { return workload }
            progress("generating key sequences (seed \(config.seed))")
            let w = Workload(config)
            workload = w
            return w
        }

        for s in chosen {
            let t0 = nowNanoseconds()
            var result: SuiteResult
            switch s {
            case .core:
                heading("core: the C core alone, ns/op at capacity \(config.coreCapacity)")
                result = CoreSuite.run(config)
            case .throughput:
                heading("throughput: single thread, ns/op (lower is better)")
                result = ThroughputSuite.run(config, sharedWorkload())
            case .threads:
                heading("threads: one cache shared by 1, 2, 4 threads, beside the private-Dictionary ceiling")
                result = ThreadsSuite.run(config, sharedWorkload())
            case .latency:
                heading("latency: ns per operation, HdrHistogram percentiles")
                result = LatencySuite.run(config, sharedWorkload())
            case .memory:
                heading("memory: heap bytes per entry, from jemalloc stats.allocated")
                result = MemorySuite.run(config)
            case .alloc:
                heading("alloc: heap bytes allocated per operation (jemalloc thread.allocated)")
                result = AllocSuite.run(config, sharedWorkload())
            case .hitratio:
                heading("hitratio: hit ratio % on the traces, get then set on a miss")
                result = try HitRatioSuite.run(config, tracesOption: traces, traceFiles: traceFiles, sizes: sizes, plot: plot)
            case .durability:
                heading("durability: the LMDB tier (sets per second, disk reads, reopening)")
                result = try DurabilitySuite.run(config)
            case .tier:
                heading("tier: memory hits with and without the LMDB tier, one thread")
                result = try TierHitSuite.run(config)
            case .footprint:
                heading("footprint: data.mdb bytes on disk per record of the LMDB tier")
                result = try FootprintSuite.run(config)
            case .shared:
                heading("shared: the Redis shared tier (near-cache hits, miss fills, invalidation latency)")
                result = try SharedSuite.run(config)
            case .cluster:
                heading("cluster: miss fills against a 3-primary Redis Cluster beside one server")
                result = try ClusterSuite.run(config)
            }
            result.seconds = Double(nowNanoseconds() - t0) / 1e9
            report.suites[s.rawValue] = result
        }
        report.totalSeconds = Double(nowNanoseconds() - started) / 1e9
        report.machine.loadAverageAtEnd = loadAverage()
        print("")
        print("total: \(fmt(report.totalSeconds, 1)) s; load average at the end \(fmt(report.machine.loadAverageAtEnd ?? -1, 2))")

        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(report)
            try OutputPath.write(data, to: json, option: "json")
            print("results written to \(json)")
        }
    }
}

/// The 1-minute load average, or -1 when /proc/loadavg cannot be read.
func loadAverage() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
          let first = text.split(separator: " ").first, let value = Double(first) else { return -1 }
    return value
}

extension MachineInfo {
    static func current() -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        let allocator: String
        if Jemalloc.servesMalloc {
            allocator = "jemalloc " + (Jemalloc.version ?? "?")
        } else {
            allocator = "NOT jemalloc (memory and alloc figures are invalid)"
        }
        return MachineInfo(
            cpu: model,
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryGiB: Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30),
            kernel: kernel,
            build: build,
            allocator: allocator,
            date: ISO8601DateFormatter().string(from: Date()),
            loadAverageAtStart: loadAverage())
    }
}

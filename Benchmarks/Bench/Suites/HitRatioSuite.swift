import Foundation
import Synchronization
import Larder

/// Hit ratio on public traces and synthetic ones, or on a user's own access log:
/// Larder's Cache (1 shard, get then set on a miss) under every eviction policy,
/// next to the reference columns of Benchmarks/Traces/README.md.
enum HitRatioSuite {
    struct Reference {
        let trace: String
        let size: Int
        let lru: Double
        let caffeine: Double
        let opt: Double
        /// Caffeine 2.6.2's median over 15 replays (README): its own figure is
        /// random (a randomly seeded sketch hash, random admission of warm
        /// candidates), so the `caffeine` column is one draw of it.
        let caffeineMedian: Double
    }

    /// Requests per trace, from the README (for --quick's skip rule, before loading).
    static let requests: [String: Int] = [
        "lirs_gli": 6_015, "lirs_multi1": 15_858, "lirs_multi2": 26_311, "lirs_multi3": 30_241,
        "lirs_loop": 505_500, "lirs_ps": 10_448, "lirs_cs": 6_781, "lirs_cpp": 9_047,
        "lirs_scan": 50_025, "arc_oltp": 914_145,
    ]

    /// The README's table: exact LRU (a LinkedHashMap in access order),
    /// Caffeine 2.6.2 (W-TinyLFU), OPT (Belady) and Caffeine 2.6.2's median
    /// over 15 replays, in percent.
    static let references: [Reference] = [
        .init(trace: "lirs_gli", size: 250, lru: 0.91, caffeine: 15.71, opt: 17.64, caffeineMedian: 15.11),
        .init(trace: "lirs_gli", size: 500, lru: 0.95, caffeine: 26.72, opt: 34.26, caffeineMedian: 27.50),
        .init(trace: "lirs_gli", size: 1000, lru: 11.21, caffeine: 39.68, opt: 53.13, caffeineMedian: 40.55),
        .init(trace: "lirs_gli", size: 2000, lru: 57.41, caffeine: 57.96, opt: 57.96, caffeineMedian: 57.11),
        .init(trace: "lirs_multi1", size: 250, lru: 42.86, caffeine: 47.81, opt: 52.48, caffeineMedian: 47.79),
        .init(trace: "lirs_multi1", size: 500, lru: 46.51, caffeine: 55.39, opt: 58.78, caffeineMedian: 55.13),
        .init(trace: "lirs_multi1", size: 1000, lru: 48.23, caffeine: 68.46, opt: 71.40, caffeineMedian: 68.39),
        .init(trace: "lirs_multi2", size: 500, lru: 35.98, caffeine: 50.16, opt: 53.60, caffeineMedian: 50.12),
        .init(trace: "lirs_multi2", size: 1000, lru: 47.80, caffeine: 57.28, opt: 62.16, caffeineMedian: 57.90),
        .init(trace: "lirs_multi2", size: 2000, lru: 49.00, caffeine: 69.28, opt: 74.65, caffeineMedian: 69.23),
        .init(trace: "lirs_multi3", size: 500, lru: 32.65, caffeine: 44.37, opt: 48.88, caffeineMedian: 44.14),
        .init(trace: "lirs_multi3", size: 1000, lru: 37.70, caffeine: 50.44, opt: 56.28, caffeineMedian: 50.57),
        .init(trace: "lirs_multi3", size: 2000, lru: 44.59, caffeine: 59.18, opt: 68.78, caffeineMedian: 59.24),
        .init(trace: "lirs_loop", size: 256, lru: 0.00, caffeine: 24.69, opt: 25.22, caffeineMedian: 24.69),
        .init(trace: "lirs_loop", size: 512, lru: 0.00, caffeine: 49.90, opt: 50.54, caffeineMedian: 49.90),
        .init(trace: "lirs_loop", size: 1024, lru: 99.80, caffeine: 99.80, opt: 99.80, caffeineMedian: 99.80),
        .init(trace: "lirs_ps", size: 250, lru: 13.06, caffeine: 51.78, opt: 53.31, caffeineMedian: 51.29),
        .init(trace: "lirs_ps", size: 500, lru: 48.55, caffeine: 57.19, opt: 58.10, caffeineMedian: 56.65),
        .init(trace: "lirs_ps", size: 1000, lru: 48.55, caffeine: 65.67, opt: 67.67, caffeineMedian: 65.50),
        .init(trace: "lirs_cs", size: 250, lru: 1.83, caffeine: 13.57, opt: 16.58, caffeineMedian: 14.02),
        .init(trace: "lirs_cs", size: 500, lru: 1.83, caffeine: 29.45, opt: 31.32, caffeineMedian: 28.93),
        .init(trace: "lirs_cs", size: 1000, lru: 1.83, caffeine: 58.37, opt: 60.82, caffeineMedian: 56.63),
        .init(trace: "lirs_cpp", size: 100, lru: 69.71, caffeine: 77.05, opt: 82.51, caffeineMedian: 76.89),
        .init(trace: "lirs_cpp", size: 250, lru: 83.00, caffeine: 84.78, opt: 86.48, caffeineMedian: 84.85),
        .init(trace: "lirs_cpp", size: 500, lru: 84.78, caffeine: 85.52, opt: 86.48, caffeineMedian: 85.52),
        .init(trace: "lirs_scan", size: 250, lru: 0.00, caffeine: 10.92, opt: 11.99, caffeineMedian: 10.71),
        .init(trace: "lirs_scan", size: 500, lru: 0.00, caffeine: 21.63, opt: 23.99, caffeineMedian: 21.99),
        .init(trace: "lirs_scan", size: 1000, lru: 0.00, caffeine: 46.69, opt: 47.98, caffeineMedian: 46.81),
        .init(trace: "arc_oltp", size: 250, lru: 16.47, caffeine: 22.70, opt: 38.43, caffeineMedian: 22.66),
        .init(trace: "arc_oltp", size: 500, lru: 23.45, caffeine: 29.18, opt: 46.42, caffeineMedian: 29.18),
        .init(trace: "arc_oltp", size: 1000, lru: 32.83, caffeine: 35.61, opt: 53.61, caffeineMedian: 35.58),
        .init(trace: "arc_oltp", size: 2000, lru: 42.47, caffeine: 42.05, opt: 60.40, caffeineMedian: 42.03),
    ]

    /// One trace replayed at several sizes, with the reference figures where the
    /// README has them.
    struct Job {
        let name: String
        let keys: [Int]
        let sizes: [Int]
        var references: [Int: Reference] = [:]
    }

    /// Hits in percent for a get-then-set-on-miss loop on a one-shard cache.
    static func larderHitRatio(_ keys: [Int], size: Int, policy: BenchPolicy) -> Double {
        let cache = LarderBox<Int, Int>(capacity: size, shards: 1, supportsExpiry: false, policy: policy)
        var hits = 0
        for key in keys {
            if cache.get(key) != nil { hits += 1 } else { cache.set(key, key) }
        }
        cache.close()
        return 100 * Double(hits) / Double(max(keys.count, 1))
    }

    /// Each replay's hit ratio, the replays spread over every core: each runs its own cache,
    /// and a hit ratio does not depend on timing, so the figures are those of one replay after
    /// another, in a fraction of the time.
    static func larderHitRatios(_ replays: [[Int]], size: Int, policy: BenchPolicy) -> [Double] {
        let figures = Mutex([Double](repeating: 0, count: replays.count))
        DispatchQueue.concurrentPerform(iterations: replays.count) { run in
            let figure = larderHitRatio(replays[run], size: size, policy: policy)
            figures.withLock { $0[run] = figure }
        }
        return figures.withLock { $0 }
    }

    static func textbookHitRatio(_ keys: [Int], size: Int) -> Double {
        let lru = TextbookLRU<Int, Int>(capacity: size)
        var hits = 0
        for key in keys {
            if lru.get(key) != nil { hits += 1 } else { lru.set(key, key) }
        }
        return 100 * Double(hits) / Double(max(keys.count, 1))
    }

    /// The trace as run `run` replays it: run 0 as recorded, the others with
    /// every key XOR-ed with a constant of their own. A bijection keeps every
    /// recency and reuse distance, so LRU's figure is the same on each run;
    /// what changes is every key's hash, and with it which keys share the
    /// frequency sketch's counters. A figure of one hash seed is one draw:
    /// W-TinyLFU's vary by a point or more between draws on the small traces
    /// (docs/Performance.md).
    static func keysForRun(_ keys: [Int], run: Int, seed: UInt64) -> [Int] {
        guard run > 0 else { return keys }
        var rng = SplitMix64(seed: seed ^ (0x4854_5241_5449_4F00 &+ UInt64(run)))
        let mask = Int(bitPattern: UInt(rng.next()))
        return keys.map { $0 ^ mask }
    }

    /// Sizes for a user's trace given no `--size`: shares of its distinct keys.
    static func defaultSizes(_ keys: [Int]) -> [Int] {
        let distinct = Set(keys).count
        let sizes = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5].map { max(1, Int(Double(distinct) * $0)) }
        return Array(Set(sizes)).sorted()
    }

    /// The bundled traces at the README's sizes, plus the synthetic recency-heavy ones.
    static func bundledJobs(_ c: BenchConfig, folder: URL) throws -> (jobs: [Job], skipped: Int) {
        var jobs: [Job] = []
        var skipped = 0
        var order: [String] = []
        for ref in references where !order.contains(ref.trace) { order.append(ref.trace) }
        for trace in order {
            let refs = references.filter { $0.trace == trace }
            if c.traceRequestLimit > 0, (requests[trace] ?? .max) > c.traceRequestLimit {
                skipped += refs.count
                continue
            }
            progress("loading \(trace)")
            let keys = try TraceFile.load(folder.appendingPathComponent(trace + ".keys.gz"))
            jobs.append(Job(name: trace, keys: keys, sizes: refs.map(\.size),
                            references: Dictionary(uniqueKeysWithValues: refs.map { ($0.size, $0) })))
        }
        for synthetic in SyntheticTraces.all(seed: c.seed) {
            let keys = c.quick ? Array(synthetic.keys.prefix(40_000)) : synthetic.keys
            jobs.append(Job(name: synthetic.name, keys: keys, sizes: synthetic.sizes))
        }
        return (jobs, skipped)
    }

    /// - Parameters:
    ///   - traceFiles: users' traces (`--trace`); when empty, the bundled and synthetic ones.
    ///   - sizes: cache sizes for the users' traces (`--size`).
    ///   - plot: where to write the SVG of hit ratio against size (`--plot`).
    static func run(_ c: BenchConfig, tracesOption: String?, traceFiles: [String] = [], sizes: [Int] = [],
                    plot: String? = nil) throws -> SuiteResult {
        var result = SuiteResult(name: "hitratio")
        var jobs: [Job] = []
        var skipped = 0
        if traceFiles.isEmpty {
            let folder = try TraceFile.folder(tracesOption)
            (jobs, skipped) = try bundledJobs(c, folder: folder)
            result.notes.append("traces from \(folder.path) and two synthetic recency-heavy ones (Benchmarks/Bench/Support/SyntheticTraces.swift); reference LRU, Caffeine 2.6.2 and OPT columns from Benchmarks/Traces/README.md; the textbook LRU column is this process's own check of the trace reading.")
        } else {
            for file in traceFiles {
                let url = URL(fileURLWithPath: file)
                progress("loading \(file)")
                let keys = try TraceFile.load(url)
                jobs.append(Job(name: TraceFile.name(of: url), keys: keys, sizes: sizes.isEmpty ? defaultSizes(keys) : sizes))
            }
            if sizes.isEmpty { result.notes.append("no --size given: sizes are 1, 2, 5, 10, 20 and 50 % of each trace's distinct keys.") }
        }
        let policies = BenchPolicy.withFixedWindow
        var headers = ["trace", "size"] + policies.map { $0.name + ($0.isDefault ? " (default)" : "") }
        let withReferences = jobs.contains { !$0.references.isEmpty }
        if withReferences { headers += ["ref LRU", "LRU = ref", "textbook LRU", "Caffeine", "Caffeine med.", "OPT"] }
        var table = Table(headers: headers)
        var plotted = HitRatioPlot()
        // Per policy: every figure, its differences from LRU, and from Caffeine where known.
        var figures: [String: [Double]] = [:], versusLRU: [String: [(Double, String)]] = [:]
        var versusCaffeine: [String: [(Double, String)]] = [:], versusCaffeineMedian: [String: [(Double, String)]] = [:]
        var caffeineFigures: [Double] = [], caffeineMedians: [Double] = [], referencedFigures: [String: [Double]] = [:]
        // Per policy and run: the sum of the referenced pairs' figures (each run's mean).
        var referencedSums: [String: [Double]] = [:]
        var mismatches = 0, compared = 0
        let runs = max(1, c.replays)
        for job in jobs {
            var series: [String: [(size: Int, hit: Double)]] = [:]
            let replays = (0..<runs).map { keysForRun(job.keys, run: $0, seed: c.seed) }
            for size in job.sizes {
                progress("\(job.name) at \(size)")
                var cells = [job.name, "\(size)"]
                var hits: [String: Double] = [:]
                for policy in policies {
                    let perRun = larderHitRatios(replays, size: size, policy: policy)
                    let spread = Spread(perRun)
                    let hit = spread.median
                    hits[policy.name] = hit
                    cells.append(fmt(hit, 2))
                    series[policy.name, default: []].append((size, hit))
                    if job.references[size] != nil {
                        var sums = referencedSums[policy.name] ?? Array(repeating: 0, count: runs)
                        for (run, figure) in perRun.enumerated() { sums[run] += figure }
                        referencedSums[policy.name] = sums
                    }
                    var row = ResultRow(group: "\(job.name)@\(size)", peer: "Larder \(policy.name)", unit: "%", value: spread)
                    row.labels = ["policy": policy.name]
                    row.extra = ["default": policy.isDefault ? 1 : 0, "requests": Double(job.keys.count)]
                    if let ref = job.references[size] {
                        row.extra["referenceLRU"] = ref.lru
                        row.extra["caffeine"] = ref.caffeine
                        row.extra["caffeineMedian"] = ref.caffeineMedian
                        row.extra["opt"] = ref.opt
                    }
                    result.rows.append(row)
                    figures[policy.name, default: []].append(hit)
                }
                let lru = hits["lru"] ?? 0
                for policy in policies {
                    versusLRU[policy.name, default: []].append((hits[policy.name]! - lru, "\(job.name)@\(size)"))
                }
                if let ref = job.references[size] {
                    let same = fmt(lru, 2) == fmt(ref.lru, 2)
                    compared += 1
                    if !same { mismatches += 1 }
                    caffeineFigures.append(ref.caffeine)
                    caffeineMedians.append(ref.caffeineMedian)
                    for policy in policies {
                        referencedFigures[policy.name, default: []].append(hits[policy.name]!)
                        versusCaffeine[policy.name, default: []].append((hits[policy.name]! - ref.caffeine, "\(job.name)@\(size)"))
                        versusCaffeineMedian[policy.name, default: []].append(
                            (hits[policy.name]! - ref.caffeineMedian, "\(job.name)@\(size)"))
                    }
                    cells += [fmt(ref.lru, 2), same ? "=" : "DIFFERS", fmt(textbookHitRatio(job.keys, size: size), 2),
                              fmt(ref.caffeine, 2), fmt(ref.caffeineMedian, 2), fmt(ref.opt, 2)]
                } else if withReferences {
                    cells += ["", "", "", "", "", ""]
                }
                table.add(cells: cells)
            }
            plotted.panels.append(.init(title: job.name, series: policies.map { .init(label: $0.name, points: series[$0.name] ?? []) }))
        }
        print(table.render())
        var summary = Table("policy", "mean hit %", "mean, referenced pairs", "runs' means (min-max)", "worst against LRU",
                            "worst against Caffeine 2.6.2", "pairs > 0.5 below Caffeine",
                            "worst against Caffeine's median", "pairs > 0.5 below its median")
        for policy in policies {
            let mean = (figures[policy.name] ?? []).reduce(0, +) / Double(max(1, figures[policy.name]?.count ?? 0))
            let referenced = referencedFigures[policy.name] ?? []
            let referencedMean = referenced.isEmpty ? nil : referenced.reduce(0, +) / Double(referenced.count)
            let worstLRU = versusLRU[policy.name]?.min { $0.0 < $1.0 }
            let worstCaffeine = versusCaffeine[policy.name]?.min { $0.0 < $1.0 }
            let runMeans = (referencedSums[policy.name] ?? []).map { $0 / Double(max(1, referenced.count)) }
            let runSpread = runMeans.isEmpty ? nil : Spread(runMeans)
            let short = versusCaffeine[policy.name]?.filter { $0.0 < -0.5 }.count
            let worstMedian = versusCaffeineMedian[policy.name]?.min { $0.0 < $1.0 }
            let shortOfMedian = versusCaffeineMedian[policy.name]?.filter { $0.0 < -0.5 }.count
            summary.add(policy.name, fmt(mean, 2), referencedMean.map { fmt($0, 2) } ?? "",
                        runSpread.map { "\(fmt($0.min, 2))-\(fmt($0.max, 2))" } ?? "",
                        worstLRU.map { "\(fmt($0.0, 2)) (\($0.1))" } ?? "",
                        worstCaffeine.map { "\(fmt($0.0, 2)) (\($0.1))" } ?? "",
                        short.map { "\($0) of \(referenced.count)" } ?? "",
                        worstMedian.map { "\(fmt($0.0, 2)) (\($0.1))" } ?? "",
                        shortOfMedian.map { "\($0) of \(referenced.count)" } ?? "")
            var row = ResultRow(group: "mean over all trace@size pairs", peer: "Larder \(policy.name)", unit: "%", value: Spread([mean]))
            row.labels = ["policy": policy.name]
            row.extra = ["default": policy.isDefault ? 1 : 0, "worstAgainstLRU": worstLRU?.0 ?? 0]
            if let worstCaffeine { row.extra["worstAgainstCaffeine"] = worstCaffeine.0 }
            if let referencedMean { row.extra["meanOverReferencedPairs"] = referencedMean }
            if let short { row.extra["pairsMoreThanHalfAPointBelowCaffeine"] = Double(short) }
            if let worstMedian { row.extra["worstAgainstCaffeineMedian"] = worstMedian.0 }
            if let shortOfMedian { row.extra["pairsMoreThanHalfAPointBelowCaffeineMedian"] = Double(shortOfMedian) }
            result.rows.append(row)
        }
        print(summary.render())
        if !caffeineFigures.isEmpty {
            print("  Caffeine 2.6.2 mean over the \(caffeineFigures.count) pairs with a reference: \(fmt(caffeineFigures.reduce(0, +) / Double(caffeineFigures.count), 2)); of its medians: \(fmt(caffeineMedians.reduce(0, +) / Double(caffeineMedians.count), 2))")
            result.notes.append("\"Caffeine\" is the README's reference figure, one run of Caffeine 2.6.2; \"Caffeine med.\" is its median over 15 replays of the trace, keyed as this suite's replays are with the default seed: Caffeine seeds its sketch's hash and admits warm candidates at random, so its own figure moves between runs (Benchmarks/Traces/README.md gives each pair's range).")
        }
        result.notes.append("each figure is the median of \(runs) run(s) of the trace, the first as recorded and each other one with its keys XOR-ed with a constant of its own: the same reuse, so LRU's figure is the same on each, but other hashes (other collisions in W-TinyLFU's sketch); the summary's worst pairs and counts are taken on these medians, and \"runs' means\" is the spread of each run's mean over the referenced pairs.")
        if let plot {
            try plotted.write(to: plot)
            result.notes.append("plot of hit ratio against cache size written to \(plot)")
        }
        if skipped > 0 { result.notes.append("--quick: \(skipped) trace/size pairs of long traces skipped.") }
        for n in result.notes { print("  note: " + n) }
        if withReferences {
            result.targets = [
                .init(name: "Larder LRU equals the reference LRU to the second decimal", goal: "every trace and size",
                      measured: "\(compared - mismatches)/\(compared) equal", met: mismatches == 0 && compared > 0),
            ]
            printTargets(result.targets)
        }
        return result
    }
}

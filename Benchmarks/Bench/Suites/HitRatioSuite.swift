import Foundation

/// Hit ratio on public traces: Larder's Cache (1 shard, exact LRU, get then set
/// on a miss) next to the reference columns of Benchmarks/Traces/README.md.
enum HitRatioSuite {
    struct Reference {
        let trace: String
        let size: Int
        let lru: Double
        let caffeine: Double
        let opt: Double
    }

    /// Requests per trace, from the README (for --quick's skip rule, before loading).
    static let requests: [String: Int] = [
        "lirs_gli": 6_015, "lirs_multi1": 15_858, "lirs_multi2": 26_311, "lirs_multi3": 30_241,
        "lirs_loop": 505_500, "lirs_ps": 10_448, "lirs_cs": 6_781, "lirs_cpp": 9_047,
        "lirs_scan": 50_025, "arc_oltp": 914_145,
    ]

    /// The README's table: exact LRU (a LinkedHashMap in access order),
    /// Caffeine 2.6.2 (W-TinyLFU) and OPT (Belady), in percent.
    static let references: [Reference] = [
        .init(trace: "lirs_gli", size: 250, lru: 0.91, caffeine: 15.71, opt: 17.64),
        .init(trace: "lirs_gli", size: 500, lru: 0.95, caffeine: 26.72, opt: 34.26),
        .init(trace: "lirs_gli", size: 1000, lru: 11.21, caffeine: 39.68, opt: 53.13),
        .init(trace: "lirs_gli", size: 2000, lru: 57.41, caffeine: 57.96, opt: 57.96),
        .init(trace: "lirs_multi1", size: 250, lru: 42.86, caffeine: 47.81, opt: 52.48),
        .init(trace: "lirs_multi1", size: 500, lru: 46.51, caffeine: 55.39, opt: 58.78),
        .init(trace: "lirs_multi1", size: 1000, lru: 48.23, caffeine: 68.46, opt: 71.40),
        .init(trace: "lirs_multi2", size: 500, lru: 35.98, caffeine: 50.16, opt: 53.60),
        .init(trace: "lirs_multi2", size: 1000, lru: 47.80, caffeine: 57.28, opt: 62.16),
        .init(trace: "lirs_multi2", size: 2000, lru: 49.00, caffeine: 69.28, opt: 74.65),
        .init(trace: "lirs_multi3", size: 500, lru: 32.65, caffeine: 44.37, opt: 48.88),
        .init(trace: "lirs_multi3", size: 1000, lru: 37.70, caffeine: 50.44, opt: 56.28),
        .init(trace: "lirs_multi3", size: 2000, lru: 44.59, caffeine: 59.18, opt: 68.78),
        .init(trace: "lirs_loop", size: 256, lru: 0.00, caffeine: 24.69, opt: 25.22),
        .init(trace: "lirs_loop", size: 512, lru: 0.00, caffeine: 49.90, opt: 50.54),
        .init(trace: "lirs_loop", size: 1024, lru: 99.80, caffeine: 99.80, opt: 99.80),
        .init(trace: "lirs_ps", size: 250, lru: 13.06, caffeine: 51.78, opt: 53.31),
        .init(trace: "lirs_ps", size: 500, lru: 48.55, caffeine: 57.19, opt: 58.10),
        .init(trace: "lirs_ps", size: 1000, lru: 48.55, caffeine: 65.67, opt: 67.67),
        .init(trace: "lirs_cs", size: 250, lru: 1.83, caffeine: 13.57, opt: 16.58),
        .init(trace: "lirs_cs", size: 500, lru: 1.83, caffeine: 29.45, opt: 31.32),
        .init(trace: "lirs_cs", size: 1000, lru: 1.83, caffeine: 58.37, opt: 60.82),
        .init(trace: "lirs_cpp", size: 100, lru: 69.71, caffeine: 77.05, opt: 82.51),
        .init(trace: "lirs_cpp", size: 250, lru: 83.00, caffeine: 84.78, opt: 86.48),
        .init(trace: "lirs_cpp", size: 500, lru: 84.78, caffeine: 85.52, opt: 86.48),
        .init(trace: "lirs_scan", size: 250, lru: 0.00, caffeine: 10.92, opt: 11.99),
        .init(trace: "lirs_scan", size: 500, lru: 0.00, caffeine: 21.63, opt: 23.99),
        .init(trace: "lirs_scan", size: 1000, lru: 0.00, caffeine: 46.69, opt: 47.98),
        .init(trace: "arc_oltp", size: 250, lru: 16.47, caffeine: 22.70, opt: 38.43),
        .init(trace: "arc_oltp", size: 500, lru: 23.45, caffeine: 29.18, opt: 46.42),
        .init(trace: "arc_oltp", size: 1000, lru: 32.83, caffeine: 35.61, opt: 53.61),
        .init(trace: "arc_oltp", size: 2000, lru: 42.47, caffeine: 42.05, opt: 60.40),
    ]

    struct TraceError: Error, CustomStringConvertible {
        let description: String
    }

    /// The traces folder: `--traces`, else Benchmarks/Traces found by walking up
    /// from the current directory and from the executable (.build/<config>/Bench).
    static func tracesFolder(_ option: String?) throws -> URL {
        let fm = FileManager.default
        func isFolder(_ url: URL) -> Bool {
            var dir: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
        }
        if let option {
            let url = URL(fileURLWithPath: option)
            guard isFolder(url) else {
                throw TraceError(description: "--traces \(option): no such folder; pass the folder holding the *.keys.gz files")
            }
            return url
        }
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let exe = Bundle.main.executableURL { starts.append(exe.deletingLastPathComponent()) }
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("Benchmarks/Traces")
                if isFolder(candidate) { return candidate }
                if dir.path == "/" { break }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw TraceError(description: "no Benchmarks/Traces folder above \(fm.currentDirectoryPath): run from the package root or pass --traces PATH")
    }

    /// One key per line, decompressed by `gzip -dc`.
    static func load(_ url: URL) throws -> [Int] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TraceError(description: "missing trace \(url.path): copy it from the project's Benchmarks/Traces")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TraceError(description: "gzip -dc \(url.path) failed with status \(process.terminationStatus)")
        }
        var keys: [Int] = []
        keys.reserveCapacity(data.count / 4)
        var current = 0
        var inNumber = false
        for byte in data {
            if byte >= 48 && byte <= 57 {
                current = current &* 10 &+ Int(byte - 48)
                inNumber = true
            } else if inNumber {
                keys.append(current)
                current = 0
                inNumber = false
            }
        }
        if inNumber { keys.append(current) }
        return keys
    }

    /// Hits in percent for a get-then-set-on-miss loop.
    static func larderHitRatio(_ keys: [Int], size: Int) -> Double {
        let cache = LarderBox<Int, Int>(capacity: size, shards: 1, supportsExpiry: false)
        var hits = 0
        for key in keys {
            if cache.get(key) != nil { hits += 1 } else { cache.set(key, key) }
        }
        cache.close()
        return 100 * Double(hits) / Double(max(keys.count, 1))
    }

    static func textbookHitRatio(_ keys: [Int], size: Int) -> Double {
        let lru = TextbookLRU<Int, Int>(capacity: size)
        var hits = 0
        for key in keys {
            if lru.get(key) != nil { hits += 1 } else { lru.set(key, key) }
        }
        return 100 * Double(hits) / Double(max(keys.count, 1))
    }

    static func run(_ c: BenchConfig, tracesOption: String?) throws -> SuiteResult {
        var result = SuiteResult(name: "hitratio")
        let folder = try tracesFolder(tracesOption)
        var loaded: [String: [Int]] = [:]
        var table = Table("trace", "size", "Larder LRU", "ref LRU", "match", "textbook LRU", "Caffeine", "OPT")
        var mismatches = 0
        var compared = 0
        var skipped = 0
        for ref in references {
            if c.traceRequestLimit > 0, (requests[ref.trace] ?? .max) > c.traceRequestLimit {
                skipped += 1
                continue
            }
            if loaded[ref.trace] == nil {
                progress("loading \(ref.trace)")
                loaded[ref.trace] = try load(folder.appendingPathComponent(ref.trace + ".keys.gz"))
            }
            let keys = loaded[ref.trace]!
            let larder = larderHitRatio(keys, size: ref.size)
            let textbook = textbookHitRatio(keys, size: ref.size)
            let same = fmt(larder, 2) == fmt(ref.lru, 2)
            compared += 1
            if !same { mismatches += 1 }
            var row = ResultRow(group: "\(ref.trace)@\(ref.size)", peer: LarderPeer.label(shards: 1), unit: "%",
                                value: Spread([larder]))
            row.extra = ["referenceLRU": ref.lru, "caffeine": ref.caffeine, "opt": ref.opt,
                         "textbookLRU": textbook, "requests": Double(keys.count), "matchesReference": same ? 1 : 0]
            result.rows.append(row)
            table.add(ref.trace, "\(ref.size)", fmt(larder, 2), fmt(ref.lru, 2), same ? "=" : "DIFFERS",
                      fmt(textbook, 2), fmt(ref.caffeine, 2), fmt(ref.opt, 2))
        }
        print(table.render())
        result.notes = [
            "traces from \(folder.path); reference LRU, Caffeine 2.6.2 and OPT columns from Benchmarks/Traces/README.md; the textbook LRU column is this process's own check of the trace reading.",
        ]
        if skipped > 0 { result.notes.append("--quick: \(skipped) trace/size pairs of long traces skipped.") }
        for n in result.notes { print("  note: " + n) }
        result.targets = [
            .init(name: "Larder LRU equals the reference LRU to the second decimal", goal: "every trace and size",
                  measured: "\(compared - mismatches)/\(compared) equal", met: mismatches == 0 && compared > 0),
        ]
        printTargets(result.targets)
        return result
    }
}

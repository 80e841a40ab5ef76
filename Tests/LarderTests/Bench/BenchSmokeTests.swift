import Foundation
import Testing

/// Runs the built `Bench` executable in its quick mode and checks that it
/// exits cleanly and writes JSON holding every suite with rows. Speed is not
/// checked here: the figures belong to Bench itself.
@Suite struct BenchSmokeTests {
    static let suites = ["core", "throughput", "threads", "latency", "memory", "alloc", "hitratio", "durability", "tier", "footprint", "shared", "cluster"]

    /// The Bench binary: `LARDER_BENCH` when set, else next to this test
    /// binary in the build folder (`swift build --build-tests` builds both).
    static func benchExecutable() -> URL? {
        let fm = FileManager.default
        if let path = ProcessInfo.processInfo.environment["LARDER_BENCH"] {
            return URL(fileURLWithPath: path)
        }
        var folders: [URL] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        folders.append(argv0.deletingLastPathComponent())
        folders.append(Bundle.main.bundleURL.deletingLastPathComponent())
        if let exe = Bundle.main.executableURL {
            folders.append(exe.deletingLastPathComponent())
            // A bundle layout (.xctest/Contents/MacOS/...) puts the binary a few levels down.
            folders.append(exe.deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent())
        }
        for folder in folders {
            let candidate = folder.appendingPathComponent("Bench")
            if fm.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    @Test func quickRunWritesEverySuite() throws {
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-bench-smoke-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let (status, log) = try Self.runBench(["--quick", "--json", output.path])
        #expect(status == 0, "Bench --quick failed:\n\(log)")

        let data = try Data(contentsOf: output)
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                  "the --json file is not a JSON object")
        #expect(report["machine"] is [String: Any])
        let suites = try #require(report["suites"] as? [String: Any], "no \"suites\" object in the JSON")
        for name in Self.suites {
            let suite = suites[name] as? [String: Any]
            #expect(suite != nil, "suite \(name) missing from the JSON")
            let rows = suite?["rows"] as? [[String: Any]] ?? []
            #expect(!rows.isEmpty, "suite \(name) has no rows")
            for row in rows {
                let value = row["value"] as? [String: Any]
                #expect(value?["median"] is Double || value?["median"] is Int, "a row of \(name) has no median")
            }
        }
        // The threads suite's 4-against-2-thread targets carry the ceiling's own ratio, which tells a
        // busy machine from a cache that loses to its threads.
        let threadTargets = (suites["threads"] as? [String: Any])?["targets"] as? [[String: Any]] ?? []
        let fourAgainstTwo = threadTargets.filter { ($0["name"] as? String)?.hasSuffix("threads against 2") == true }
        #expect(fourAgainstTwo.count == 2)
        #expect(fourAgainstTwo.allSatisfy { ($0["measured"] as? String)?.contains("(the ceiling: ") == true })
        // Hit ratios are compared with both Caffeine columns: its one reference run and its median.
        let hitRows = (suites["hitratio"] as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        let gli = try #require(hitRows.first { $0["group"] as? String == "lirs_gli@250" }?["extra"] as? [String: Any])
        #expect(gli["caffeine"] as? Double == 15.71 && gli["caffeineMedian"] as? Double == 15.11)
        let summary = try #require(hitRows.first { $0["group"] as? String == "mean over all trace@size pairs" }?["extra"] as? [String: Any])
        #expect(summary["pairsMoreThanHalfAPointBelowCaffeine"] != nil && summary["pairsMoreThanHalfAPointBelowCaffeineMedian"] != nil)
    }

    /// Runs Bench with `arguments`; returns its exit status and output.
    static func runBench(_ arguments: [String]) throws -> (status: Int32, log: String) {
        let bench = try #require(benchExecutable(),
                                 "Bench binary not found next to the tests: run `swift build --build-tests` (or set LARDER_BENCH)")
        let process = Process()
        process.executableURL = bench
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, log)
    }

    @Test("--trace replays a user's log, plain or gzip, at each --size, with JSON rows and an SVG plot",
          arguments: [false, true])
    func replaysAUsersTrace(gzipped: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("larder-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A loop of 6 keys: LRU at size 5 never hits; at size 6 it hits all but the first round.
        let lines = (0..<60).map { "\($0 % 6)" }.joined(separator: "\n") + "\n"
        var trace = dir.appendingPathComponent("loop.keys")
        try lines.write(to: trace, atomically: true, encoding: .utf8)
        if gzipped {
            let gzip = Process()
            gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            gzip.arguments = ["gzip", trace.path]
            try gzip.run()
            gzip.waitUntilExit()
            trace = dir.appendingPathComponent("loop.keys.gz")
        }
        let json = dir.appendingPathComponent("out.json"), svg = dir.appendingPathComponent("out.svg")
        let (status, log) = try Self.runBench(["--trace", trace.path, "--size", "5", "--size", "6", "--runs", "3",
                                               "--plot", svg.path, "--json", json.path])
        #expect(status == 0, "Bench --trace failed:\n\(log)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let suites = try #require(report["suites"] as? [String: Any])
        #expect(suites.keys.sorted() == ["hitratio"], "a trace replay runs the hit-ratio suite alone")
        let rows = try #require((suites["hitratio"] as? [String: Any])?["rows"] as? [[String: Any]])
        func hit(_ group: String, _ policy: String) -> Double? {
            rows.first { $0["group"] as? String == group && ($0["extra"] as? [String: Any])?["policy"] as? String == policy }
                .flatMap { ($0["value"] as? [String: Any])?["median"] as? Double }
        }
        #expect(hit("loop@5", "lru") == 0)
        #expect(hit("loop@6", "lru") == 90)
        // Three replays, each with other hashes (a bijection of the keys): LRU's figure is the same on each.
        for row in rows where (row["group"] as? String)?.hasPrefix("loop@") == true
            && (row["extra"] as? [String: Any])?["policy"] as? String == "lru" {
            let runs = try #require((row["value"] as? [String: Any])?["runs"] as? [Double])
            #expect(runs.count == 3 && Set(runs).count == 1, "LRU over three replays: \(runs)")
        }
        for row in rows where (row["group"] as? String)?.hasPrefix("loop@") == true {
            #expect(row["unit"] as? String == "%")
            let extra = try #require(row["extra"] as? [String: Any])
            #expect(extra["default"] as? Int == 0 || extra["default"] as? Int == 1)
        }
        let drawn = try String(contentsOf: svg, encoding: .utf8)
        #expect(drawn.hasPrefix("<svg") && drawn.contains("<polyline"))

        // --replays sets the hit-ratio suite's replays apart from --runs.
        let replayed = dir.appendingPathComponent("replays.json")
        let (replayStatus, replayLog) = try Self.runBench(["--trace", trace.path, "--size", "6", "--runs", "2",
                                                           "--replays", "5", "--json", replayed.path])
        #expect(replayStatus == 0, "Bench --replays failed:\n\(replayLog)")
        let replayReport = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: replayed)) as? [String: Any])
        let replayRows = try #require(((replayReport["suites"] as? [String: Any])?["hitratio"] as? [String: Any])?["rows"]
            as? [[String: Any]])
        let lru = try #require(replayRows.first {
            $0["group"] as? String == "loop@6" && ($0["extra"] as? [String: Any])?["policy"] as? String == "lru"
        })
        #expect(((lru["value"] as? [String: Any])?["runs"] as? [Double])?.count == 5)
    }

    @Test("a trace that is not one key per line is a clear error")
    func aBadTraceIsAnError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("larder-bad-\(UUID().uuidString).keys")
        defer { try? FileManager.default.removeItem(at: file) }
        try "1\n2\nkey3\n".write(to: file, atomically: true, encoding: .utf8)
        let (status, log) = try Self.runBench(["--trace", file.path, "--size", "2"])
        #expect(status != 0)
        #expect(log.contains("line 3"), "names the line: \(log)")
        let (sizeStatus, sizeLog) = try Self.runBench(["--size", "10"])
        #expect(sizeStatus != 0 && sizeLog.contains("--trace"), "a size without a trace says what is missing: \(sizeLog)")
    }

    @Test("an output file that cannot be written is refused before any suite runs")
    func anUnwritableOutputIsRefusedFirst() throws {
        let missing = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-no-such-folder-\(UUID().uuidString)").appendingPathComponent("out.json")
        let (status, log) = try Self.runBench(["--suite", "core", "--quick", "--json", missing.path])
        #expect(status != 0)
        #expect(log.contains("--json") && log.contains("does not exist"), "says what to change: \(log)")
        #expect(!log.contains("core: the C core alone"), "no suite ran before the refusal: \(log)")

        let folder = FileManager.default.temporaryDirectory.path
        let (folderStatus, folderLog) = try Self.runBench(["--suite", "hitratio", "--quick", "--plot", folder])
        #expect(folderStatus != 0 && folderLog.contains("is a folder"), "a folder is not a plot file: \(folderLog)")

        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("larder-plot-\(UUID().uuidString).svg")
        let (plotStatus, plotLog) = try Self.runBench(["--suite", "core", "--quick", "--plot", svg.path])
        #expect(plotStatus != 0 && plotLog.contains("hitratio"), "--plot without the hitratio suite says so: \(plotLog)")
        #expect(!FileManager.default.fileExists(atPath: svg.path))
    }
}

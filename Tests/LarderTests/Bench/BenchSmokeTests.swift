import Foundation
import Testing

/// Runs the built `Bench` executable in its quick mode and checks that it
/// exits cleanly and writes JSON holding every suite with rows. Speed is not
/// checked here: the figures belong to Bench itself.
@Suite struct BenchSmokeTests {
    static let suites = ["core", "throughput", "threads", "latency", "memory", "alloc", "hitratio", "durability"]

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
        let bench = try #require(Self.benchExecutable(),
                                 "Bench binary not found next to the tests: run `swift build --build-tests` (or set LARDER_BENCH)")
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-bench-smoke-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: output) }

        let process = Process()
        process.executableURL = bench
        process.arguments = ["--quick", "--json", output.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Drain before waiting: a full pipe would block the child.
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "Bench --quick failed:\n\(log)")

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
    }
}

import Foundation
@testable import Larder
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Three cache instances in separate processes (LarderCoherenceWorker) on one private
/// redis-server, writing and reading a shared key space while the test injects faults: the
/// server paused past the heartbeat deadline, FLUSHALL, `CLIENT KILL` of one instance's
/// connection, the server killed and restarted, and a small `tracking-table-max-keys` that makes
/// Redis evict tracked keys all along. The checker then finds every read that returned a value
/// older than one acknowledged more than `maxStaleness` before the read started (on any
/// instance), or older than one its own instance had acknowledged before it started.
///
/// The run lasts `LARDER_COHERENCE_SECONDS` (15 s unless set); the faults repeat every 8 s.
@Suite(.serialized) struct SharedTierCoherenceTests {
    /// The worker's record (same layout).
    struct Record {
        var kind: Int32
        var key: Int32
        var version: Int64
        var time: Int64
        var end: Int64
    }

    static let instances = 3
    static let keys = 300
    static let heartbeatMilliseconds = 100
    static let timeoutMilliseconds = 300
    /// `SharedTierConfiguration.effectiveMaxStaleness` for the workers' settings.
    static let maxStalenessNanoseconds = Int64(2 * heartbeatMilliseconds + timeoutMilliseconds) * 1_000_000

    static func workerPath() throws -> String { try testExecutable("LarderCoherenceWorker") }

    @Test func noReadBreaksTheStalenessBoundUnderFaults() throws {
        let seconds = Double(ProcessInfo.processInfo.environment["LARDER_COHERENCE_SECONDS"] ?? "") ?? 15
        let server = try RedisTestServer(extraArguments: ["--tracking-table-max-keys", "240"])
        defer { server.resume(); server.stop() }
        let directory = server.directory
        let workers = try Self.startWorkers(target: String(server.port), seconds: seconds, directory: directory)
        // The faults, every 8 s: a pause longer than heartbeat + timeout, a flush, one
        // instance's connection killed, the server killed and restarted (empty).
        let start = Date()
        var faults = 0
        func at(_ offset: Double) -> Bool {
            let remaining = offset - Date().timeIntervalSince(start)
            if remaining > 0 { usleep(useconds_t(remaining * 1e6)) }
            return Date().timeIntervalSince(start) < seconds - 0.5
        }
        var cycle = 0.0
        while true {
            guard at(cycle + 1.0) else { break }
            server.pause()
            usleep(700_000)
            server.resume()
            faults += 1
            guard at(cycle + 3.0) else { break }
            try server.cli("FLUSHALL")
            faults += 1
            guard at(cycle + 4.5) else { break }
            let ids = try server.cli("CLIENT", "LIST").split(separator: "\n").compactMap { line in
                line.split(separator: " ").first(where: { $0.hasPrefix("id=") }).map { String($0.dropFirst(3)) }
            }
            if let victim = ids.first { try server.cli("CLIENT", "KILL", "ID", victim) }
            faults += 1
            guard at(cycle + 6.0) else { break }
            server.kill()
            usleep(300_000)
            try server.restart()
            faults += 1
            cycle += 8
        }
        let files = try Self.collect(workers, directory: directory)
        let report = Self.check(files)
        print("coherence: \(report.reads) reads (\(report.valueReads) returned a value, \(report.failedReads) failed), "
              + "\(report.writes) acknowledged writes, \(faults) faults, \(report.violations) reads beyond the "
              + "\(Self.maxStalenessNanoseconds / 1_000_000) ms bound, \(report.ownViolations) own writes not read back")
        #expect(report.violations == 0)
        #expect(report.ownViolations == 0)
        // Reads that got an answer (a value or none), not counting those that failed while the
        // server was away. A long run (LARDER_COHERENCE_SECONDS=60) passes 100,000 of them.
        #expect(report.reads - report.failedReads >= Self.minimumAnsweredReads(seconds: seconds))
        #expect(faults >= 4)
    }

    /// The answered reads a run must reach to mean something: 100,000 in a long run; fewer in
    /// the default one, and far fewer under a sanitizer (whose build runs several times slower).
    static func minimumAnsweredReads(seconds: Double) -> Int {
        guard Jemalloc.servesMalloc else { return 2_000 }
        return seconds >= 60 ? 100_000 : 20_000
    }

    /// Starts the instances against `target` (a port, or "cluster:" and seed ports).
    static func startWorkers(target: String, seconds: Double, directory: URL) throws -> [Process] {
        var workers: [Process] = []
        for instance in 0..<instances {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try workerPath())
            p.arguments = [target, String(instance), String(instances), String(keys),
                           String(seconds), "3", String(heartbeatMilliseconds), String(timeoutMilliseconds),
                           directory.appendingPathComponent("records-\(instance)").path]
            p.standardOutput = FileHandle.standardError
            try p.run()
            workers.append(p)
        }
        return workers
    }

    /// Waits for the instances and reads their records.
    static func collect(_ workers: [Process], directory: URL) throws -> [[Record]] {
        for worker in workers {
            worker.waitUntilExit()
            #expect(worker.terminationStatus == 0)
        }
        var files: [[Record]] = []
        for instance in 0..<instances {
            let data = try Data(contentsOf: directory.appendingPathComponent("records-\(instance)"))
            files.append(data.withUnsafeBytes { Array($0.bindMemory(to: Record.self)) })
        }
        return files
    }

    struct Report {
        var reads = 0, valueReads = 0, failedReads = 0, writes = 0, violations = 0, ownViolations = 0
    }

    /// For each read of version v started at s: a violation when the key's writer had
    /// acknowledged a later version before s - maxStaleness (any instance's read) or before s
    /// (a read on the writer's own instance).
    static func check(_ files: [[Record]]) -> Report {
        var report = Report()
        // Per key, its acknowledged writes in order (one writer per key: version order is ack order).
        var acks = [[(time: Int64, version: Int64)]](repeating: [], count: keys)
        for records in files {
            for record in records where record.kind == 0 {
                acks[Int(record.key)].append((record.time, record.version))
                report.writes += 1
            }
        }
        for index in acks.indices { acks[index].sort { $0.version < $1.version } }
        /// The highest version acknowledged strictly before `time`.
        func latest(_ key: Int, before time: Int64) -> Int64 {
            let list = acks[key]
            var low = 0, high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid].time < time { low = mid + 1 } else { high = mid }
            }
            return low == 0 ? 0 : list[low - 1].version
        }
        for (instance, records) in files.enumerated() {
            for record in records where record.kind == 1 {
                report.reads += 1
                if record.version < 0 { report.failedReads += 1; continue }
                guard record.version > 0 else { continue }
                report.valueReads += 1
                let key = Int(record.key)
                if record.version < latest(key, before: record.time - maxStalenessNanoseconds) {
                    report.violations += 1
                }
                if key % instances == instance, record.version < latest(key, before: record.time) {
                    report.ownViolations += 1
                }
            }
        }
        return report
    }
}

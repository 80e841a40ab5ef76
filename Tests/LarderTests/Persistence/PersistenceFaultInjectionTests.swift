import Foundation
import Testing
@testable import Larder

/// Disk faults on demand: LarderFaultWriter runs a scripted workload (three sessions of
/// sets, overwrites, removals, a removeAll, flushes, closes and an exit without close)
/// under a preloaded shim that fails its n-th write, pwrite, writev, fsync, fdatasync,
/// msync or ftruncate on the store's files. For every n over the whole run, in every
/// durability mode, the store must reopen here, hold every acknowledged write (or a
/// later write), and read back whole; the fault must show: an error to a caller, a
/// counted write error, or a logged warning.
///
/// The default run fails every call once with EIO, and every third once with ENOSPC and
/// with ENOSPC from then on (a disk that stays full); LARDER_LONG_TESTS=1 runs all three
/// at every call.
@Suite("Persistence: disk faults (a failing write or sync at every call)")
struct PersistenceFaultInjectionTests {
    static let long = ProcessInfo.processInfo.environment["LARDER_LONG_TESTS"] == "1"
    static let enospcStride = long ? 1 : 3
    /// Children run at once: they mostly wait for syncs.
    static let parallelChildren = 4
    /// Where the runs' stores go: tmpfs when there is one. The shim fails calls before the
    /// kernel sees them, so the walk's findings do not depend on the file system, and on
    /// tmpfs a sync costs nothing (group commit creates and syncs an 8 MiB journal per run).
    static let scratchParent: String = {
        var st = statvfs()
        let shm = "/dev/shm"
        let free = statvfs(shm, &st) == 0 ? Int(st.f_bavail) * Int(st.f_frsize) : 0
        return access(shm, W_OK) == 0 && free >= 256 << 20 ? shm : NSTemporaryDirectory()
    }()
    /// Files whose writes carry no data: the directory lock's note of the owner's pid
    /// (a failed write there changes only the message a second opener gets).
    static let informational: Set<String> = ["larder.lock"]

    /// One child run, in its scratch directory (the store, the event file, the shim's log).
    struct Outcome {
        var mode: String
        var fault: FaultShim.Fault?
        var scratch: String
        var run: FaultShim.Run
        var store: String { scratch + "/store" }
        var context: String { "\(mode), \(fault.map { "\($0)" } ?? "no fault")" }
        var events: FaultWorkloadEvents {
            let lines = ((try? String(contentsOfFile: scratch + "/events", encoding: .utf8)) ?? "").split(separator: "\n")
            return FaultWorkloadEvents(lines: lines, acknowledgedOnReturn: mode != "writeBack")
        }
        /// The warnings and errors the child's store logged (swift-log's stream handler on stderr).
        var loggedProblems: [Substring] {
            run.standardError.split(separator: "\n").filter { $0.contains(" warning ") || $0.contains(" error ") }
        }
    }

    /// Runs the workload on a fresh store in `scratch` under the shim `library`, failing `fault`.
    static func runChild(mode: String, library: String, fault: FaultShim.Fault?, in scratch: String) throws -> Outcome {
        let store = scratch + "/store"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let run = try FaultShim.run(try testExecutable("LarderFaultWriter"), [store, mode, scratch + "/events"],
                                    library: library, directory: store, fault: fault, scratch: scratch)
        return Outcome(mode: mode, fault: fault, scratch: scratch, run: run)
    }

    /// Checks what the child said and the store it left: reopened here, without faults, it
    /// must open, and every key must hold what the acknowledgements allow.
    func check(_ outcome: Outcome) throws -> FaultWorkloadEvents {
        let context = outcome.context
        let run = outcome.run
        #expect(run.exitedNormally && run.status == 0,
                "\(context): the child ended with status \(run.status) (signal: \(!run.exitedNormally)): \(run.standardError)")
        let events = outcome.events
        #expect(events.done, "\(context): the script did not run to its end")
        for problem in events.problems { Issue.record("\(context): \(problem)") }

        // A disk full before LMDB wrote its first pages leaves no data file, or an empty one
        // (which mdb_stat refuses and the next open initializes).
        var st = stat()
        if stat(outcome.store + "/data.mdb", &st) == 0 && st.st_size > 0 {
            #expect(try PersistenceCrashTests.mdbStat(outcome.store) == 0, "\(context): mdb_stat -a cannot read the environment")
        }
        let cache: Cache<String, String>
        do {
            cache = try Cache<String, String>(configuration: .init(maxCount: 64, sweepInterval: nil),
                                              persistence: .lmdb(directory: outcome.store, maxBytes: 1 << 20))
        } catch {
            Issue.record("\(context): the store does not reopen: \(error)")
            return events
        }
        defer { cache.close() }
        var present = 0
        for key in events.keys.sorted() {
            let value = cache.value(forKey: key)
            if value != nil { present += 1 }
            let allowed = events.allowedStates(key)
            #expect(allowed.allows(value), "\(context): \(key) holds \(value ?? "nothing"); it may hold \(allowed.description)")
        }
        let statistics = cache.persistenceStatistics
        #expect(statistics?.damagedRecords == 0, "\(context): damaged records after reopening")
        #expect(statistics?.entries == present, "\(context): \(statistics?.entries ?? -1) records on disk, \(present) keys read")
        return events
    }

    /// The covered call a line of the shim's log names ("pwrite data.mdb"), and its file.
    static func site(_ line: String) -> String {
        line.split(separator: " ").dropFirst().prefix(2).joined(separator: " ")
    }

    static func file(_ line: String) -> String {
        line.split(separator: " ").dropFirst(2).first.map(String.init) ?? ""
    }

    func walk(mode: String) throws {
        let root = TemporaryDirectory("larder-faults", in: Self.scratchParent)
        let library = try FaultShim.build(in: root.path)
        let counting = try Self.runChild(mode: mode, library: library, fault: nil, in: root.sub("count"))
        let clean = try check(counting)
        #expect(clean.reportedErrors.isEmpty && counting.loggedProblems.isEmpty,
                "\(mode) without faults: \(clean.reportedErrors) \(counting.loggedProblems)")
        #expect(clean.acknowledgedWrites > 0, "\(mode): the workload acknowledged no write")
        let points = counting.run.calls.count
        try #require(points > 0, "\(mode): the shim counted no call; is it preloaded?")
        let sites = Dictionary(grouping: counting.run.calls, by: Self.site).mapValues(\.count)

        let faults = (1...points).map { FaultShim.Fault(call: $0, errno: "EIO") }
            + stride(from: 1, through: points, by: Self.enospcStride).map { FaultShim.Fault(call: $0, errno: "ENOSPC") }
            + stride(from: 1, through: points, by: Self.enospcStride).map { FaultShim.Fault(call: $0, errno: "ENOSPC", sticky: true) }
        var reported = 0, loggedOnly = 0, unnoticed: [String] = []
        for batch in stride(from: 0, to: faults.count, by: Self.parallelChildren) {
            let indices = Array(batch..<min(batch + Self.parallelChildren, faults.count))
            let outcomes = TestLock<[Int: Result<Outcome, any Error>]>([:])
            let rootPath = root.path
            runOnThreads(indices.count) { slot in
                let index = indices[slot]
                let result = Result { try Self.runChild(mode: mode, library: library, fault: faults[index], in: "\(rootPath)/\(index)") }
                outcomes.withLock { $0[index] = result }
            }
            for index in indices {
                let outcome = try outcomes.withLock { $0[index]! }.get()
                defer { try? FileManager.default.removeItem(atPath: outcome.scratch) }  // group commit's journal is 8 MiB
                let events = try check(outcome)
                guard let failed = outcome.run.calls.first(where: { $0.hasSuffix(" FAILED \(faults[index].errno)") }) else {
                    Issue.record("\(outcome.context): the run made only \(outcome.run.calls.count) covered calls; the workload is not deterministic")
                    continue
                }
                if !events.reportedErrors.isEmpty {
                    reported += 1
                } else if !outcome.loggedProblems.isEmpty {
                    loggedOnly += 1
                } else {
                    unnoticed.append(failed)
                }
            }
        }
        // A failed write or sync of the store's data that nobody hears of is one a crash
        // could turn into a lost write.
        let unnoticedData = unnoticed.filter { !Self.informational.contains(Self.file($0)) }
        #expect(unnoticedData.isEmpty, "\(mode): faults that left no error and no log: \(unnoticedData)")
        let siteList = sites.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        print("disk faults \(mode): \(points) fault points (\(siteList)); \(points) runs with EIO, \((faults.count - points) / 2) with ENOSPC once and as many with ENOSPC from then on (every \(Self.enospcStride == 1 ? "" : "\(Self.enospcStride)rd ")point): \(reported) reported to a caller, \(loggedOnly) logged, \(unnoticed.count) unnoticed (\(unnoticed.count - unnoticedData.count) on \(Self.informational.sorted().joined(separator: ", ")))")
    }

    @Test func synchronous() throws { try walk(mode: "synchronous") }
    @Test func groupCommit() throws { try walk(mode: "groupCommit") }
    @Test func writeBack() throws { try walk(mode: "writeBack") }
}

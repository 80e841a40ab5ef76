import CLMDB
import Foundation
import Synchronization
import Testing
@testable import Larder

/// The durability modes at the byte level: what is on disk when each call returns.
@Suite("Persistence: durability modes")
struct PersistenceDurabilityTests {
    let clock = TestWallClock()
    let logs = CapturedLogs()

    func makeWriter(_ dir: String, _ durability: PersistenceConfiguration.Durability) throws -> DiskWriter {
        let store = try DiskStore(options: .init(directory: dir, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        return DiskWriter(store: store, durability: durability, logger: logs.logger)
    }

    func put(_ store: DiskStore, _ key: String, _ value: String) -> DiskStore.WriteOp { stringPut(store, key, value) }
    func onDisk(_ store: DiskStore, _ key: String) -> String? { storedString(store, key) }

    func overlayValue(_ writer: DiskWriter, _ key: String) -> String?? {
        switch writer.overlay(StorageKey.make(bytes(key))) {
        case .none: return .none
        case .deleted: return .some(nil)
        case .put(let record):
            let view = try? record.withUnsafeBytes { try DiskRecord.validate($0) }
            return .some(view.map { String(decoding: $0.value, as: UTF8.self) })
        }
    }

    /// What a read through the tier finds: the writer's overlay first, then the records.
    func readable(_ writer: DiskWriter, _ key: String) -> String? {
        switch overlayValue(writer, key) {
        case .some(let value): value
        case .none: onDisk(writer.store, key)
        }
    }

    /// The journal generation in force, from the store's `meta` (read with LMDB directly).
    func journalGeneration(_ dir: String) throws -> UInt64 {
        let env = try LMDBEnvironment(maxDatabases: 4, mapSize: 1 << 24)
        defer { env.close() }
        try env.open(directory: dir, flags: UInt32(MDB_RDONLY), mode: 0o600)
        let txn = try env.begin(readOnly: true)
        defer { txn.abort() }
        let meta = try txn.openDatabase("meta", create: false)
        let value = try Array("journal".utf8).withUnsafeBytes { try txn.get(meta, $0) }
        return value.map { $0.loadUnaligned(as: UInt64.self) } ?? 0
    }

    /// Frames an open would replay from `larder.journal`.
    func journalCount(_ dir: String) throws -> Int {
        try JournalFile(existingIn: dir)?.payloads(generation: try journalGeneration(dir)).count ?? 0
    }

    /// Writes `frame` into the journal file at `offset`, as a process would have.
    func writeFrame(_ dir: String, _ frame: [UInt8], at offset: Int) throws {
        try JournalFile(creatingIn: dir).append(frame, at: offset)
    }

    @Test func groupCommitJournalsPutsAndDeletesAndAppliesThemInBulk() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .groupCommit)
        try writer.submit(put(writer.store, "a", "1"))
        try writer.submit(put(writer.store, "b", "2"))
        try writer.submit(.delete(storageKey: StorageKey.make(bytes("a"))))
        // Journaled: durable and readable, not yet among the records.
        #expect(onDisk(writer.store, "b") == nil)
        #expect(readable(writer, "b") == "2")
        #expect(overlayValue(writer, "a") == .some(nil), "a journaled delete hides the put")
        #expect(writer.store.statistics.commits >= 3)
        // A flush applies the journal in one transaction and empties it.
        try writer.flush()
        #expect(onDisk(writer.store, "b") == "2")
        #expect(onDisk(writer.store, "a") == nil)
        #expect(overlayValue(writer, "b") == .none)
        #expect(writer.store.statistics.entries == 1)
        // removeAll is not journaled: it applies what is journaled first, then empties the store.
        try writer.submit(put(writer.store, "c", "3"))
        try writer.submit(.removeAll)
        #expect(readable(writer, "c") == nil)
        #expect(writer.store.statistics.entries == 0)
        try writer.submit(put(writer.store, "d", "4"))
        writer.close()  // applies the journal
        #expect(try journalCount(dir.path) == 0)
        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        #expect(onDisk(reopened, "d") == "4")
        #expect(reopened.statistics.entries == 1)
        reopened.close()
    }

    @Test func everyWriterOfAFailedGroupCommitGetsTheError() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .groupCommit)
        try writer.submit(put(writer.store, "before", "1"))
        writer.store.abandonForTesting()  // every later commit fails: closed
        let failures = Atomic<Int>(0)
        try runOnThreads(8) { t in
            for i in 0..<5 {
                do {
                    try writer.submit(put(writer.store, "t\(t)-\(i)", "v"))
                } catch let error as CacheError where error.code == .closed {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 40, "no writer of a failed round returns as if it landed")
        writer.close()
    }

    @Test func theJournalIsAppliedAtTheNextOpenAfterACrash() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .groupCommit)
        try runOnThreads(4) { t in
            for i in 0..<10 { try writer.submit(put(writer.store, "t\(t)-\(i)", "v\(i)")) }
        }
        try writer.submit(.delete(storageKey: StorageKey.make(bytes("t0-0"))))
        #expect(writer.store.statistics.entries < 40, "still journaled")
        // Killed: nothing more is written (the committer's last round then fails: closed).
        writer.store.abandonForTesting()
        writer.close()
        #expect(try journalCount(dir.path) > 0)

        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        #expect(logs.contains(.notice, "journaled writes"))
        #expect(onDisk(reopened, "t0-0") == nil)
        for t in 0..<4 {
            for i in 0..<10 where (t, i) != (0, 0) { #expect(onDisk(reopened, "t\(t)-\(i)") == "v\(i)") }
        }
        #expect(reopened.statistics.entries == 39)
        #expect(reopened.statistics.damagedRecords == 0)
        reopened.close()
        #expect(try journalCount(dir.path) == 0)
    }

    @Test func aDamagedJournalRecordIsDroppedAndCountedAndTheRestApplied() throws {
        let dir = TemporaryDirectory()
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        #expect(try store.journal([put(store, "a", "1"), put(store, "b", "2")]))  // the frame fits
        store.abandonForTesting()
        // Damage inside a well-formed frame: a put that no longer validates, and an entry of
        // an unknown kind (a broken frame for the rest of the frame).
        let generation = try journalGeneration(dir.path)
        let first = JournalFile.frameSize(payload: try #require(DiskStore.journalValue([put(store, "a", "1"), put(store, "b", "2")])).count)
        var damaged = try #require(DiskStore.journalValue([put(store, "c", "3")]))
        damaged[damaged.count - 1] ^= 0xFF
        damaged += [9, 1, 0, 0, 0, 7, 0, 0, 0, 0]
        try writeFrame(dir.path, JournalFile.frame(generation: generation, sequence: 1, payload: damaged), at: first)
        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        #expect(reopened.statistics.damagedRecords == 2)
        #expect(logs.contains(.warning, "damaged journal records"))
        #expect(onDisk(reopened, "a") == "1")
        #expect(onDisk(reopened, "b") == "2")
        #expect(onDisk(reopened, "c") == nil)
        reopened.close()
        #expect(try journalCount(dir.path) == 0)
    }

    @Test func replayStopsAtATornFrameAndIgnoresStaleGenerations() throws {
        let dir = TemporaryDirectory()
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        let a1 = put(store, "a", "1"), x9 = put(store, "x", "9")
        #expect(try store.journal([a1]))
        #expect(try store.journal([x9]))
        try store.apply([a1, x9], clearingJournal: true)  // applied: both frames are stale now
        try store.apply([put(store, "a", "2"), .delete(storageKey: StorageKey.make(bytes("x")))])  // later writes
        // The new generation's first frame (the same size as a's) overwrites a's; x's stays
        // in the file after it, with sequence number 1 but the old generation.
        #expect(try store.journal([put(store, "b", "2")]))
        store.abandonForTesting()
        let generation = try journalGeneration(dir.path)
        #expect(generation == 1)
        let first = JournalFile.frameSize(payload: try #require(DiskStore.journalValue([put(store, "b", "2")])).count)
        // A torn round after it (its checksum does not match), then a well-formed one: the
        // torn round was never acknowledged, and nothing after it is replayed.
        var torn = JournalFile.frame(generation: generation, sequence: 1, payload: try #require(DiskStore.journalValue([put(store, "c", "3")])))
        torn[torn.count - 1] ^= 0x01
        try writeFrame(dir.path, torn, at: first)
        let after = JournalFile.frame(generation: generation, sequence: 2, payload: try #require(DiskStore.journalValue([put(store, "d", "4")])))
        try writeFrame(dir.path, after, at: first + torn.count)
        #expect(try journalCount(dir.path) == 1)

        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        #expect(onDisk(reopened, "b") == "2")
        #expect(onDisk(reopened, "c") == nil)
        #expect(onDisk(reopened, "d") == nil)
        #expect(reopened.statistics.damagedRecords == 0, "a torn frame is not damage")
        #expect(onDisk(reopened, "a") == "2")
        #expect(onDisk(reopened, "x") == nil, "the stale frame (x = 9) is not replayed over the later delete")
        reopened.close()
        #expect(try journalGeneration(dir.path) == 2)
        #expect(try journalCount(dir.path) == 0)
    }

    @Test func aFullJournalFileSpillsIntoAnApply() throws {
        let dir = TemporaryDirectory()
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 26), logger: logs.logger, wallClock: clock.read)
        let big = String(repeating: "x", count: 1 << 20)
        var accepted = 0
        while try store.journal([put(store, "k\(accepted)", big)]) { accepted += 1 }
        #expect(accepted == JournalFile.capacity / (1 << 20) - 1, "frames fill the file, then it refuses")
        #expect(store.statistics.entries == 0)
        store.close()
    }

    @Test func aGroupCommitRoundThatDoesNotFitTheJournalAppliesItInstead() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .groupCommit)
        let big = String(repeating: "x", count: 1 << 20)
        // Seven 1 MiB frames fit the 8 MiB file; the eighth round applies all eight.
        for i in 0..<7 { try writer.submit(put(writer.store, "k\(i)", big)) }
        #expect(writer.store.statistics.entries == 0, "journaled")
        try writer.submit(put(writer.store, "k7", big))
        #expect(writer.store.statistics.entries == 8, "the round spilled into an apply, with the journal")
        for i in 0..<8 { #expect(onDisk(writer.store, "k\(i)")?.count == big.count) }
        #expect(overlayValue(writer, "k0") == .none, "the overlay was emptied with the journal")
        writer.close()
    }

    @Test func synchronousCommitsEachWriteBeforeReturning() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .synchronous)
        let before = writer.store.statistics.commits
        try writer.submit(put(writer.store, "a", "1"))
        #expect(onDisk(writer.store, "a") == "1")
        try writer.submit(put(writer.store, "b", "2"))
        #expect(writer.store.statistics.commits == before + 2)
        writer.close()
    }

    @Test func groupCommitSharesCommitsAndAcknowledgesOnlyLandedWrites() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .groupCommit)
        let threads = 8, perThread = 25
        try runOnThreads(threads) { t in
            for i in 0..<perThread {
                try writer.submit(put(writer.store, "t\(t)-\(i)", "v\(i)"))
                // Acknowledged means committed: journaled (read through the overlay) or
                // already applied to the records.
                #expect(readable(writer, "t\(t)-\(i)") == "v\(i)")
            }
        }
        let commits = writer.store.statistics.commits
        #expect(commits < threads * perThread, "writers waiting together share one commit")
        try writer.flush()  // applies the journal
        #expect(writer.store.statistics.entries == threads * perThread)
        for t in 0..<threads { #expect(onDisk(writer.store, "t\(t)-\(perThread - 1)") == "v\(perThread - 1)") }
        writer.close()
        #expect(throws: CacheError.self) { try writer.submit(.noop) }
    }

    @Test func writeBackIsVisibleAtOnceAndDurableAfterAFlush() throws {
        let dir = TemporaryDirectory()
        // A long interval: only explicit flushes (and close) commit in this test.
        let writer = try makeWriter(dir.path, .writeBack(interval: .seconds(3600)))
        try writer.submit(put(writer.store, "a", "1"))
        try writer.submit(put(writer.store, "b", "2"))
        #expect(overlayValue(writer, "a") == .some("1"))
        #expect(onDisk(writer.store, "a") == nil, "not committed before the interval")
        try writer.flush()
        #expect(onDisk(writer.store, "a") == "1")
        #expect(overlayValue(writer, "a") == .none)
        // Pending removals hide committed values.
        try writer.submit(.delete(storageKey: StorageKey.make(bytes("a"))))
        #expect(overlayValue(writer, "a") == .some(nil))
        try writer.submit(.removeAll)
        #expect(overlayValue(writer, "b") == .some(nil))
        try writer.submit(put(writer.store, "c", "3"))
        #expect(overlayValue(writer, "c") == .some("3"))
        #expect(onDisk(writer.store, "b") == "2")
        try writer.flush()
        #expect(onDisk(writer.store, "b") == nil)
        #expect(onDisk(writer.store, "c") == "3")
        // Close commits what is pending.
        try writer.submit(put(writer.store, "d", "4"))
        writer.close()
        let reopened = try makeWriter(dir.path, .synchronous)
        #expect(onDisk(reopened.store, "d") == "4")
        #expect(onDisk(reopened.store, "c") == "3")
        #expect(reopened.store.statistics.entries == 2)
        reopened.close()
    }

    @Test("group commit: a writer's round does not wait for a transaction of recorded accesses")
    func groupCommitWritersDoNotWaitForRecordedAccesses() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .groupCommit)
        // The maintainer's transaction stops inside, holding LMDB's write lock, while it
        // takes the recorded accesses.
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let once = Atomic<Bool>(false)
        writer.store.setTouchSource {
            if !once.exchange(true, ordering: .relaxed) {
                entered.signal()
                release.wait()
            }
            return []
        }
        writer.requestMaintenance()
        #expect(entered.wait(timeout: .now() + .seconds(30)) == .success, "no transaction of accesses started")
        let acknowledged = DispatchSemaphore(value: 0)
        let setter = TestThread {
            try? writer.submit(put(writer.store, "a", "1"))
            acknowledged.signal()
        }
        let returnedMeanwhile = acknowledged.wait(timeout: .now() + .seconds(30)) == .success
        release.signal()
        try #require(setter.join())
        #expect(returnedMeanwhile, "the write waited for the transaction of recorded accesses")
        guard case .put = writer.overlay(StorageKey.make(bytes("a"))) else {
            Issue.record("the write is not in the journal's overlay")
            return
        }
        writer.close()
        let reopened = try makeWriter(dir.path, .groupCommit)
        #expect(onDisk(reopened.store, "a") == "1")
        reopened.close()
    }

    @Test func writeBackFlushesOnItsOwnSchedule() throws {
        let dir = TemporaryDirectory()
        let writer = try makeWriter(dir.path, .writeBack(interval: .milliseconds(10)))
        try writer.submit(put(writer.store, "a", "1"))
        // Nobody asks for a flush: the flusher's own timer commits (the hook only waits for it).
        writer.waitForScheduledRound()
        #expect(onDisk(writer.store, "a") == "1")
        #expect(writer.store.statistics.commits >= 1)
        writer.close()
    }
}

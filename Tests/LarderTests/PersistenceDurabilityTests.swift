import Foundation
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

    func put(_ store: DiskStore, _ key: String, _ value: String) -> DiskStore.WriteOp {
        let record = DiskRecord.make(key: bytes(key), deadline: nil, stamp: store.nextStamp()) { $0.append(contentsOf: bytes(value)) }
        return .put(storageKey: StorageKey.make(bytes(key)), record: record)
    }

    func onDisk(_ store: DiskStore, _ key: String) -> String? {
        if case .found(let v, _) = store.read(storageKey: StorageKey.make(bytes(key)), key: bytes(key), decode: { String(decoding: $0, as: UTF8.self) }) {
            return v
        }
        return nil
    }

    func overlayValue(_ writer: DiskWriter, _ key: String) -> String?? {
        switch writer.overlay(StorageKey.make(bytes(key))) {
        case .none: return .none
        case .deleted: return .some(nil)
        case .put(let record):
            let view = try? record.withUnsafeBytes { try DiskRecord.validate($0) }
            return .some(view.map { String(decoding: $0.value, as: UTF8.self) })
        }
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
                // Acknowledged means committed: visible to a fresh read transaction now.
                #expect(onDisk(writer.store, "t\(t)-\(i)") == "v\(i)")
            }
        }
        let commits = writer.store.statistics.commits
        #expect(commits < threads * perThread, "writers waiting together share one commit")
        #expect(writer.store.statistics.entries == threads * perThread)
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

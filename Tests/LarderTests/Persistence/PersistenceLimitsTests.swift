import CLMDB
import Foundation
import Synchronization
import Testing
@testable import Larder

/// The disk tier at the edges: extreme configurations, damaged meta values, a full disk,
/// failed syncs, and what a journal replay leaves behind.
@Suite("Persistence: limits and damage")
struct PersistenceLimitsTests: LoggingPersistenceSuite {
    let clock = TestWallClock()
    let logs = CapturedLogs()

    func put(_ store: DiskStore, _ key: String, _ value: String) -> DiskStore.WriteOp { stringPut(store, key, value) }
    func onDisk(_ store: DiskStore, _ key: String) -> String? { storedString(store, key) }

    // MARK: Stamps after a journal replay

    /// Byte level: after an open that replays the journal, new writes must be more recent
    /// than the replayed records.
    @Test func stampsAfterAJournalReplayAreNewerThanTheReplayedRecords() throws {
        let dir = TemporaryDirectory()
        do {
            let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
            for i in 0..<5 { #expect(try store.journal([put(store, "old\(i)", "v")])) }
            store.abandonForTesting()  // killed before the journal was applied
        }
        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        try reopened.apply([put(reopened, "new", "v")])
        var order: [String] = []
        try reopened.forEachMostRecent { key, _, _ in
            order.append(String(decoding: key, as: UTF8.self))
            return .accepted
        }
        #expect(order.first == "new", "most recent first: \(order)")
        reopened.close()
    }

    /// User level: a group-commit cache killed with journaled writes; after the restart the
    /// first new write must not be the one the disk budget evicts.
    @Test func theFirstWriteAfterAJournalReplayIsNotEvictedFirst() throws {
        let dir = TemporaryDirectory()
        let value = String(repeating: "x", count: 1000)
        // Records are 48 + key + 1000 bytes: 5 fit in 5,500 bytes, a sixth evicts one.
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 100, durability: .groupCommit, diskBytes: 5_500)
            for i in 0..<5 { try cache.setValue(value, forKey: "old\(i)") }
            (cache.tier as! PersistentTier<String, String>).store.abandonForTesting()  // killed
            cache.close()
        }
        let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 1, durability: .groupCommit, diskBytes: 5_500)
        try cache.setValue(value, forKey: "new")
        try cache.flushPersistence()  // applies the journal: the budget evicts the least recent
        try cache.setValue(value, forKey: "other")  // pushes "new" out of memory (maxCount 1)
        try cache.flushPersistence()
        #expect(cache.value(forKey: "new")?.count == value.count, "the newest acknowledged write was evicted from disk first")
        #expect(cache.value(forKey: "old0") == nil, "old0 is the least recent record")
    }

    // MARK: Wrong meta values

    /// Writes `meta[name] = value` with LMDB directly (a damaged or hand-edited store).
    static func setMeta(_ dir: String, _ name: String, _ value: UInt64) throws {
        let env = try LMDBEnvironment(maxDatabases: 4, mapSize: 1 << 26)
        defer { env.close() }
        try env.open(directory: dir, flags: 0, mode: 0o600)
        let txn = try env.begin(readOnly: false)
        let meta = try txn.openDatabase("meta", create: false)
        var le = value.littleEndian
        try Array(name.utf8).withUnsafeBytes { k in try withUnsafeBytes(of: &le) { v in try txn.put(meta, k, v) } }
        try txn.commit()
    }

    /// A `bytes` count in meta larger than the data file (clean close, index matching the
    /// records) is damage: the count is rebuilt, and the next write evicts nothing.
    @Test func aWrongByteCountInMetaDoesNotEvictEveryRecord() throws {
        let dir = TemporaryDirectory()
        do {
            let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
            try store.apply((0..<10).map { put(store, "k\($0)", "v") })
            store.close()
        }
        try Self.setMeta(dir.path, "bytes", 1 << 40)
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        try store.apply([put(store, "new", "v")])
        #expect(store.statistics.evictions == 0)
        #expect(store.statistics.entries == 11, "good records dropped because meta.bytes was wrong")
        #expect(onDisk(store, "k0") == "v")
        store.close()
    }

    /// A `bytes` value of 2^63 or more must not trap in `Int(_:)` at open: the count is
    /// rebuilt from the records, which are kept. (In a child process: the trap kills it.)
    @Test func aHugeByteCountInMetaIsRebuiltNotACrash() async throws {
        await #expect(processExitsWith: .success) {
            let dir = TemporaryDirectory()
            let clock = TestWallClock()
            let logger = CapturedLogs().logger
            let options = DiskStore.Options(directory: dir.path, maxBytes: 1 << 24)
            let store = try DiskStore(options: options, logger: logger, wallClock: clock.read)
            let record = DiskRecord.make(key: bytes("k"), deadline: nil, stamp: store.nextStamp()) { $0.append(1) }
            try store.apply([.put(storageKey: StorageKey.make(bytes("k")), record: record)])
            store.close()
            try PersistenceLimitsTests.setMeta(dir.path, "bytes", UInt64.max)
            let reopened = try DiskStore(options: options, logger: logger, wallClock: clock.read)
            if reopened.statistics.entries != 1 || reopened.statistics.bytes != record.count { exit(1) }
            reopened.close()
        }
    }

    // MARK: Huge write-back interval

    /// `.writeBack(interval:)` with a huge interval (meaning "only on flush and close") must
    /// not trap on UInt64 overflow; the write still reaches the disk at close. (In a child
    /// process: the trap kills it.)
    @Test func aHugeWriteBackIntervalIsNotACrash() async throws {
        await #expect(processExitsWith: .success) {
            let dir = TemporaryDirectory()
            let persistence = PersistenceConfiguration.lmdb(directory: dir.path, maxBytes: 1 << 20,
                                                            durability: .writeBack(interval: .seconds(Int64.max)))
            do {
                let cache = try Cache<String, String>(configuration: .init(maxCount: 10, sweepInterval: nil), persistence: persistence)
                try cache.setValue("v", forKey: "k")
                cache.close()
            }
            let reopened = try Cache<String, String>(configuration: .init(maxCount: 10, sweepInterval: nil), persistence: persistence)
            if reopened.value(forKey: "k") != "v" { exit(1) }
            reopened.close()
        }
    }

    // MARK: A full disk (a small tmpfs; needs root)

    /// A tmpfs of `megabytes` mounted at a fresh directory, unmounted on deinit (lazily, so
    /// that a store a failed test left open cannot keep it mounted); the directory goes
    /// with the ``TemporaryDirectory`` it is.
    final class SmallDisk {
        private let directory = TemporaryDirectory("larder-disk")
        var path: String { directory.path }
        init?(megabytes: Int) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/mount")
            p.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]
            guard (try? p.run()) != nil else { return nil }
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
        }
        var freeBytes: Int {
            var st = statvfs()
            statvfs(path, &st)
            return Int(st.f_bavail) * Int(st.f_frsize)
        }
        deinit {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/umount")
            p.arguments = ["-l", path]
            try? p.run()
            p.waitUntilExit()
        }
    }

    /// Group commit on a disk with less than the journal's 8 MiB free: the failed creation
    /// must not leave `larder.journal.new` behind, holding the disk's remaining space, and
    /// the writes go to LMDB directly instead of failing (none of them meeting a disk that
    /// the journal's creation filled for a moment).
    @Test(.enabled(if: getuid() == 0)) func aFailedJournalCreationLeavesNoTemporaryFile() throws {
        let disk = try #require(SmallDisk(megabytes: 6))
        let dir = disk.path + "/store"
        let freeBefore: Int
        do {
            let cache: Cache<String, String> = try makeCache(dir, maxCount: 10, durability: .groupCommit, diskBytes: 1 << 20)
            freeBefore = disk.freeBytes
            try cache.setValue("v", forKey: "k")
            try cache.setValue("w", forKey: "l")
            cache.close()
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/larder.journal.new"), "temporary journal left behind")
        #expect(disk.freeBytes >= freeBefore - (64 << 10), "the failed journal still holds the disk's space")
        #expect(logs.contains(.warning, "journal"))
        let reopened: Cache<String, String> = try makeCache(dir, maxCount: 10, durability: .groupCommit, diskBytes: 1 << 20)
        #expect(reopened.value(forKey: "k") == "v" && reopened.value(forKey: "l") == "w")
        reopened.close()
    }

    /// Group commit on a disk with room for the journal's 8 MiB but not for a quarter more:
    /// the journal is not created at all (zero-filling it would take the disk's last blocks,
    /// failing every other write meanwhile and leaving the records no room), the warning
    /// says why, and the writes go to LMDB directly.
    @Test(.enabled(if: getuid() == 0)) func aJournalIsNotCreatedWithoutRoomToSpare() throws {
        let disk = try #require(SmallDisk(megabytes: 9))
        let dir = disk.path + "/store"
        do {
            let cache: Cache<String, String> = try makeCache(dir, maxCount: 10, durability: .groupCommit, diskBytes: 1 << 20)
            #expect(disk.freeBytes > 8 << 20, "the disk must have room for the journal alone")
            try cache.setValue("v", forKey: "k")
            cache.close()
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/larder.journal"), "journal created without room to spare")
        #expect(!FileManager.default.fileExists(atPath: dir + "/larder.journal.new"))
        #expect(logs.contains(.warning, "journal"))
        let reopened: Cache<String, String> = try makeCache(dir, maxCount: 10, durability: .groupCommit, diskBytes: 1 << 20)
        #expect(reopened.value(forKey: "k") == "v")
        reopened.close()
    }

    /// Synchronous mode filling a small disk: the error says what to change, and nothing
    /// acknowledged before it is lost.
    @Test(.enabled(if: getuid() == 0)) func aFullDiskIsAClearErrorAndLosesNothingStored() throws {
        let disk = try #require(SmallDisk(megabytes: 4))
        let dir = disk.path + "/store"
        let value = String(repeating: "x", count: 100 << 10)
        var stored = 0
        var failure: CacheError?
        do {
            let cache: Cache<Int, String> = try makeCache(dir, maxCount: 2, diskBytes: 64 << 20)
            for i in 0..<100 {
                do { try cache.setValue(value, forKey: i); stored += 1 } catch let e { failure = e; break }
            }
            // A later write must fail the same way, or succeed; never crash or corrupt.
            _ = try? cache.setValue(value, forKey: 1000)
            cache.close()
        }
        #expect(failure?.message.contains("disk space") == true, "\(failure.map { "\($0)" } ?? "no error")")
        let reopened: Cache<Int, String> = try makeCache(dir, maxCount: 2, diskBytes: 64 << 20)
        for i in 0..<stored { #expect(reopened.value(forKey: i)?.count == value.count, "acknowledged write \(i) lost") }
        reopened.close()
    }

    // MARK: Huge maxBytes

    /// maxBytes = Int.max ("no practical limit"): the map-size arithmetic must not wrap to
    /// a 64 MiB limit past which the tier lowers its budget and evicts far below maxBytes.
    @Test func aHugeMaxBytesDoesNotSilentlyEvict() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<Int, [UInt8]> = try makeCache(dir.path, maxCount: 10, durability: .writeBack(interval: .seconds(3600)), diskBytes: Int.max)
        let value = [UInt8](repeating: 7, count: 1 << 20)
        for i in 0..<96 {
            try cache.setValue(value, forKey: i)
            if i % 8 == 7 { try cache.flushPersistence() }
        }
        try cache.flushPersistence()
        let stats = try #require(cache.persistenceStatistics)
        #expect(stats.evictions == 0, "evicted \(stats.evictions) records under a budget of Int.max")
        #expect(stats.entries == 96)
    }

    /// A budget too large to map (2^60: no process has that much address space) opens
    /// with a small map that grows; a first map that cannot be reserved is an error that
    /// names maxBytes, not a misleading "check the disk".
    @Test func aHugeButRepresentableMaxBytesOpensAndWorks() throws {
        let dir = TemporaryDirectory()
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 60), logger: logs.logger, wallClock: clock.read)
        try store.apply([put(store, "k", "v")])
        #expect(onDisk(store, "k") == "v")
        #expect(store.statistics.mapSize <= DiskStore.initialMapCap)
        store.close()
        var options = DiskStore.Options(directory: dir.sub("unmappable"), maxBytes: 1 << 20)
        options.initialMapSize = 1 << 60
        let error = #expect(throws: CacheError.self) { _ = try DiskStore(options: options, logger: logs.logger, wallClock: clock.read) }
        #expect(error?.message.contains("maxBytes") == true, "\(error.map { "\($0)" } ?? "")")
    }

    // MARK: A write-back batch larger than the map limit

    /// One write-back interval queues more than the map limit (64 MiB here) on a fresh
    /// store. In one transaction the map would fill before the budget eviction at its end,
    /// and a budget lowered to 3/4 of the bytes stored before the batch (0) would evict every
    /// record, then and later.
    @Test func aLargeWriteBackBatchDoesNotShrinkTheDiskBudgetToNothing() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<Int, [UInt8]> = try makeCache(dir.path, maxCount: 4, durability: .writeBack(interval: .seconds(3600)), diskBytes: 4 << 20)
        let value = [UInt8](repeating: 1, count: 1 << 20)
        for i in 0..<80 { try cache.setValue(value, forKey: i) }
        try cache.flushPersistence()
        // Later, ordinary writes well inside the 4 MiB budget.
        for i in 100..<102 { try cache.setValue(value, forKey: i) }
        try cache.flushPersistence()
        let stats = try #require(cache.persistenceStatistics)
        #expect(stats.entries >= 3, "a 4 MiB budget holds three 1 MiB records")
        let tier = cache.tier as! PersistentTier<Int, [UInt8]>
        #expect(tier.load(forKey: 101)?.value.count == value.count && tier.load(forKey: 79)?.value.count == value.count)
        #expect(stats.mapSize <= 64 << 20)
    }

    // MARK: Write-back at close

    /// Write-back: a flush that fails at close (full disk) drops the queued writes. The log
    /// must say so, with their count, not "will retry" (nothing retries after close).
    @Test(.enabled(if: getuid() == 0)) func writeBackCloseOnAFullDiskReportsTheLoss() throws {
        let disk = try #require(SmallDisk(megabytes: 4))
        let dir = disk.path + "/store"
        let value = String(repeating: "x", count: 100 << 10)
        let cache: Cache<Int, String> = try makeCache(dir, maxCount: 2, durability: .writeBack(interval: .seconds(3600)), diskBytes: 64 << 20)
        for i in 0..<60 { try cache.setValue(value, forKey: i) }  // 6 MiB queued for a 4 MiB disk
        cache.close()
        #expect(!logs.contains(.error, "will retry"), "the final flush is not retried")
        #expect(logs.contains(.error, "at close failed; the queued writes are lost"))
    }

    // MARK: A journal append whose sync failed

    /// Group commit: an append that wrote its frame and then failed (fdatasync) was reported
    /// as failed. With no other frame in the journal, the writer's overlay is empty, so the
    /// next apply (a removeAll here) does not clear the journal; the frame must still not
    /// come back at the next open, over the removeAll.
    @Test func aJournalFrameWhoseSyncFailedIsNotReplayedOverLaterWrites() throws {
        let dir = TemporaryDirectory()
        do {
            let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
            store.journalSyncFailsForTesting.store(true, ordering: .relaxed)
            #expect(throws: CacheError.self) { _ = try store.journal([put(store, "failed", "v")]) }
            store.journalSyncFailsForTesting.store(false, ordering: .relaxed)
            try store.apply([.removeAll])
            try store.apply([put(store, "later", "w")])
            store.abandonForTesting()  // killed
        }
        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 24), logger: logs.logger, wallClock: clock.read)
        #expect(onDisk(reopened, "failed") == nil, "a write reported as failed came back after a later removeAll")
        #expect(onDisk(reopened, "later") == "w")
        reopened.close()
    }

    /// "A throwing call changes nothing": an invalid memory configuration is refused
    /// before the store directory and its files are created.
    @Test func anInvalidConfigurationCreatesNoStore() throws {
        let dir = TemporaryDirectory()
        let path = dir.sub("store")
        #expect(throws: CacheError.self) {
            _ = try Cache<String, String>(configuration: .init(maxCount: 0),
                                          persistence: .lmdb(directory: path, maxBytes: 1 << 20))
        }
        #expect(!FileManager.default.fileExists(atPath: path),
                "created: \((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])")
    }
}

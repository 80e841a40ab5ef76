import Foundation
import Testing
@testable import Larder

/// The Cache with an LMDB tier: two tiers, restart order, deadlines, errors.
@Suite("Persistence: cache with a disk tier")
struct PersistenceTierTests: LoggingPersistenceSuite {
    let logs = CapturedLogs()

    @Test func tenThousandEntriesOverAHundredInMemoryAreAllReadable() throws {
        let dir = TemporaryDirectory()
        // Write-back with an explicit flush: one commit for 10,000 writes keeps this test fast;
        // after the flush every read below is served by LMDB, not by the write queue.
        let cache: Cache<Int, String> = try makeCache(dir.path, maxCount: 100, durability: .writeBack(interval: .seconds(3600)))
        for i in 0..<10_000 { try cache.setValue("v\(i)", forKey: i) }
        try cache.flushPersistence()
        #expect(cache.count == 100)
        #expect(cache.contains(9_999))
        #expect(!cache.contains(0))
        // The 100 in memory first (memory hits), then the 9,900 evicted ones (disk reads).
        for i in 9_900..<10_000 { #expect(cache.value(forKey: i) == "v\(i)") }
        #expect(try #require(cache.persistenceStatistics).diskReads == 0)
        for i in 0..<9_900 { #expect(cache.value(forKey: i) == "v\(i)") }
        let disk = try #require(cache.persistenceStatistics)
        #expect(disk.diskHits == 9_900, "reads of entries evicted from memory come from disk")
        #expect(disk.entries == 10_000)
        #expect(cache.statistics.hits == 10_000)
        // Promotion: the last entries read from disk are now in memory.
        #expect(cache.contains(9_899))
        #expect(cache.value(forKey: 9_899) == "v9899")
        #expect(try #require(cache.persistenceStatistics).diskReads == disk.diskReads, "a promoted entry is a memory hit")
    }

    @Test func groupCommitServesEvictedEntriesFromTheJournalAndAfterItsApply() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<Int, String> = try makeCache(dir.path, maxCount: 10, durability: .groupCommit)
        try runOnThreads(4) { t in
            for i in 0..<50 { try cache.setValue("v\(t * 50 + i)", forKey: t * 50 + i) }
        }
        cache.removeValue(forKey: 7)
        // Journaled, not yet applied: evicted entries are read through the writer's overlay.
        #expect(try #require(cache.persistenceStatistics).entries < 199)
        for key in 0..<200 where key != 7 { #expect(cache.value(forKey: key) == "v\(key)") }
        #expect(cache.value(forKey: 7) == nil, "a journaled delete hides the journaled put")
        #expect(try #require(cache.persistenceStatistics).diskHits == 0, "served by the overlay, not LMDB")
        // Applied: the same reads now come from LMDB.
        try cache.flushPersistence()
        #expect(try #require(cache.persistenceStatistics).entries == 199)
        for key in 0..<200 where key != 7 && !cache.contains(key) { #expect(cache.value(forKey: key) == "v\(key)") }
        #expect(try #require(cache.persistenceStatistics).diskHits > 0)
        #expect(cache.value(forKey: 7) == nil)
        cache.close()
        let reopened: Cache<Int, String> = try makeCache(dir.path, maxCount: 300, durability: .groupCommit)
        #expect(reopened.count == 199)
        #expect(reopened.value(forKey: 199) == "v199")
    }

    @Test func restartKeepsTheMostRecentEntriesInTheirLRUOrder() throws {
        let dir = TemporaryDirectory()
        var expected: [String] = []
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10)
            for i in 0..<20 { try cache.setValue("v\(i)", forKey: "k\(i)") }
            // Reads in a known order: from disk (k3, k7: promoted) and from memory (k15).
            #expect(cache.value(forKey: "k3") == "v3")
            #expect(cache.value(forKey: "k15") == "v15")
            #expect(cache.value(forKey: "k7") == "v7")
            #expect(cache.value(forKey: "k19") == "v19")
            let order = cache.keysByRecency()[0]
            #expect(order.suffix(5) == ["k17", "k18", "k3", "k15", "k7", "k19"].suffix(5))
            expected = Array(order.suffix(5))
            cache.close()
        }  // deallocation commits the batched access order and releases the directory
        let reopened: Cache<String, String> = try makeCache(dir.path, maxCount: 5)
        #expect(reopened.keysByRecency()[0] == expected)
        #expect(reopened.count == 5)
        // Everything else is still on disk.
        #expect(reopened.value(forKey: "k0") == "v0")
    }

    /// Repeated hits of one key are recorded once, but a repeat after another key's access,
    /// or after a set, still moves the key to the front of the order on disk.
    @Test func repeatedHitsKeepTheExactOrderAcrossARestart() throws {
        let dir = TemporaryDirectory()
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10)
            for i in 0..<5 { try cache.setValue("v\(i)", forKey: "k\(i)") }
            for key in ["k0", "k0", "k1", "k0", "k0"] { #expect(cache.value(forKey: key) != nil) }
            try cache.setValue("v5", forKey: "k5")
            #expect(cache.value(forKey: "k0") == "v0")  // the latest recorded hit was k0, but a set came since
            #expect(cache.value(forKey: "k0") == "v0")
            #expect(cache.keysByRecency()[0].suffix(3) == ["k1", "k5", "k0"])
            cache.close()
        }
        let reopened: Cache<String, String> = try makeCache(dir.path, maxCount: 3)
        #expect(reopened.keysByRecency()[0] == ["k1", "k5", "k0"])
    }

    @Test func closeCommitsAndReleasesTheStoreWhileTheCacheIsStillAlive() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10,
                                                         durability: .writeBack(interval: .seconds(3600)))
        try cache.setValue("v", forKey: "k")
        cache.close()
        // The first cache is still referenced, yet its directory can be opened again,
        // and the write it had only queued was committed by close().
        let reopened: Cache<String, String> = try makeCache(dir.path, maxCount: 10)
        #expect(reopened.value(forKey: "k") == "v")
        #expect(throws: CacheError.self) { try cache.setValue("w", forKey: "k2") }
        #expect(cache.value(forKey: "k") == "v", "the memory tier stays usable")
        withExtendedLifetime(cache) {}
    }

    @Test func deadlinesSurviveARestartAndExpiredEntriesAreDropped() throws {
        let dir = TemporaryDirectory()
        let clock = ManualCacheClock()
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10, clock: clock)
            try cache.setValue("short", forKey: "short", ttl: .seconds(5))
            try cache.setValue("long", forKey: "long", ttl: .seconds(100))
            try cache.setValue("forever", forKey: "forever", ttl: nil)
        }
        clock.advance(by: .seconds(10))
        // A new process: its monotonic clock has another origin; the wall clock carries on.
        let later = ManualCacheClock(monotonic: 42_000_000_000, wall: clock.wallNanoseconds())
        let reopened: Cache<String, String> = try makeCache(dir.path, maxCount: 10, clock: later)
        #expect(reopened.count == 2)
        #expect(reopened.value(forKey: "short") == nil)
        #expect(reopened.value(forKey: "long") == "long")
        later.advance(by: .seconds(89))
        #expect(reopened.value(forKey: "long") == "long")
        later.advance(by: .seconds(2))
        #expect(reopened.value(forKey: "long") == nil, "the restored deadline is the original one")
        #expect(reopened.value(forKey: "forever") == "forever")
    }

    @Test func expiredEntriesOnDiskAreNotPromoted() throws {
        let dir = TemporaryDirectory()
        let clock = ManualCacheClock()
        let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 1, clock: clock)
        try cache.setValue("a", forKey: "a", ttl: .seconds(5))
        try cache.setValue("b", forKey: "b")  // evicts "a" from memory; disk keeps it
        #expect(!cache.contains("a"))
        clock.advance(by: .seconds(6))
        #expect(cache.value(forKey: "a") == nil)
        try cache.setValue("c", forKey: "c")  // carries the purge
        #expect(try #require(cache.persistenceStatistics).expiredRemovals == 1)
    }

    @Test func removalDeletesFromBothTiersAndEvictionKeepsTheDiskCopy() throws {
        let dir = TemporaryDirectory()
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 2)
            for key in ["a", "b", "c", "d"] { try cache.setValue(key, forKey: key) }
            #expect(cache.removeValue(forKey: "d") == "d")  // in memory
            #expect(cache.value(forKey: "d") == nil)
            _ = cache.removeValue(forKey: "a")  // only on disk
            #expect(cache.value(forKey: "a") == nil)
            #expect(cache.value(forKey: "b") == "b")  // evicted from memory, still on disk
            #expect(try #require(cache.persistenceStatistics).entries == 2)
        }
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10)
            #expect(Set(cache.keysByRecency()[0]) == ["b", "c"])
            cache.removeAll()
            #expect(try #require(cache.persistenceStatistics).entries == 0)
        }
        let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10)
        #expect(cache.count == 0)
        #expect(cache.value(forKey: "b") == nil)
    }

    @Test func getOrComputeUsesTheDiskCopyInsteadOfRecomputing() throws {
        let dir = TemporaryDirectory()
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 1)
            #expect(try cache.value(forKey: "a") { "computed a" } == "computed a")
        }
        let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 1)
        try cache.setValue("b", forKey: "b")  // "a" leaves memory
        #expect(!cache.contains("a"))
        let value = try cache.value(forKey: "a") { () -> String in
            Issue.record("computed again although the disk has it")
            return "recomputed"
        }
        #expect(value == "computed a")
    }

    @Test func writeBackPendingWritesAreVisibleToReadsAndRemovals() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 1, durability: .writeBack(interval: .seconds(3600)))
        try cache.setValue("1", forKey: "a")
        try cache.setValue("2", forKey: "b")  // "a" leaves memory; it is only in the write queue
        #expect(cache.value(forKey: "a") == "1")
        _ = cache.removeValue(forKey: "a")
        try cache.setValue("3", forKey: "c")
        #expect(cache.value(forKey: "a") == nil)
        #expect(try #require(cache.persistenceStatistics).entries == 0)
        try cache.flushPersistence()
        #expect(try #require(cache.persistenceStatistics).entries == 2)
    }

    @Test func longAndCodableKeysRoundTripThroughTheDisk() throws {
        struct Point: Codable, Sendable, Hashable { var x: Int; var y: Int }
        let dir = TemporaryDirectory()
        let long = String(repeating: "k", count: 2_000)
        do {
            let cache: Cache<String, String> = try makeCache(dir.sub("a"), maxCount: 1)
            try cache.setValue("long", forKey: long)
            try cache.setValue("long2", forKey: long + "2")
            #expect(cache.value(forKey: long) == "long")
            let points: Cache<CodableBytes<Point>, CodableBytes<[String]>> = try makeCache(
                dir.sub("b"), maxCount: 1)
            try points.setValue(CodableBytes(["p1"]), forKey: CodableBytes(Point(x: 1, y: 2)))
            try points.setValue(CodableBytes(["p2"]), forKey: CodableBytes(Point(x: 3, y: 4)))
            #expect(points.value(forKey: try CodableBytes(Point(x: 1, y: 2)))?.value == ["p1"])
        }
        let cache: Cache<String, String> = try makeCache(dir.sub("a"), maxCount: 10)
        #expect(cache.value(forKey: long) == "long")
        #expect(cache.value(forKey: long + "2") == "long2")
    }

    @Test func aFullMapGrowsWithoutLosingAnEntry() throws {
        let dir = TemporaryDirectory()
        var persistence = PersistenceConfiguration.lmdb(directory: dir.path, maxBytes: 64 << 20,
                                                        durability: .writeBack(interval: .seconds(3600)))
        persistence.initialMapSize = 64 << 10  // 64 KiB: the first flush below needs ~40 times that
        let cache = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 10, sweepInterval: nil),
                                            persistence: persistence, logger: logs.logger)
        let value = [UInt8](repeating: 0xAB, count: 1_000)
        for i in 0..<2_000 { try cache.setValue(value, forKey: i) }
        try cache.flushPersistence()  // one transaction: MDB_MAP_FULL, grow, retry, until it fits
        let disk = try #require(cache.persistenceStatistics)
        #expect(disk.mapResizes > 0)
        #expect(disk.evictions == 0)
        #expect(disk.entries == 2_000)
        for i in 0..<2_000 { #expect(cache.value(forKey: i) == value) }
    }

    @Test func misuseAndUnusableStoresAreClearErrors() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<String, String> = try makeCache(dir.sub("s"), maxCount: 10, diskBytes: 4_096)
        let second = #expect(throws: CacheError.self) { let _: Cache<String, String> = try makeCache(dir.sub("s"), maxCount: 10) }
        #expect(second?.code == .storeUnavailable)
        let tooLarge = #expect(throws: CacheError.self) { try cache.setValue(String(repeating: "x", count: 5_000), forKey: "big") }
        #expect(tooLarge?.code == .valueTooLarge)
        #expect(cache.value(forKey: "big") == nil)
        let interval = #expect(throws: CacheError.self) {
            let _: Cache<String, String> = try makeCache(dir.sub("t"), maxCount: 10, durability: .writeBack(interval: .zero))
        }
        #expect(interval?.code == .invalidConfiguration)
        _ = FileManager.default.createFile(atPath: dir.sub("file"), contents: Data([1]))
        let unusable = #expect(throws: CacheError.self) { let _: Cache<String, String> = try makeCache(dir.sub("file/x"), maxCount: 10) }
        #expect(unusable?.code == .storeUnavailable)
    }

    @Test func aRecordThatNoLongerDecodesIsDroppedNotTrusted() throws {
        let dir = TemporaryDirectory()
        do {
            let cache: Cache<String, String> = try makeCache(dir.path, maxCount: 10)
            try cache.setValue("not an int", forKey: "a")
            try cache.setValue("12345678", forKey: "b")
        }
        // Same directory, another value type: "a" is 10 bytes, not a valid Int64 encoding.
        let cache: Cache<String, Int64> = try makeCache(dir.path, maxCount: 10)
        #expect(cache.count == 1)
        #expect(cache.value(forKey: "b") == Int64(littleEndian: Array("12345678".utf8).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
        #expect(try #require(cache.persistenceStatistics).damagedRecords == 1)
        #expect(logs.contains(.warning, "damaged"))
    }
}

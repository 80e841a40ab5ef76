import CLMDB
import Foundation
import Synchronization
import Testing
@testable import Larder

/// The disk tier at the edges: extreme configurations, damaged meta values, a full disk,
/// failed syncs, and what a journal replay leaves behind.
@Suite("Persistence: limits and damage")
struct PersistenceLimitsTests {
    let clock = TestWallClock()
    let logs = CapturedLogs()

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

    func makeCache<K: ByteCodable & Hashable, V: ByteCodable>(
        _ dir: String, maxCount: Int, clock: any CacheClock = ManualCacheClock(),
        durability: PersistenceConfiguration.Durability = .synchronous, diskBytes: Int = 64 << 20
    ) throws -> Cache<K, V> {
        try Cache<K, V>(configuration: .init(maxCount: maxCount, sweepInterval: nil),
                        persistence: .lmdb(directory: dir, maxBytes: diskBytes, durability: durability),
                        clock: clock, logger: logs.logger)
    }

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
}

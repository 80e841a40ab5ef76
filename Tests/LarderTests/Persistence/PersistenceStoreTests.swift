import CLMDB
import Foundation
import Logging
import Synchronization
import Testing
@testable import Larder

/// The byte-level disk store: records, recency, budget, expiry, map growth, damage.
@Suite("Persistence: disk store")
struct PersistenceStoreTests {
    let clock = TestWallClock()
    let logs = CapturedLogs()

    func open(_ dir: String, maxBytes: Int = 1 << 20, initialMap: Int? = nil, mapLimit: Int? = nil) throws -> DiskStore {
        var options = DiskStore.Options(directory: dir, maxBytes: maxBytes)
        options.initialMapSize = initialMap
        options.mapSizeLimit = mapLimit
        return try DiskStore(options: options, logger: logs.logger, wallClock: clock.read)
    }

    func putOp(_ store: DiskStore, _ key: [UInt8], _ value: [UInt8], deadline: UInt64? = nil) -> DiskStore.WriteOp {
        let record = DiskRecord.make(key: key, deadline: deadline, stamp: store.nextStamp()) { $0.append(contentsOf: value) }
        return .put(storageKey: StorageKey.make(key), record: record)
    }

    func get(_ store: DiskStore, _ key: [UInt8]) -> [UInt8]? {
        if case .found(let v, _) = store.read(storageKey: StorageKey.make(key), key: key, decode: { [UInt8]($0) }) { return v }
        return nil
    }

    /// Keys from most to least recent.
    func recencyOrder(_ store: DiskStore) throws -> [String] {
        var keys: [String] = []
        try store.forEachMostRecent { key, _, _ in
            keys.append(String(decoding: key, as: UTF8.self))
            return .accepted
        }
        return keys
    }

    @Test func xxHash64MatchesTheReferenceVectors() {
        #expect(XXHash64.hash([]) == 0xEF46_DB37_51D8_E999)
        #expect(XXHash64.hash(bytes("abc")) == 0x44BC_2CF5_AD77_0999)
        #expect(XXHash64.hash((0..<100).map { UInt8($0) }, seed: 7) == 0x8065_3E7E_9B88_7CDD)
    }

    @Test func recordsRoundTripAndRejectEveryFlippedByte() throws {
        let record = DiskRecord.make(key: bytes("key"), deadline: 42, stamp: 7) { $0.append(contentsOf: bytes("value")) }
        let view = try record.withUnsafeBytes { try DiskRecord.validate($0) }
        #expect(view.deadline == 42)
        #expect(view.stamp == 7)
        for i in record.indices {
            var damaged = record
            damaged[i] ^= 0x10
            #expect(throws: DiskRecord.Damage.self) { _ = try damaged.withUnsafeBytes { try DiskRecord.validate($0) } }
        }
        #expect(throws: DiskRecord.Damage.self) { _ = try Array(record.dropLast()).withUnsafeBytes { try DiskRecord.validate($0) } }
    }

    @Test func putReadDeleteRemoveAllAndFileModes() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        try store.apply([putOp(store, bytes("a"), bytes("1")), putOp(store, bytes("b"), bytes("2"))])
        #expect(get(store, bytes("a")) == bytes("1"))
        try store.apply([putOp(store, bytes("a"), bytes("11"))])
        #expect(get(store, bytes("a")) == bytes("11"))
        try store.apply([.delete(storageKey: StorageKey.make(bytes("b")))])
        #expect(get(store, bytes("b")) == nil)
        #expect(store.statistics.entries == 1)
        #expect(store.statistics.bytes == DiskRecord.size(keyLength: 1, valueLength: 2))
        try store.apply([.removeAll])
        #expect(get(store, bytes("a")) == nil)
        #expect(store.statistics.bytes == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.sub(JournalFile.fileName)), "created by the first group commit only")
        #expect(try store.journal([putOp(store, bytes("j"), bytes("1"))]))
        for file in ["data.mdb", "lock.mdb", "larder.lock", JournalFile.fileName] {
            #expect(fileMode(dir.sub(file)) == 0o600, "\(file)")
        }
        store.close()
    }

    @Test func keysLongerThanLMDBsLimitWork() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        let long1 = [UInt8](repeating: 0x61, count: 5_000)
        var long2 = long1
        long2[4_999] = 0x62
        try store.apply([putOp(store, long1, bytes("one")), putOp(store, long2, bytes("two"))])
        #expect(get(store, long1) == bytes("one"))
        #expect(get(store, long2) == bytes("two"))
        #expect(StorageKey.make(long1).count == 17)
        // A different key under the same storage key is a miss, never another key's value.
        #expect(store.read(storageKey: StorageKey.make(long1), key: long2, decode: { [UInt8]($0) }).isMissing)
        store.close()
        let reopened = try open(dir.path)
        #expect(get(reopened, long2) == bytes("two"))
        #expect(try recencyOrder(reopened).count == 2)
    }

    @Test func budgetEvictsLeastRecentAndTouchesCount() throws {
        let dir = TemporaryDirectory()
        let recordSize = DiskRecord.size(keyLength: 2, valueLength: 10)
        let store = try open(dir.path, maxBytes: recordSize * 5)
        for i in 0..<5 { try store.apply([putOp(store, bytes("k\(i)"), [UInt8](repeating: UInt8(i), count: 10))]) }
        #expect(try recencyOrder(store) == ["k4", "k3", "k2", "k1", "k0"])
        // Touch k0 (batched: it lands with the next write), then add k5: k1 is the least recent.
        let touched = StorageKey.make(bytes("k0"))
        let stamp = store.nextStamp()
        store.setTouchSource { [.touch(storageKey: touched, stamp: stamp)] }
        try store.apply([putOp(store, bytes("k5"), [UInt8](repeating: 5, count: 10))])
        store.setTouchSource { [] }
        #expect(try recencyOrder(store) == ["k5", "k0", "k4", "k3", "k2"])
        #expect(get(store, bytes("k1")) == nil)
        #expect(store.statistics.evictions == 1)
        #expect(store.statistics.bytes == recordSize * 5)
    }

    @Test func expiredRecordsAreNeverReturnedAndArePurged() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        let now = clock.read()
        try store.apply([putOp(store, bytes("short"), bytes("x"), deadline: now + 5_000_000_000),
                         putOp(store, bytes("long"), bytes("y"), deadline: now + 50_000_000_000),
                         putOp(store, bytes("never"), bytes("z"))])
        #expect(get(store, bytes("short")) == bytes("x"))
        clock.advance(seconds: 10)
        #expect(get(store, bytes("short")) == nil)
        #expect(try recencyOrder(store) == ["never", "long"])
        try store.apply([])  // carries the queued purge
        #expect(store.statistics.entries == 2)
        #expect(store.statistics.expiredPurged == 1)
        clock.advance(seconds: 100)
        try store.apply([])  // the incremental sweep finds "long" without a read
        #expect(store.statistics.entries == 1)
        #expect(get(store, bytes("never")) == bytes("z"))
    }

    @Test func aFullMapGrowsThenEvictsAndNeverFailsAWrite() throws {
        let dir = TemporaryDirectory()
        let value = [UInt8](repeating: 7, count: 1_000)
        // Generous budget, tiny map: growth is the only way to fit.
        let store = try open(dir.path, maxBytes: 64 << 20, initialMap: 64 << 10, mapLimit: 1 << 20)
        // Readers keep pooled read transactions busy while the map is resized under them.
        let writing = Atomic<Bool>(true)
        try runOnThreads(3) { thread in
            if thread == 0 {
                defer { writing.store(false, ordering: .releasing) }
                for batch in 0..<100 {
                    try store.apply((0..<20).map { putOp(store, bytes("k\(batch * 20 + $0)"), value) })
                }
            } else {
                while writing.load(ordering: .acquiring) {
                    if let found = get(store, bytes("k0")) { #expect(found == value) }
                }
            }
        }
        let stats = store.statistics
        #expect(stats.mapResizes > 0)
        #expect(stats.mapSize >= 1 << 20)
        #expect(stats.mapSize < 4 << 20)
        // Past the map limit, the oldest records make room; the newest are all there.
        #expect(stats.evictions > 0)
        for i in 1_980..<2_000 { #expect(get(store, bytes("k\(i)")) == value) }
        #expect(try recencyOrder(store).first == "k1999")
        store.close()
    }

    @Test func aDamagedRecordIsDroppedCountedAndLogged() throws {
        let dir = TemporaryDirectory()
        var store: DiskStore? = try open(dir.path)
        let marker = bytes("VALUE-TO-DAMAGE-0123456789")
        try store!.apply([putOp(store!, bytes("victim"), marker), putOp(store!, bytes("other"), bytes("intact"))])
        store!.close()
        store = nil
        // Flip a byte of the victim's value inside data.mdb.
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.sub("data.mdb"))))
        let at = try #require(data.firstRange(of: marker)?.lowerBound)
        data[at + 3] ^= 0xFF
        try Data(data).write(to: URL(fileURLWithPath: dir.sub("data.mdb")))
        let reopened = try open(dir.path)
        #expect(get(reopened, bytes("victim")) == nil)
        #expect(get(reopened, bytes("other")) == bytes("intact"))
        #expect(reopened.statistics.damagedRecords == 1)
        #expect(logs.contains(.warning, "damaged record"))
        try reopened.apply([])  // the queued drop
        #expect(reopened.statistics.entries == 1)
    }

    @Test func aTruncatedDataFileIsAClearErrorAndIsLeftAlone() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        for i in 0..<200 { try store.apply([putOp(store, bytes("k\(i)"), [UInt8](repeating: 1, count: 500))]) }
        store.close()
        let path = dir.sub("data.mdb")
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size / 2)) == 0)
        let error = #expect(throws: CacheError.self) { _ = try open(dir.path) }
        #expect(error?.code == .storeDamaged)
        #expect(error?.message.contains("truncated") == true)
        // Nothing was deleted or rewritten.
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == size / 2)
        // The directory is not left locked by the failed open.
        #expect(truncate(path, 0) == 0)
    }

    /// Free pages at the end of the file (LMDB's free list, read directly).
    func freeTailPages(_ dir: String) throws -> (pages: Int, freeTail: Int, pageSize: Int) {
        let env = try LMDBEnvironment(maxDatabases: 4, mapSize: 1 << 24)
        defer { env.close() }
        try env.open(directory: dir, flags: UInt32(MDB_RDONLY), mode: 0o600)
        let pages = try env.info().me_last_pgno + 1
        let pageSize = Int(try env.stat().ms_psize)
        var free = Set<Int>()
        let txn = try env.begin(readOnly: true)
        defer { txn.abort() }
        let cursor = try txn.cursor(LMDBDatabase(dbi: 0))
        defer { cursor.close() }
        var item = try cursor.get(MDB_FIRST)
        while let (_, ids) = item {
            let count = ids.loadUnaligned(as: Int.self)
            for i in 0..<count { free.insert(ids.loadUnaligned(fromByteOffset: (i + 1) * 8, as: Int.self)) }
            item = try cursor.get(MDB_NEXT)
        }
        var tail = 0
        while free.contains(pages - 1 - tail) { tail += 1 }
        return (pages, tail, pageSize)
    }

    @Test func aFileEndingBeforeItsFreeTailPagesOpensButACutIntoUsedPagesIsRefused() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        for batch in 0..<10 {
            try store.apply((0..<20).map { putOp(store, bytes("k\(batch)-\($0)"), [UInt8](repeating: 1, count: 500)) })
        }
        try store.apply([.removeAll])
        try store.apply([putOp(store, bytes("kept"), bytes("value"))])
        store.close()
        let (pages, freeTail, pageSize) = try freeTailPages(dir.path)
        try #require(freeTail >= 1, "the removal left free pages at the end of the file")
        let path = dir.sub("data.mdb")
        // One page too many: a page in use is gone. Refused, and the file is left as it was.
        let cut = (pages - freeTail - 1) * pageSize
        #expect(truncate(path, off_t(cut)) == 0)
        let error = #expect(throws: CacheError.self) { _ = try open(dir.path) }
        #expect(error?.code == .storeDamaged)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == cut)
        // Only free pages missing (what a transaction's unwritten tail pages look like): opens.
        let dir2 = TemporaryDirectory()
        let store2 = try open(dir2.path)
        for batch in 0..<10 {
            try store2.apply((0..<20).map { putOp(store2, bytes("k\(batch)-\($0)"), [UInt8](repeating: 1, count: 500)) })
        }
        try store2.apply([.removeAll])
        try store2.apply([putOp(store2, bytes("kept"), bytes("value"))])
        store2.close()
        let tail2 = try freeTailPages(dir2.path)
        try #require(tail2.freeTail >= 1)
        #expect(truncate(dir2.sub("data.mdb"), off_t((tail2.pages - tail2.freeTail) * tail2.pageSize)) == 0)
        let reopened = try open(dir2.path)
        #expect(get(reopened, bytes("kept")) == bytes("value"))
        try reopened.apply([putOp(reopened, bytes("more"), [UInt8](repeating: 2, count: 3_000))])
        #expect(get(reopened, bytes("more")) == [UInt8](repeating: 2, count: 3_000))
        #expect(logs.contains(.notice, "extended"))
    }

    @Test func aDataFileCutInsideItsFirstPagesIsAClearError() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        try store.apply([putOp(store, bytes("a"), bytes("1"))])
        store.close()
        #expect(truncate(dir.sub("data.mdb"), 100) == 0)
        let error = #expect(throws: CacheError.self) { _ = try open(dir.path) }
        #expect(error?.code == .storeDamaged)
    }

    /// A new directory has nothing to recover: its first open logs no rebuild.
    @Test func aNewStoreOpensWithoutARebuild() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        #expect(store.statistics.bytes == 0)
        #expect(!logs.messages.withLock { $0.contains { $0.1.contains("rebuilt") } })
        store.close()
    }

    @Test func aLostRecencyIndexIsRebuiltFromTheRecords() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        for key in ["a", "b", "c"] { try store.apply([putOp(store, bytes(key), bytes(key))]) }
        store.close()
        // Empty the recency index behind the store's back, with LMDB directly.
        let env = try LMDBEnvironment(maxDatabases: 4, mapSize: 1 << 20)
        try env.open(directory: dir.path, flags: 0, mode: 0o600)
        let txn = try env.begin(readOnly: false)
        try txn.empty(try txn.openDatabase("recency", create: false))
        try txn.commit()
        env.close()
        let reopened = try open(dir.path)
        #expect(try recencyOrder(reopened) == ["c", "b", "a"])
        #expect(reopened.statistics.bytes == 3 * DiskRecord.size(keyLength: 1, valueLength: 1))
        #expect(logs.contains(.notice, "rebuilt"))
    }

    /// A put or delete writes its record only; the index follows in a batch. A process that
    /// dies before that batch leaves the store marked open, and the next open rebuilds the
    /// index and the byte count from the records: same order, same bytes, nothing lost.
    @Test func anUncleanCloseRebuildsTheIndexAndByteCountFromTheRecords() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        for i in 0..<8 { try store.apply([putOp(store, bytes("k\(i)"), bytes("v\(i)"))]) }
        try store.apply([.delete(storageKey: StorageKey.make(bytes("k3")))])
        try store.apply([putOp(store, bytes("k5"), bytes("five"))])  // overwrite: newest now
        try store.apply([.touch(storageKey: StorageKey.make(bytes("k1")), stamp: store.nextStamp())])
        #expect(try store.indexEntriesOnDisk() == 1, "puts and deletes left the index to a later batch (only the touch wrote it)")
        let expectedBytes = store.statistics.bytes
        #expect(expectedBytes == 6 * DiskRecord.size(keyLength: 2, valueLength: 2) + DiskRecord.size(keyLength: 2, valueLength: 4))
        store.abandonForTesting()

        let reopened = try open(dir.path)
        #expect(logs.contains(.notice, "rebuilt"))
        #expect(try recencyOrder(reopened) == ["k1", "k5", "k7", "k6", "k4", "k2", "k0"])
        #expect(reopened.statistics.bytes == expectedBytes)
        #expect(get(reopened, bytes("k3")) == nil)
        #expect(get(reopened, bytes("k5")) == bytes("five"))
        reopened.close()

        // A clean close writes everything: the next open trusts the index and count.
        let logsBefore = logs.messages.withLock { $0.count }
        let again = try open(dir.path)
        #expect(!logs.messages.withLock { $0[logsBefore...].contains { $0.1.contains("rebuilt") } })
        #expect(try again.indexEntriesOnDisk() == 7)
        #expect(again.statistics.bytes == expectedBytes)
        #expect(try recencyOrder(again) == ["k1", "k5", "k7", "k6", "k4", "k2", "k0"])
    }

    /// Eviction reads the index, so pending index changes are written first: the budget holds
    /// and the least recent go first, also when the index was behind.
    @Test func theBudgetHoldsWhileIndexChangesArePending() throws {
        let dir = TemporaryDirectory()
        let recordSize = DiskRecord.size(keyLength: 2, valueLength: 10)
        let store = try open(dir.path, maxBytes: recordSize * 4)
        for i in 0..<4 { try store.apply([putOp(store, bytes("k\(i)"), [UInt8](repeating: 1, count: 10))]) }
        try store.apply([.touch(storageKey: StorageKey.make(bytes("k0")), stamp: store.nextStamp())])
        try store.apply([putOp(store, bytes("k4"), [UInt8](repeating: 1, count: 10))])
        try store.apply([putOp(store, bytes("k5"), [UInt8](repeating: 1, count: 10))])
        #expect(store.statistics.bytes == recordSize * 4)
        #expect(get(store, bytes("k1")) == nil)
        #expect(get(store, bytes("k2")) == nil)
        #expect(try recencyOrder(store) == ["k5", "k4", "k0", "k3"])
        store.abandonForTesting()
        // After a crash the recount still knows the store is at its budget.
        let reopened = try open(dir.path, maxBytes: recordSize * 4)
        #expect(reopened.statistics.bytes == recordSize * 4)
        try reopened.apply([putOp(reopened, bytes("k6"), [UInt8](repeating: 1, count: 10))])
        #expect(reopened.statistics.bytes == recordSize * 4)
        #expect(try recencyOrder(reopened) == ["k6", "k5", "k4", "k0"])
    }

    /// Enough pending index changes ride along in an ordinary write.
    @Test func theIndexIsWrittenEveryIndexBatchChanges() throws {
        let dir = TemporaryDirectory()
        var options = DiskStore.Options(directory: dir.path, maxBytes: 1 << 20)
        options.indexBatch = 4
        let store = try DiskStore(options: options, logger: logs.logger, wallClock: clock.read)
        for i in 0..<3 { try store.apply([putOp(store, bytes("k\(i)"), bytes("v"))]) }
        #expect(try store.indexEntriesOnDisk() == 0)
        try store.apply([putOp(store, bytes("k3"), bytes("v"))])
        #expect(try store.indexEntriesOnDisk() == 4)
    }

    /// Version 1 stores (index written with every record) open and are upgraded in place;
    /// an unknown version is refused with what to do, and nothing is changed.
    @Test func formatVersionOneIsUpgradedAndUnknownVersionsAreRefused() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        try store.apply([putOp(store, bytes("a"), bytes("1")), putOp(store, bytes("b"), bytes("2"))])
        store.close()
        func setFormat(_ version: UInt64) throws -> UInt64? {
            let env = try LMDBEnvironment(maxDatabases: 4, mapSize: 1 << 20)
            try env.open(directory: dir.path, flags: 0, mode: 0o600)
            defer { env.close() }
            let txn = try env.begin(readOnly: false)
            let meta = try txn.openDatabase("meta", create: false)
            let key = bytes("format")
            let old = try key.withUnsafeBytes { k in try txn.get(meta, k).map { $0.loadUnaligned(as: UInt64.self) } }
            var le = version.littleEndian
            try key.withUnsafeBytes { k in try withUnsafeBytes(of: &le) { try txn.put(meta, k, $0) } }
            try txn.commit()
            return old
        }
        #expect(try setFormat(1) == 2)
        let upgraded = try open(dir.path)
        #expect(logs.contains(.notice, "upgraded"))
        #expect(try recencyOrder(upgraded) == ["b", "a"])
        upgraded.close()
        #expect(try setFormat(3) == 2, "the upgrade was recorded")
        let error = #expect(throws: CacheError.self) { _ = try open(dir.path) }
        #expect(error?.code == .storeUnavailable)
        #expect(error?.message.contains("format version 3") == true)
        #expect(try setFormat(2) == 3)
        let intact = try open(dir.path)
        #expect(get(intact, bytes("a")) == bytes("1"))
    }

    /// Reading the access-stamp source once per commit must cost the same on the millionth
    /// commit as on the first (a closure kept in a Mutex used to gain thunks on every read).
    /// 300,000 drains on a small stack each call the installed source once, and what that
    /// same source supplies after them still lands in the next write.
    @Test func drainingAccessStampsDoesNotDeepenTheCallChain() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        try store.apply([putOp(store, bytes("a"), bytes("1")), putOp(store, bytes("b"), bytes("2"))])
        #expect(try recencyOrder(store) == ["b", "a"])
        let drains = 300_000
        let calls = Counter()
        let touched = StorageKey.make(bytes("a"))
        let stamp = store.nextStamp()
        store.setTouchSource {
            calls.add()
            return calls.count > drains ? [.touch(storageKey: touched, stamp: stamp)] : []
        }
        let supplied = Counter()
        // A chain of 600,000 thunks would overflow this stack.
        runOnThreads(1, stackSize: 256 << 10) { _ in
            for _ in 0..<drains { supplied.add(store.drainTouches().count) }
        }
        #expect(calls.count == drains, "each drain calls the installed source once")
        #expect(supplied.count == 0)
        // The next write drains the same source once more and applies its stamp: "a" is
        // now more recent than "b" (and "c", stamped after it, more recent still).
        try store.apply([putOp(store, bytes("c"), bytes("3"))])
        #expect(calls.count == drains + 1)
        #expect(try recencyOrder(store) == ["c", "a", "b"])
        store.close()
    }

    @Test func aGarbageDataFileIsAClearError() throws {
        let dir = TemporaryDirectory()
        var garbage = [UInt8](repeating: 0, count: 64 << 10)
        var rng = SystemRandomNumberGenerator()
        for i in garbage.indices { garbage[i] = rng.next() }
        try Data(garbage).write(to: URL(fileURLWithPath: dir.sub("data.mdb")))
        let error = #expect(throws: CacheError.self) { _ = try open(dir.path) }
        #expect(error?.code == .storeDamaged)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.sub("data.mdb"))) == Data(garbage))
    }

    @Test func anUnusableDirectoryIsAClearError() throws {
        let dir = TemporaryDirectory()
        // Tests run as root, so permission bits do not stop us: use a path under a regular file.
        _ = FileManager.default.createFile(atPath: dir.sub("file"), contents: Data([1]))
        let error = #expect(throws: CacheError.self) { _ = try open(dir.sub("file/store")) }
        #expect(error?.code == .storeUnavailable)
        let notDir = #expect(throws: CacheError.self) { _ = try open(dir.sub("file")) }
        #expect(notDir?.code == .storeUnavailable)
    }

    @Test func aSecondOpenOfTheSameDirectoryIsAClearErrorUntilClose() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.sub("s"))
        #expect(fileMode(dir.sub("s")) == 0o700, "a directory the store creates is private")
        let error = #expect(throws: CacheError.self) { _ = try open(dir.sub("s")) }
        #expect(error?.code == .storeUnavailable)
        #expect(error?.message.contains("already open") == true)
        // Same directory through another spelling of the path.
        #expect(throws: CacheError.self) { _ = try open(dir.path + "/./s/") }
        store.close()
        let again = try open(dir.sub("s"))
        again.close()
    }

    @Test func writesAfterCloseThrowClosedAndReadsMiss() throws {
        let dir = TemporaryDirectory()
        let store = try open(dir.path)
        try store.apply([putOp(store, bytes("a"), bytes("1"))])
        store.close()
        #expect(get(store, bytes("a")) == nil)
        #expect(throws: CacheError.self) { try store.forEachMostRecent { _, _, _ in .accepted } }
        let error = #expect(throws: CacheError.self) { try store.apply([.noop]) }
        #expect(error?.code == .closed)
    }
}

extension DiskStore.ReadResult {
    var isMissing: Bool { if case .missing = self { true } else { false } }
}

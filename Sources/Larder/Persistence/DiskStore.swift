#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLMDB
import Logging
import Synchronization

/// The byte-level durable store: validated records in LMDB, a recency index for
/// least-recent eviction and restart order, a byte budget, and map growth.
///
/// Layout of the environment (directory `<dir>`: `data.mdb`, `lock.mdb`, both 0600,
/// and `larder.lock` for exclusive ownership):
/// - `entries`: storage key (see `StorageKey`) → record (see `DiskRecord`).
/// - `recency`: big-endian access stamp ++ storage key → empty. Ascending order is
///   least recent first; it drives budget eviction and, read backwards, restore.
/// - `meta`: `format` → u32 format version, `bytes` → u64 sum of record sizes (as of the
///   last index flush), `open` → 1 while a process has the store open, 0 after a clean close.
/// - `meta` also holds `journal` → u64, the generation of `larder.journal` (see `JournalFile`)
///   whose frames are not yet applied to `entries` (group commit's fast path, `journal(_:)`).
///
/// Every write goes through `apply(_:)`: one write transaction, committed with LMDB's
/// default flags (data and meta pages fsynced before `mdb_txn_commit` returns), so a
/// crash keeps either all of a batch or none of it. Work that reads discover (access
/// stamps, expired or damaged records to drop) is queued and rides along in the next
/// write transaction instead of costing one of its own.
///
/// The records are the truth; the recency index and the byte count are derived from them
/// and written lazily. A put or delete changes only `entries` (one B-tree: about the pages
/// a bare LMDB put dirties); its index change waits in memory and is written with the next
/// access-stamp batch, when `indexBatch` changes have gathered, before any eviction, and at
/// close. A crash can lose those pending index changes but no record: the `open` flag is
/// still 1 at the next open, which then rebuilds the index and recounts the bytes from the
/// records (each record carries its access stamp, so the recorded order is restored exactly).
final class DiskStore: @unchecked Sendable {
    struct Options: Sendable {
        var directory: String
        /// Budget for the sum of record sizes (48-byte header + key + value).
        var maxBytes: Int
        /// First map size; default `2 * maxBytes + 1 MiB`, at most `initialMapCap` and the limit.
        var initialMapSize: Int? = nil
        /// Past this map size a full map evicts least-recent records instead of growing
        /// (it still grows when eviction alone cannot make room). Default `max(8 * maxBytes, 64 MiB)`,
        /// at most `mappableBytes`.
        var mapSizeLimit: Int? = nil
        /// Records examined for expiry by each write transaction (an incremental sweep).
        var expiryScanPerWrite: Int = 32
        /// Pending recency-index changes that make a write transaction write them (with the
        /// byte count). Larger batches cost fewer pages per commit, and memory until written.
        var indexBatch: Int = 1024
    }

    enum WriteOp: Sendable {
        case put(storageKey: [UInt8], record: [UInt8])
        case delete(storageKey: [UInt8])
        /// Raises a record's access stamp (never lowers it).
        case touch(storageKey: [UInt8], stamp: UInt64)
        /// Drops a record that failed validation, or is expired (checked again at apply time).
        case purge(storageKey: [UInt8])
        /// Drops a recency-index key whose record is gone or newer.
        case dropRecency(recencyKey: [UInt8])
        case removeAll
        /// Nothing: a transaction that only carries queued maintenance.
        case noop
    }

    struct Statistics: Sendable, Equatable {
        var entries = 0
        var bytes = 0
        var diskReads = 0
        var diskHits = 0
        var damagedRecords = 0
        var evictions = 0
        var expiredPurged = 0
        var mapResizes = 0
        var commits = 0
        var mapSize = 0
    }

    let options: Options
    /// The map size past which a full map evicts (see `Options.mapSizeLimit`).
    let mapLimit: Int
    let logger: Logger
    private let wallClock: @Sendable () -> UInt64
    private let lock: StoreDirectoryLock
    private let env: LMDBEnvironment
    private let entries: LMDBDatabase
    private let recency: LMDBDatabase
    private let meta: LMDBDatabase
    private let gate = ReadWriteGate()

    /// Serializes write transactions in this process and guards the writer's state.
    private let writer = Locked<WriterState>(WriterState())
    private struct WriterState {
        var bytes = 0
        var mapSize = 0
        var expiryScanFrom: [UInt8]? = nil
        var closed = false
        /// Lowered budget after the map reached its limit (in memory: a reopen starts afresh).
        var budgetCap: Int? = nil
        /// Committed records whose recency-index change is not written yet.
        var index = IndexChanges()
        /// The journal's generation in force, and where and with which sequence number
        /// its next frame goes.
        var journalGeneration: UInt64 = 0
        /// Opened (and created if need be) by the first append; an existing one at open.
        var journalFile: JournalFile? = nil
        var journalOffset = 0
        var journalSequence: UInt64 = 0
        /// The journal file could not be created: `journal(_:)` declines every round.
        var journalUnavailable = false
        /// An append failed after (possibly) writing its frame: the file may hold a frame of
        /// the current generation that no writer was told succeeded, and that replay would
        /// apply. The next successful append overwrites it; until then, an apply bumps the
        /// generation when no acknowledged frame would go stale with it (offset 0).
        var journalUnacknowledged = false
    }

    /// Recency-index changes owed by committed records: keys to add (written only if the
    /// record still has that stamp) and stale keys to delete.
    private struct IndexChanges {
        var add: [[UInt8]] = []
        var drop: [[UInt8]] = []
        /// A removeAll emptied the index: earlier changes are moot.
        var cleared = false
        var count: Int { add.count + drop.count }
        var isEmpty: Bool { add.isEmpty && drop.isEmpty }
    }

    private let queued = Locked<[WriteOp]>([])
    /// Tests: a journal append writes its frame, then fails as if `fdatasync` had.
    let journalSyncFailsForTesting = Atomic<Bool>(false)
    private let stampCounter: Atomic<UInt64>
    private let counters = Locked<Statistics>(Statistics())
    /// Supplies batched access stamps (the generic tier's touch log) to each write transaction.
    ///
    /// Held in a class box: reading a closure out of a `Mutex` with `withLock { $0 }` goes
    /// through `inout`, and the compiler re-abstracts the closure on the way out and on the
    /// write-back, wrapping it in two more thunks on every call (a chain that grew with every
    /// commit: O(commits) per call, and eventually a stack overflow). A reference does not.
    private let touchSource = Locked<TouchSourceBox?>(nil)

    private final class TouchSourceBox: Sendable {
        let drain: @Sendable () -> [WriteOp]
        init(_ drain: @escaping @Sendable () -> [WriteOp]) { self.drain = drain }
    }

    func drainTouches() -> [WriteOp] {
        touchSource.withLock { $0 }?.drain() ?? []
    }

    /// Store layout version. 2: index and byte count written lazily, `open` flag. Version 1
    /// stores (index and count exact after every commit) are upgraded in place on open.
    static let formatVersion: UInt32 = 2

    /// Opens (creating when missing) the store in `options.directory`.
    ///
    /// - Throws: `.invalidConfiguration` for a non-positive budget; `.storeUnavailable` when the
    ///   directory cannot be used or is open elsewhere; `.storeDamaged` when the files are not
    ///   a readable Larder store (nothing is modified or deleted in that case).
    init(options: Options, logger: Logger, wallClock: @escaping @Sendable () -> UInt64) throws(CacheError) {
        guard options.maxBytes > 0 else {
            throw CacheError(code: .invalidConfiguration,
                             message: "persistence maxBytes must be positive, got \(options.maxBytes)")
        }
        self.options = options
        // Saturating: maxBytes = Int.max ("no limit") must not wrap to a small map limit,
        // which would evict far below the budget. The map is address space, not memory:
        // clamped to what a process can reserve.
        let derivedLimit = max(options.maxBytes.multipliedReportingOverflow(by: 8).overflow ? .max : options.maxBytes * 8, 64 << 20)
        mapLimit = min(options.mapSizeLimit ?? derivedLimit, Self.mappableBytes)
        self.logger = logger
        self.wallClock = wallClock
        let lock = try StoreDirectoryLock(directory: options.directory)
        self.lock = lock
        let directory = lock.path
        do {
            try Self.checkDataFile(directory: directory)
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            // A huge budget starts with a small map and grows it (doubling) as records arrive.
            let derivedInitial = options.maxBytes > Self.initialMapCap / 2 ? Self.initialMapCap : options.maxBytes * 2 + (1 << 20)
            let initial = Self.roundUp(options.initialMapSize ?? min(derivedInitial, mapLimit), to: page)
            let env = try LMDBEnvironment(maxDatabases: 4, mapSize: initial)
            do {
                // MDB_NOTLS: read transactions are not tied to threads (callers may be on any thread).
                // No MDB_NOSYNC / MDB_WRITEMAP: every commit is fully synced and pages are written by
                // write(2), so a stray pointer cannot scribble on the map.
                do {
                    try env.open(directory: directory, flags: UInt32(MDB_NOTLS | MDB_NORDAHEAD), mode: 0o600)
                } catch {
                    guard error.code == ENOMEM else { throw error }
                    throw CacheError(code: .storeUnavailable,
                                     message: "cannot map the store in \(directory): \(initial) bytes of address space are not available (persistence maxBytes \(options.maxBytes)); lower maxBytes, or raise the process's address-space limit (ulimit -v)")
                }
                try env.clearStaleReaders()
                try Self.checkTruncation(env: env, directory: directory, logger: logger)
            } catch {
                env.close()
                throw error
            }
            self.env = env
            let existingJournal: JournalFile?
            do {
                existingJournal = try JournalFile(existingIn: directory)
            } catch {
                env.close()
                throw error
            }
            let txn = try env.begin(readOnly: false)
            var committed = false
            defer { if !committed { txn.abort() } }
            entries = try txn.openDatabase("entries", create: true)
            recency = try txn.openDatabase("recency", create: true)
            meta = try txn.openDatabase("meta", create: true)
            let entryCount = try txn.stat(entries).ms_entries
            if let format = try Self.metaValue(txn, meta, "format") {
                if format == 1 {
                    // Version 1 kept the index and the count exact in every commit: valid as version 2.
                    try Self.setMeta(txn, meta, "format", UInt64(Self.formatVersion))
                    logger.notice("upgraded the store to format version \(Self.formatVersion)", metadata: ["directory": "\(directory)"])
                } else if UInt32(truncatingIfNeeded: format) != Self.formatVersion {
                    throw CacheError(code: .storeUnavailable,
                                     message: "the store in \(directory) has format version \(format); this Larder reads versions 1 and \(Self.formatVersion); use another directory or a matching Larder version")
                }
            } else if entryCount > 0 {
                throw CacheError(code: .storeDamaged,
                                 message: "the store in \(directory) has entries but no format marker; it was not written by Larder, or is damaged; move the directory aside or use another one")
            } else {
                try Self.setMeta(txn, meta, "format", UInt64(Self.formatVersion))
                // A new store: its byte count is known (zero), not lost, so the
                // open below does not log a recovery that never happened.
                try Self.setMeta(txn, meta, "bytes", 0)
            }
            var bytes = try Self.metaValue(txn, meta, "bytes").flatMap { Int(exactly: $0) }
            // The count cannot exceed the data file: a larger one is damage, not a budget
            // overrun (trusted, it would make the next write evict every record). Rebuilt below.
            var dataFile = stat()
            if let b = bytes, stat(directory + "/data.mdb", &dataFile) == 0, b > Int(dataFile.st_size) { bytes = nil }
            let recencyCount = try txn.stat(recency).ms_entries
            // Still marked open: the last process did not close it (killed, crashed, power loss),
            // so index changes and the count it held in memory may be missing.
            let unclean = try Self.metaValue(txn, meta, "open") == 1
            if unclean || bytes == nil || entryCount != recencyCount {
                // Documented recovery: rebuild the recency index and byte count from the records.
                bytes = try Self.rebuildIndex(txn, entries: entries, recency: recency, logger: logger,
                                              reason: unclean ? "the store was not closed cleanly" : "the index does not match the records")
                try Self.setMeta(txn, meta, "bytes", UInt64(bytes!))
            }
            // Committed (synced) before any write relies on it: from here, until a clean close,
            // the on-disk index may lag the records.
            try Self.setMeta(txn, meta, "open", 1)
            // The logical clock continues after the highest stamp on disk.
            let cursor = try txn.cursor(recency)
            let last = try cursor.get(MDB_LAST)
            cursor.close()
            let highest = last.map { Self.stamp(ofRecencyKey: $0.key) } ?? 0
            stampCounter = Atomic(highest + 1)
            let generation = try Self.metaValue(txn, meta, "journal") ?? 0
            try txn.commit()
            committed = true
            let info = try env.info()
            writer.withLock {
                $0.bytes = bytes!
                $0.mapSize = info.me_mapsize
                $0.journalGeneration = generation
                $0.journalFile = existingJournal
            }
            counters.withLock {
                $0.bytes = bytes!
                $0.mapSize = info.me_mapsize
            }
        } catch let error as CacheError {
            lock.release()
            throw error
        } catch let error as LMDBError {
            lock.release()
            throw Self.openError(error, directory: directory)
        } catch {
            lock.release()
            throw CacheError(code: .storeUnavailable, message: "cannot open the store in \(directory): \(error)")
        }
        do {
            try replayJournal()
        } catch {
            abandon()  // writes nothing more; the journal stays for the next open
            throw error
        }
    }

    /// Applies what a process left in the journal (killed between a group commit and the
    /// bulk apply that follows it), in order, and empties the journal with the last of its
    /// transactions (one, unless the records pass the budget: see `applyLocked`).
    /// A record that does not decode is dropped, counted and logged.
    private func replayJournal() throws(CacheError) {
        let (generation, file) = writer.withLock { ($0.journalGeneration, $0.journalFile) }
        guard let file else { return }
        var ops: [WriteOp] = []
        var damaged = 0
        let payloads = try file.payloads(generation: generation)
        guard !payloads.isEmpty else { return }
        for payload in payloads {
            payload.withUnsafeBytes { damaged += Self.journalOps($0, into: &ops) }
        }
        if damaged > 0 {
            counters.withLock { $0.damagedRecords += damaged }
            logger.warning("dropped damaged journal records", metadata: ["count": "\(damaged)", "directory": "\(lock.path)"])
        }
        // The replayed records carry stamps the recency index never saw (the clock started
        // after the index's highest): continue after them, or new writes rank as older.
        var highest: UInt64 = 0
        for op in ops {
            if case .put(_, let record) = op, let header = try? record.withUnsafeBytes({ try DiskRecord.header($0) }) {
                highest = max(highest, header.stamp)
            }
        }
        if highest >= stampCounter.load(ordering: .relaxed) { stampCounter.store(highest + 1, ordering: .relaxed) }
        logger.notice("applying journaled writes left by the last process", metadata: ["count": "\(ops.count)"])
        try writer.withLock { (state: inout WriterState) throws(CacheError) in
            try applyLocked(ops: ops, extra: [], state: &state, flushIndex: true, clearingJournal: true)
        }
    }

    // MARK: Journal

    private static let journalPut: UInt8 = 1
    private static let journalDelete: UInt8 = 2

    /// A journal record: one round's puts and deletes, each as kind, storage key length
    /// (u32 LE), storage key, record length (u32 LE) and record (empty for a delete). nil
    /// when no op of `ops` is journaled. One record per round: one B-tree insert (its bytes
    /// in an overflow page) where a record per op would split a leaf every round or two.
    static func journalValue(_ ops: [WriteOp]) -> [UInt8]? {
        var out = [UInt8]()
        for op in ops {
            let kind: UInt8, storageKey: [UInt8], record: [UInt8]
            switch op {
            case .put(let key, let bytes): (kind, storageKey, record) = (journalPut, key, bytes)
            case .delete(let key): (kind, storageKey, record) = (journalDelete, key, [])
            default: continue
            }
            out.append(kind)
            withUnsafeBytes(of: UInt32(storageKey.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: storageKey)
            withUnsafeBytes(of: UInt32(record.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: record)
        }
        return out.isEmpty ? nil : out
    }

    /// Decodes a journal record into `ops`; returns how many of its entries were damaged
    /// (a put's record must validate and belong to its storage key; a broken frame makes
    /// the rest of the record one damaged entry).
    static func journalOps(_ bytes: UnsafeRawBufferPointer, into ops: inout [WriteOp]) -> Int {
        var damaged = 0
        var at = 0
        func length(at offset: Int) -> Int? {
            guard bytes.count - offset >= 4 else { return nil }
            return Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        while at < bytes.count {
            let kind = bytes[at]
            guard kind == journalPut || kind == journalDelete,
                  let keyLength = length(at: at + 1), keyLength > 0, bytes.count - (at + 5) >= keyLength,
                  let recordLength = length(at: at + 5 + keyLength),
                  bytes.count - (at + 9 + keyLength) >= recordLength else { return damaged + 1 }
            let storageKey = [UInt8](bytes[(at + 5)..<(at + 5 + keyLength)])
            let record = UnsafeRawBufferPointer(rebasing: bytes[(at + 9 + keyLength)..<(at + 9 + keyLength + recordLength)])
            at += 9 + keyLength + recordLength
            if kind == journalDelete {
                if record.isEmpty { ops.append(.delete(storageKey: storageKey)) } else { damaged += 1 }
            } else if let view = try? DiskRecord.validate(record), StorageKey.make([UInt8](view.key)) == storageKey {
                ops.append(.put(storageKey: storageKey, record: [UInt8](record)))
            } else {
                damaged += 1
            }
        }
        return damaged
    }

    /// Group commit's fast path: appends the batch's puts and deletes to the journal file
    /// as one frame and syncs it (one write and one flush, where an LMDB commit is two
    /// flushes and rewrites a leaf page per key). The caller keeps the journaled writes
    /// readable (DiskWriter's overlay) until an `apply(_:clearingJournal:)` moves them into
    /// `entries`; a crash before that leaves them for the next open to apply. Other ops are
    /// ignored here (the caller applies them).
    ///
    /// - Returns: false, writing nothing, when the frame does not fit in what is left of
    ///   the journal, or the journal file cannot be created: apply the journal (with these
    ///   ops) instead.
    func journal(_ ops: [WriteOp]) throws(CacheError) -> Bool {
        try writer.withLock { (state: inout WriterState) throws(CacheError) -> Bool in
            guard !state.closed else {
                throw CacheError(code: .closed, message: "the disk store in \(lock.path) is closed")
            }
            guard let payload = Self.journalValue(ops) else { return true }
            guard state.journalOffset + JournalFile.frameSize(payload: payload.count) <= JournalFile.capacity else { return false }
            if state.journalFile?.isFullSize != true {
                // Creating it failed before (a full disk): each round goes to LMDB instead.
                guard !state.journalUnavailable else { return false }
                // All of an existing file's frames were applied at open: replace it freely.
                do {
                    state.journalFile = try JournalFile(creatingIn: lock.path)
                } catch {
                    // A synced LMDB commit per round is as durable, only slower: better than
                    // failing every write, and than writing 8 MiB again for every round.
                    state.journalUnavailable = true
                    logger.warning("cannot create the group-commit journal; committing each round to LMDB directly until the store is reopened",
                                   metadata: ["error": "\(error)"])
                    return false
                }
            }
            let frame = JournalFile.frame(generation: state.journalGeneration, sequence: state.journalSequence, payload: payload)
            state.journalUnacknowledged = true
            try state.journalFile!.append(frame, at: state.journalOffset)
            if journalSyncFailsForTesting.load(ordering: .relaxed) {
                throw CacheError(code: .storeUnavailable, message: "test: the journal's sync failed after its write")
            }
            state.journalUnacknowledged = false
            state.journalOffset += frame.count
            state.journalSequence += 1
            counters.withLock { $0.commits += 1 }
            return true
        }
    }

    private static func openError(_ error: LMDBError, directory: String) -> CacheError {
        switch error.code {
        case MDB_INVALID, MDB_CORRUPTED, MDB_VERSION_MISMATCH, MDB_PAGE_NOTFOUND, MDB_PANIC:
            CacheError(code: .storeDamaged,
                       message: "the store in \(directory) is damaged or not an LMDB store (\(error)); move the directory aside (or delete it) to start empty, or open another directory")
        default:
            CacheError(code: .storeUnavailable,
                       message: "cannot open the store in \(directory) (\(error)); check that the directory is writable and the disk has space")
        }
    }

    /// Rejects a data file that LMDB would misread: non-regular, or not page-aligned garbage.
    private static func checkDataFile(directory: String) throws(CacheError) {
        var st = stat()
        let path = directory + "/data.mdb"
        guard stat(path, &st) == 0 else { return }  // fresh store
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CacheError(code: .storeDamaged, message: "\(path) is not a regular file; move it aside")
        }
    }

    /// A data file shorter than the pages its meta page counts.
    ///
    /// An intact store can legitimately end early: pages a transaction allocated at the end
    /// of the file and freed again before committing are counted but never written (seen
    /// after SIGKILL in the write-back crash test). Such pages are on LMDB's free list. So a
    /// short file is first extended with zeros (`ftruncate`, which makes every page LMDB may
    /// map readable instead of a SIGBUS), then the free list is read: when every missing page
    /// is free, the store is intact and stays extended; otherwise the file really was cut, it
    /// is put back to its original size and refused as damaged.
    private static func checkTruncation(env: LMDBEnvironment, directory: String, logger: Logger) throws(CacheError) {
        let info: MDB_envinfo
        let pageSize: Int
        do {
            info = try env.info()
            pageSize = Int(try env.stat().ms_psize)
        } catch {
            throw openError(error, directory: directory)
        }
        var st = stat()
        let path = directory + "/data.mdb"
        guard stat(path, &st) == 0 else { return }
        let pages = info.me_last_pgno + 1
        let needed = pages * pageSize
        let size = Int(st.st_size)
        guard size < needed else { return }
        let truncated = CacheError(code: .storeDamaged,
                                   message: "\(path) is truncated: \(size) bytes, but its last page ends at \(needed); move the directory aside (or delete it) to start empty")
        guard truncate(path, off_t(needed)) == 0 else { throw truncated }
        let firstMissing = size / pageSize
        var freeMissing = 0
        do {
            let txn = try env.begin(readOnly: true)
            defer { txn.abort() }
            let cursor = try txn.cursor(LMDBDatabase(dbi: 0))  // FREE_DBI: txn id -> [count, pgno...]
            defer { cursor.close() }
            var item = try cursor.get(MDB_FIRST)
            while let (_, ids) = item {
                let words = ids.count / MemoryLayout<Int>.size
                if words > 0 {
                    let count = min(ids.loadUnaligned(as: Int.self), words - 1)
                    for i in 0..<count {
                        let page = ids.loadUnaligned(fromByteOffset: (i + 1) * MemoryLayout<Int>.size, as: Int.self)
                        if page >= firstMissing && page < pages { freeMissing += 1 }
                    }
                }
                item = try cursor.get(MDB_NEXT)
            }
        } catch {
            freeMissing = -1
        }
        guard freeMissing == pages - firstMissing else {
            _ = truncate(path, off_t(size))
            throw truncated
        }
        logger.notice("the store's data file ended before its last (free) page; extended it", metadata: [
            "path": "\(path)", "bytes": "\(size)", "lastPageEnd": "\(needed)"])
    }

    /// The largest default first map: a budget beyond half of it starts here and grows.
    static let initialMapCap = 4 << 30

    /// The largest map the store asks for: 64 TiB (x86-64 and most arm64 kernels give a
    /// process 128 TiB or more of address space), or half of an address-space limit.
    static let mappableBytes: Int = {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max {
            return min(1 << 46, Int(clamping: limit.rlim_cur / 2))
        }
        return 1 << 46
    }()

    /// Whether `size` bytes of address space can be reserved now. A failed
    /// `mdb_env_set_mapsize` leaves the environment unmapped and unusable, so a resize is
    /// only attempted when this says it can succeed.
    private static func canReserve(_ size: Int) -> Bool {
        guard let p = mmap(nil, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              p != MAP_FAILED else { return false }
        munmap(p, size)
        return true
    }

    private static func roundUp(_ value: Int, to page: Int) -> Int {
        (max(value, page * 16) + page - 1) / page * page
    }

    // MARK: Meta helpers

    private static func metaValue(_ txn: LMDBTransaction, _ meta: LMDBDatabase, _ name: String) throws -> UInt64? {
        let key = Array(name.utf8)
        guard let raw = try key.withUnsafeBytes({ k throws in try txn.get(meta, k) }) else { return nil }
        guard raw.count == 8 else {
            throw CacheError(code: .storeDamaged, message: "store meta value \(name) has \(raw.count) bytes, expected 8")
        }
        return UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
    }

    private static func setMeta(_ txn: LMDBTransaction, _ meta: LMDBDatabase, _ name: String, _ value: UInt64) throws {
        let key = Array(name.utf8)
        var le = value.littleEndian
        try key.withUnsafeBytes { k throws in
            try withUnsafeBytes(of: &le) { v throws in try txn.put(meta, k, v) }
        }
    }

    static func stamp(ofRecencyKey key: UnsafeRawBufferPointer) -> UInt64 {
        key.count >= 8 ? UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) : 0
    }

    /// The storage key inside a recency key (after its 8-byte stamp), or nil for a key too
    /// short to hold one: a damaged index, whose key is dropped rather than sliced.
    static func storageKey(ofRecencyKey key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        key.count > 8 ? UnsafeRawBufferPointer(rebasing: key[8...]) : nil
    }

    /// Rebuilds `recency` and the byte count from `entries`, dropping records whose header
    /// fails validation. Returns the byte count.
    private static func rebuildIndex(_ txn: LMDBTransaction, entries: LMDBDatabase, recency: LMDBDatabase,
                                     logger: Logger, reason: String) throws -> Int {
        try txn.empty(recency)
        var bytes = 0
        var dropped = 0
        var keys: [[UInt8]] = []
        do {
            let cursor = try txn.cursor(entries)
            defer { cursor.close() }
            var item = try cursor.get(MDB_FIRST)
            while let (key, value) = item {
                if let header = try? DiskRecord.header(value) {
                    keys.append(StorageKey.recencyKey(stamp: header.stamp, storageKey: key))
                    bytes += value.count
                    item = try cursor.get(MDB_NEXT)
                } else {
                    try cursor.deleteCurrent()
                    dropped += 1
                    item = try cursor.get(MDB_NEXT)  // after a delete, NEXT yields the record that followed
                }
            }
        }
        // In key order, appended: LMDB fills each page once instead of splitting at random places.
        keys.sort { $0.lexicographicallyPrecedes($1) }
        var previous: [UInt8]? = nil
        for rkey in keys where rkey != previous {
            try rkey.withUnsafeBytes { r throws in
                try txn.put(recency, r, UnsafeRawBufferPointer(start: nil, count: 0), flags: UInt32(MDB_APPEND))
            }
            previous = rkey
        }
        logger.notice("rebuilt the store's recency index and byte count from the records", metadata: [
            "reason": "\(reason)", "records": "\(keys.count)", "droppedRecords": "\(dropped)", "bytes": "\(bytes)"])
        return bytes
    }

    // MARK: Public-in-module surface

    /// The next access stamp of the store's logical clock (monotonic across restarts).
    func nextStamp() -> UInt64 {
        stampCounter.add(1, ordering: .relaxed).oldValue
    }

    /// The stamp `nextStamp()` will hand out next (taking none): equal to a stamp + 1
    /// exactly when no stamp was taken since that one.
    func peekNextStamp() -> UInt64 {
        stampCounter.load(ordering: .relaxed)
    }

    /// Installs the source of batched access stamps; drained at the start of every write.
    func setTouchSource(_ source: @escaping @Sendable () -> [WriteOp]) {
        let box = TouchSourceBox(source)
        touchSource.withLock { $0 = box }
    }

    /// Largest record the budget can hold.
    var maxRecordBytes: Int { options.maxBytes }

    var statistics: Statistics {
        // Counters only (bytes and map size are mirrored there): never waits for a commit's sync.
        var stats = counters.withLock { $0 }
        stats.entries = (try? withRead { txn throws in Int(try txn.stat(entries).ms_entries) }) ?? 0
        return stats
    }

    /// Queues work for the next write transaction.
    func enqueue(_ op: WriteOp) {
        queued.withLock { $0.append(op) }
    }

    /// Set (under the exclusive gate) just before the environment closes; checked under the
    /// shared gate by every read, so no read touches a closed environment.
    private let closedForReads = Atomic<Bool>(false)

    var isClosed: Bool { closedForReads.load(ordering: .acquiring) }

    /// Reset read-only transactions, reused so a read does not search LMDB's reader table.
    /// Emptied (aborted) under the exclusive gate before a resize and on close.
    private let readerPool = Locked<[LMDBTransaction]>([])
    private static let readerPoolLimit = 16

    private func withRead<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        try gate.withShared { () throws -> T in
            guard !closedForReads.load(ordering: .acquiring) else {
                throw CacheError(code: .closed, message: "the disk store in \(lock.path) is closed")
            }
            let txn: LMDBTransaction
            if let pooled = readerPool.withLock({ $0.popLast() }) {
                do {
                    try pooled.renew()
                    txn = pooled
                } catch {
                    pooled.abort()
                    txn = try env.begin(readOnly: true)
                }
            } else {
                txn = try env.begin(readOnly: true)
            }
            defer {
                txn.reset()
                let kept = readerPool.withLock { pool -> Bool in
                    guard pool.count < Self.readerPoolLimit else { return false }
                    pool.append(txn)
                    return true
                }
                if !kept { txn.abort() }
            }
            return try body(txn)
        }
    }

    /// Frees the pooled read transactions; only under the exclusive gate.
    private func drainReaderPool() {
        let pooled = readerPool.withLock { pool in
            defer { pool.removeAll() }
            return pool
        }
        for txn in pooled { txn.abort() }
    }

    private enum ReadOutcome<T> { case found(T, UInt64?), missing, expired, damaged(String) }

    enum ReadResult<T> {
        case found(T, deadline: UInt64?)
        case missing
    }

    /// Reads the record stored under `storageKey` for the full key `key`.
    ///
    /// A record that fails validation (or that `decode` rejects) is dropped and counted; an
    /// expired one is not returned and is purged; a record under the same digest for another
    /// key is a miss.
    func read<T>(storageKey: [UInt8], key: [UInt8], decode: (UnsafeRawBufferPointer) throws -> T) -> ReadResult<T> {
        let now = wallClock()
        let outcome: ReadOutcome<T>
        do {
            outcome = try withRead { txn throws -> ReadOutcome<T> in
                guard let raw = try storageKey.withUnsafeBytes({ k throws in try txn.get(entries, k) }) else {
                    return .missing
                }
                let view: DiskRecord.View
                do { view = try DiskRecord.validate(raw) } catch let error as DiskRecord.Damage { return .damaged(error.description) }
                guard view.key.elementsEqual(key) else { return .missing }
                if let deadline = view.deadline, deadline <= now { return .expired }
                do { return .found(try decode(view.value), view.deadline) } catch { return .damaged("value does not decode: \(error)") }
            }
        } catch {
            if !isClosed { logger.error("disk tier read failed", metadata: ["error": "\(error)"]) }
            return .missing
        }
        switch outcome {
        case .found(let value, let deadline):
            counters.withLock { $0.diskReads += 1; $0.diskHits += 1 }
            return .found(value, deadline: deadline)
        case .missing:
            counters.withLock { $0.diskReads += 1 }
            return .missing
        case .expired:
            counters.withLock { $0.diskReads += 1 }
            enqueue(.purge(storageKey: storageKey))
            return .missing
        case .damaged(let reason):
            counters.withLock { $0.diskReads += 1; $0.damagedRecords += 1 }
            enqueue(.purge(storageKey: storageKey))
            logger.warning("dropped a damaged record from the disk tier", metadata: ["reason": "\(reason)"])
            return .missing
        }
    }

    /// What `forEachMostRecent` does with one record.
    enum Verdict { case accepted, rejected(String), stop }

    /// Visits valid, unexpired records from most to least recent until `body` says stop.
    /// Damaged records (including those `body` rejects) are dropped and counted; expired
    /// ones and stale index keys are purged.
    func forEachMostRecent(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ deadline: UInt64?) -> Verdict) throws(CacheError) {
        // The walk reads the index: first write what it owes (nothing right after an open).
        try flushIndex()
        let now = wallClock()
        var damaged: [String] = []
        var toQueue: [WriteOp] = []
        do {
            try withRead { txn throws in
                let cursor = try txn.cursor(recency)
                defer { cursor.close() }
                var item = try cursor.get(MDB_LAST)
                while let (rkey, _) = item {
                    item = try cursor.get(MDB_PREV)
                    let stamp = Self.stamp(ofRecencyKey: rkey)
                    guard let storage = Self.storageKey(ofRecencyKey: rkey) else {
                        damaged.append("a recency key of \(rkey.count) bytes")
                        toQueue.append(.dropRecency(recencyKey: Array(rkey)))
                        continue
                    }
                    guard let raw = try txn.get(entries, storage) else {
                        toQueue.append(.dropRecency(recencyKey: Array(rkey)))
                        continue
                    }
                    let view: DiskRecord.View
                    do { view = try DiskRecord.validate(raw) } catch let error as DiskRecord.Damage {
                        damaged.append(error.description)
                        toQueue.append(.purge(storageKey: Array(storage)))
                        continue
                    }
                    guard view.stamp == stamp else {
                        toQueue.append(.dropRecency(recencyKey: Array(rkey)))
                        continue
                    }
                    if let deadline = view.deadline, deadline <= now {
                        toQueue.append(.purge(storageKey: Array(storage)))
                        continue
                    }
                    switch body(view.key, view.value, view.deadline) {
                    case .accepted: continue
                    case .stop: return
                    case .rejected(let reason):
                        damaged.append(reason)
                        toQueue.append(.purge(storageKey: Array(storage)))
                    }
                }
            }
        } catch let error as LMDBError where error.code == MDB_CORRUPTED || error.code == MDB_PAGE_NOTFOUND {
            throw CacheError(code: .storeDamaged,
                             message: "the store in \(lock.path) is damaged (\(error)); move the directory aside (or delete it) to start empty")
        } catch {
            throw CacheError(code: .storeUnavailable, message: "cannot read the store in \(lock.path): \(error)")
        }
        if !toQueue.isEmpty { queued.withLock { $0.append(contentsOf: toQueue) } }
        if !damaged.isEmpty {
            counters.withLock { $0.damagedRecords += damaged.count }
            logger.warning("dropped damaged records from the disk tier", metadata: [
                "count": "\(damaged.count)", "first": "\(damaged[0])"])
        }
    }

    /// Applies `ops` and everything queued in one write transaction, committed and synced
    /// (puts passing the budget: several, in order; see `applyLocked`).
    ///
    /// A full map grows the map (up to `mapSizeLimit`), then evicts least-recent records,
    /// and retries; a write fails for lack of map space only once the map would have to
    /// grow past twice its limit (see `makeRoom`).
    /// - Parameter clearingJournal: see `applyLocked`.
    func apply(_ ops: [WriteOp], clearingJournal: Bool = false) throws(CacheError) {
        try writer.withLock { (state: inout WriterState) throws(CacheError) in
            guard !state.closed else {
                throw CacheError(code: .closed, message: "the disk store in \(lock.path) is closed")
            }
            let extra = queued.withLock { q in
                defer { q.removeAll() }
                return q
            }
            let touches = drainTouches()
            try applyLocked(ops: ops, extra: extra + touches, state: &state, clearingJournal: clearingJournal)
        }
    }

    /// Writes the pending recency-index changes and the byte count now (committed, synced),
    /// so that the index on disk matches the records.
    func flushIndex() throws(CacheError) {
        try writer.withLock { (state: inout WriterState) throws(CacheError) in
            guard !state.closed else {
                throw CacheError(code: .closed, message: "the disk store in \(lock.path) is closed")
            }
            guard !state.index.isEmpty || state.index.cleared else { return }
            try applyLocked(ops: [], extra: [], state: &state, flushIndex: true)
        }
    }

    private struct TxnCounters {
        var evictions = 0
        var expired = 0
        /// Index changes of this transaction's record writes.
        var index = IndexChanges()
    }

    /// - Parameter closing: also marks the store closed cleanly (`open` = 0) in this transaction.
    /// - Parameter clearingJournal: empties the journal in the same transaction; `ops` must
    ///   then hold every journaled write not superseded by a later op.
    ///
    /// A transaction keeps every page it writes or frees until it commits, and evicts at its
    /// end: a batch far larger than the budget (a write-back interval of heavy writes) would
    /// fill the map first. Such a batch commits as consecutive transactions of about the
    /// budget each, in order, each evicting to the budget; if one fails, the earlier ones
    /// stay committed (a retry rewrites the same records; journal replay is idempotent).
    private func applyLocked(ops: [WriteOp], extra: [WriteOp], state: inout WriterState,
                             flushIndex forced: Bool = false, closing: Bool = false,
                             clearingJournal: Bool = false) throws(CacheError) {
        let chunkBytes = max(1, min(options.maxBytes, state.budgetCap ?? .max, mapLimit / 4))
        var chunks: [Range<Int>] = []
        var start = 0
        var size = 0
        for (i, op) in ops.enumerated() {
            guard case .put(_, let record) = op else { continue }
            if size + record.count > chunkBytes && i > start {
                chunks.append(start..<i)
                (start, size) = (i, 0)
            }
            size += record.count
        }
        guard !chunks.isEmpty else {
            try applyTransaction(ops: ops, extra: extra, state: &state, flushIndex: forced,
                                 closing: closing, clearingJournal: clearingJournal)
            return
        }
        chunks.append(start..<ops.count)
        for (n, range) in chunks.enumerated() {
            let last = n == chunks.count - 1
            try applyTransaction(ops: Array(ops[range]), extra: n == 0 ? extra : [], state: &state,
                                 flushIndex: forced && last, closing: closing && last,
                                 clearingJournal: clearingJournal && last)
        }
    }

    private func applyTransaction(ops: [WriteOp], extra: [WriteOp], state: inout WriterState,
                                  flushIndex forced: Bool, closing: Bool, clearingJournal: Bool) throws(CacheError) {
        var attempts = 0
        var loweredBudget = false
        let newGeneration = clearingJournal || (state.journalUnacknowledged && state.journalOffset == 0)
        while true {
            attempts += 1
            let budget = min(options.maxBytes, state.budgetCap ?? .max)  // makeRoom may lower it
            var bytes = state.bytes
            var scanFrom = state.expiryScanFrom
            var txnCounters = TxnCounters()
            var flushed = false
            do {
                try gate.withShared { () throws in
                    let txn = try env.begin(readOnly: false)
                    do {
                        for op in ops { try apply(op, txn, &bytes, &txnCounters) }
                        for op in extra { try apply(op, txn, &bytes, &txnCounters) }
                        try scanExpired(txn, &bytes, &txnCounters, from: &scanFrom)
                        // The index is written when it is due anyway (a maintenance batch, enough
                        // changes, close) and before eviction, which reads it.
                        if forced || closing || !extra.isEmpty || bytes > budget
                            || state.index.count + txnCounters.index.count >= options.indexBatch {
                            if !txnCounters.index.cleared {
                                try writeIndex(txn, state.index)
                            }
                            try writeIndex(txn, txnCounters.index)
                            try evictToBudget(txn, &bytes, &txnCounters, budget: budget)
                            try Self.setMeta(txn, meta, "bytes", UInt64(bytes))
                            flushed = true
                        }
                        // The caller passed everything journaled among `ops`: the journal is
                        // spent, and a new generation makes its frames stale.
                        // So does a frame whose append failed, when no acknowledged frame is
                        // in the file: else a crash would replay it over later writes.
                        if newGeneration { try Self.setMeta(txn, meta, "journal", state.journalGeneration + 1) }
                        if closing { try Self.setMeta(txn, meta, "open", 0) }
                    } catch {
                        txn.abort()
                        throw error
                    }
                    try txn.commit()
                }
                if newGeneration {
                    state.journalUnacknowledged = false
                    state.journalGeneration += 1
                    state.journalOffset = 0
                    state.journalSequence = 0
                }
                if flushed {
                    state.index = IndexChanges()
                } else if txnCounters.index.cleared {
                    state.index = txnCounters.index
                } else {
                    state.index.add.append(contentsOf: txnCounters.index.add)
                    state.index.drop.append(contentsOf: txnCounters.index.drop)
                }
                state.bytes = bytes
                state.expiryScanFrom = scanFrom
                counters.withLock {
                    $0.bytes = bytes
                    $0.commits += 1
                    $0.evictions += txnCounters.evictions
                    $0.expiredPurged += txnCounters.expired
                }
                if txnCounters.evictions > 0 {
                    logger.debug("disk tier evicted least-recent records", metadata: ["count": "\(txnCounters.evictions)"])
                }
                return
            } catch let error as LMDBError where error.isMapFull && attempts < 64 {
                try makeRoom(state: &state, loweredBudget: &loweredBudget)
            } catch {
                throw CacheError(code: .storeUnavailable,
                                 message: "writing to the store in \(lock.path) failed (\(error)); check disk space and permissions")
            }
        }
    }

    /// Grows the map (doubling) up to `mapLimit`. At the limit the records and LMDB's
    /// overhead do not fit: lowers the effective byte budget to three quarters of what is
    /// stored, so the retried transaction evicts least-recent records and later writes reuse
    /// their pages, and grows the map by a quarter, because in a completely full map even
    /// deletions need fresh pages (LMDB copies every page it changes).
    ///
    /// The budget is lowered once per transaction (its retries see the same count) and never
    /// below `min(maxBytes / 2, limit / 8)`; the map grows past the limit to twice it at most,
    /// then the write fails (nothing stored is lost).
    private func makeRoom(state: inout WriterState, loweredBudget: inout Bool) throws(CacheError) {
        let limit = mapLimit
        if state.mapSize < limit {
            let target = state.mapSize > limit / 2 ? limit : state.mapSize * 2
            if Self.canReserve(target) {
                try resize(to: target, state: &state)
                return
            }
            // No address space for more: this size is the limit.
        }
        if !loweredBudget {
            loweredBudget = true
            let floor = max(1, min(options.maxBytes / 2, limit / 8))
            let cap = max(floor, state.bytes / 4 * 3)
            if cap < min(options.maxBytes, state.budgetCap ?? .max) {
                state.budgetCap = cap
                logger.info("disk tier map is at its size limit; lowering the disk byte budget",
                            metadata: ["budget": "\(cap)", "mapSize": "\(state.mapSize)", "mapSizeLimit": "\(limit)"])
            }
        }
        let ceiling = min(limit > Int.max / 2 ? Int.max : limit * 2, Self.mappableBytes)
        let target = min(state.mapSize + state.mapSize / 4, ceiling)
        guard target > state.mapSize, Self.canReserve(target) else {
            throw CacheError(code: .storeUnavailable,
                             message: "the store in \(lock.path) is full: its map reached \(state.mapSize) bytes (limit \(limit)) and evicting to \(min(options.maxBytes, state.budgetCap ?? .max)) bytes of records did not make room; lower persistence maxBytes, or move the directory aside to start afresh")
        }
        try resize(to: target, state: &state)
    }

    private func resize(to size: Int, state: inout WriterState) throws(CacheError) {
        do {
            try gate.withExclusive { () throws in
                drainReaderPool()
                try env.setMapSize(size)
            }
        } catch {
            throw CacheError(code: .storeUnavailable, message: "cannot grow the store's map to \(size) bytes (\(error))")
        }
        state.mapSize = (try? env.info().me_mapsize) ?? size
        let mapSize = state.mapSize
        counters.withLock { $0.mapResizes += 1; $0.mapSize = mapSize }
        logger.info("disk tier map grown", metadata: ["mapSize": "\(state.mapSize)"])
    }

    // MARK: Operations inside a write transaction

    private func apply(_ op: WriteOp, _ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters) throws {
        switch op {
        case .put(let storageKey, let record):
            try storageKey.withUnsafeBytes { (sk: UnsafeRawBufferPointer) throws in
                // Only `entries` changes now; the index key follows lazily (see the type's notes).
                try dropRecord(txn, sk, &bytes, &c.index, deleting: false)
                try record.withUnsafeBytes { (r: UnsafeRawBufferPointer) throws in
                    try txn.put(entries, sk, r)
                    let stamp = UInt64(littleEndian: r.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
                    c.index.add.append(StorageKey.recencyKey(stamp: stamp, storageKey: sk))
                }
                bytes += record.count
            }
        case .delete(let storageKey):
            try storageKey.withUnsafeBytes { (sk: UnsafeRawBufferPointer) throws in
                try dropRecord(txn, sk, &bytes, &c.index, deleting: true)
            }
        case .touch(let storageKey, let stamp):
            try storageKey.withUnsafeBytes { (sk: UnsafeRawBufferPointer) throws in
                guard let raw = try txn.get(entries, sk),
                      let header = try? DiskRecord.header(raw), header.stamp < stamp else { return }
                var copy = [UInt8](raw)
                copy.withUnsafeMutableBytes { DiskRecord.setStamp(stamp, in: $0) }
                try StorageKey.recencyKey(stamp: header.stamp, storageKey: sk).withUnsafeBytes { (r: UnsafeRawBufferPointer) throws in
                    _ = try txn.delete(recency, r)
                }
                try copy.withUnsafeBytes { (v: UnsafeRawBufferPointer) throws in try txn.put(entries, sk, v) }
                try putRecency(txn, stamp: stamp, sk)
            }
        case .purge(let storageKey):
            try storageKey.withUnsafeBytes { (sk: UnsafeRawBufferPointer) throws in
                guard let raw = try txn.get(entries, sk) else { return }
                let now = wallClock()
                if let view = try? DiskRecord.validate(raw) {
                    // Still valid: drop only if it is (still) expired; a newer write may have replaced it.
                    guard let deadline = view.deadline, deadline <= now else { return }
                    c.expired += 1
                }
                try dropRecord(txn, sk, &bytes, &c.index, deleting: true)
            }
        case .dropRecency(let recencyKey):
            try recencyKey.withUnsafeBytes { (r: UnsafeRawBufferPointer) throws in
                // Only if still stale: the record it names is gone or carries another stamp.
                if let sk = Self.storageKey(ofRecencyKey: r), let raw = try txn.get(entries, sk),
                   let header = try? DiskRecord.header(raw),
                   header.stamp == Self.stamp(ofRecencyKey: r) { return }
                _ = try txn.delete(recency, r)
            }
        case .removeAll:
            try txn.empty(entries)
            try txn.empty(recency)
            bytes = 0
            c.index = IndexChanges(cleared: true)
        case .noop:
            break
        }
    }

    private func putRecency(_ txn: LMDBTransaction, stamp: UInt64, _ sk: UnsafeRawBufferPointer) throws {
        try StorageKey.recencyKey(stamp: stamp, storageKey: sk).withUnsafeBytes { (r: UnsafeRawBufferPointer) throws in
            try txn.put(recency, r, UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    /// Removes the record under `sk`, if present: deletes it (or leaves it for a put to
    /// overwrite, `deleting: false`) and owes the deletion of its recency key.
    private func dropRecord(_ txn: LMDBTransaction, _ sk: UnsafeRawBufferPointer, _ bytes: inout Int,
                            _ index: inout IndexChanges, deleting: Bool) throws {
        guard let raw = try txn.get(entries, sk) else { return }
        let size = raw.count
        if let header = try? DiskRecord.header(raw) {
            index.drop.append(StorageKey.recencyKey(stamp: header.stamp, storageKey: sk))
        }
        // A damaged header leaves its recency key behind: eviction and restore drop such stale keys.
        if deleting { _ = try txn.delete(entries, sk) }
        bytes = max(0, bytes - size)
    }

    /// Writes owed index changes: stale keys deleted, and keys added only for records that
    /// still carry that stamp (a later write, touch or delete in the meantime supersedes them).
    private func writeIndex(_ txn: LMDBTransaction, _ changes: IndexChanges) throws {
        for rkey in changes.drop {
            try rkey.withUnsafeBytes { (r: UnsafeRawBufferPointer) throws in _ = try txn.delete(recency, r) }
        }
        for rkey in changes.add {
            try rkey.withUnsafeBytes { (r: UnsafeRawBufferPointer) throws in
                guard let sk = Self.storageKey(ofRecencyKey: r), let raw = try txn.get(entries, sk),
                      let header = try? DiskRecord.header(raw),
                      header.stamp == Self.stamp(ofRecencyKey: r) else { return }
                try txn.put(recency, r, UnsafeRawBufferPointer(start: nil, count: 0))
            }
        }
    }

    private func evictToBudget(_ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters, budget: Int) throws {
        guard bytes > budget else { return }
        try evictOldest(txn, &bytes, &c, count: .max, until: budget)
    }

    /// Evicts least-recent records: `count` of them, or until `bytes <= until`.
    private func evictOldest(_ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters,
                             count: Int, until: Int = -1) throws {
        let cursor = try txn.cursor(recency)
        defer { cursor.close() }
        var evicted = 0
        while evicted < count && bytes > until {
            guard let (rkey, _) = try cursor.get(MDB_FIRST) else {
                bytes = 0
                break
            }
            let stamp = Self.stamp(ofRecencyKey: rkey)
            guard let storage = Self.storageKey(ofRecencyKey: rkey) else {
                try cursor.deleteCurrent()  // a damaged index key names no record
                continue
            }
            let sk = [UInt8](storage)
            try cursor.deleteCurrent()
            try sk.withUnsafeBytes { (skp: UnsafeRawBufferPointer) throws in
                guard let raw = try txn.get(entries, skp) else { return }
                // A stale key (the record has a newer stamp) is dropped without touching the record.
                if let header = try? DiskRecord.header(raw), header.stamp != stamp { return }
                bytes = max(0, bytes - raw.count)
                _ = try txn.delete(entries, skp)
                evicted += 1
            }
        }
        c.evictions += evicted
    }

    /// The incremental expiry sweep: examines a few records per write transaction,
    /// resuming where the previous one stopped and wrapping around.
    private func scanExpired(_ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters,
                             from position: inout [UInt8]?) throws {
        let limit = options.expiryScanPerWrite
        guard limit > 0 else { return }
        let now = wallClock()
        var expired: [[UInt8]] = []
        let cursor = try txn.cursor(entries)
        var item: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)?
        if let start = position {
            item = try start.withUnsafeBytes { (s: UnsafeRawBufferPointer) throws in try cursor.get(MDB_SET_RANGE, key: s) }
        } else {
            item = try cursor.get(MDB_FIRST)
        }
        var examined = 0
        while let (key, value) = item, examined < limit {
            examined += 1
            if let header = try? DiskRecord.header(value), let deadline = header.deadline, deadline <= now {
                expired.append(Array(key))
            }
            item = try cursor.get(MDB_NEXT)
        }
        position = item.map { Array($0.key) }
        cursor.close()
        for sk in expired {
            try sk.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws in try dropRecord(txn, p, &bytes, &c.index, deleting: true) }
        }
        c.expired += expired.count
    }

    /// Keys in the recency index on disk (tests: the index lags the records until flushed).
    func indexEntriesOnDisk() throws -> Int {
        try withRead { txn throws in Int(try txn.stat(recency).ms_entries) }
    }

    /// Tests: stops like a killed process would, without writing anything (pending index
    /// changes and the count are lost, the store stays marked open), and releases the directory.
    func abandonForTesting() { abandon() }

    private func abandon() {
        let first = writer.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        if first { shutDown() }
    }

    /// Flushes queued maintenance, then closes the environment and releases the directory.
    /// Idempotent; later writes throw `.closed`.
    func close() {
        let first = writer.withLock { state -> Bool in
            if state.closed { return false }
            let extra = queued.withLock { q in defer { q.removeAll() }; return q }
            let touches = drainTouches()
            // Writes the owed index changes and the count, and marks the close clean (so the
            // next open need not rebuild). If this fails, the next open rebuilds from the records.
            do { try applyLocked(ops: [], extra: extra + touches, state: &state, closing: true) } catch {
                logger.error("could not record access order on close", metadata: ["error": "\(error)"])
            }
            state.closed = true
            return true
        }
        if first { shutDown() }
    }

    /// Closes the environment once no read is in flight, and releases the directory.
    private func shutDown() {
        gate.withExclusive {
            closedForReads.store(true, ordering: .releasing)
            drainReaderPool()
            env.close()
        }
        writer.withLock { $0.journalFile = nil }  // closes its descriptor
        lock.release()
    }

    deinit { close() }
}

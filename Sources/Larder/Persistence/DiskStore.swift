#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLMDB
import Logging
import Synchronization

// DiskStore's code is split by concern: this file holds the type, its state, and its
// life from init to close; DiskStore+Open (opening, format upgrade, recovery),
// DiskStore+Journal (group commit's journal), DiskStore+Read (reads and the reader pool),
// DiskStore+Write (write transactions), DiskStore+Records (the B-tree edits inside one),
// DiskStore+MapSize (the map's size and growth).

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
        /// Write transactions and journal appends that failed (disk full, I/O error).
        var writeErrors = 0
    }

    /// Counts a failed write (not one refused because the store is closed) and passes it on.
    func countingWriteErrors<T>(_ body: () throws(CacheError) -> T) throws(CacheError) -> T {
        do {
            return try body()
        } catch {
            if error.code != .closed { counters.withLock { $0.writeErrors += 1 } }
            throw error
        }
    }

    let options: Options
    /// The map size past which a full map evicts (see `Options.mapSizeLimit`).
    let mapLimit: Int
    let logger: Logger
    let wallClock: @Sendable () -> UInt64
    let lock: StoreDirectoryLock
    let env: LMDBEnvironment
    let entries: LMDBDatabase
    let recency: LMDBDatabase
    let meta: LMDBDatabase
    let gate = ReadWriteGate()

    /// Serializes write transactions in this process and guards the writer's state.
    let writer = Locked<WriterState>(WriterState())
    struct WriterState {
        var bytes = 0
        var mapSize = 0
        var expiryScanFrom: [UInt8]? = nil
        var closed = false
        /// Lowered budget after the map reached its limit (in memory: a reopen starts afresh).
        var budgetCap: Int? = nil
        /// Committed records whose recency-index change is not written yet.
        var index = IndexChanges()
    }

    /// Group commit's journal, behind a lock of its own so that an append (the committer's
    /// round) does not wait for a write transaction of recorded accesses running on another
    /// thread. Lock order: `writer`, then `journal`. Appends and the transactions that make
    /// the journal stale (`clearingJournal`) all run on the committer thread.
    let journal = Locked<JournalState>(JournalState())
    struct JournalState {
        /// The journal's generation in force, and where and with which sequence number
        /// its next frame goes.
        var generation: UInt64 = 0
        /// Opened (and created if need be) by the first append; an existing one at open.
        var file: JournalFile? = nil
        var offset = 0
        var sequence: UInt64 = 0
        /// The journal file could not be created: `journal(_:)` declines every round.
        var unavailable = false
        /// The store is closed (set with `WriterState.closed`): appends throw.
        var closed = false
        /// An append failed after (possibly) writing its frame: the file may hold a frame of
        /// the current generation that no writer was told succeeded, and that replay would
        /// apply. The next successful append overwrites it; until then, an apply bumps the
        /// generation when no acknowledged frame would go stale with it (offset 0).
        var unacknowledged = false
    }

    /// Recency-index changes owed by committed records: keys to add (written only if the
    /// record still has that stamp) and stale keys to delete.
    struct IndexChanges {
        var add: [[UInt8]] = []
        var drop: [[UInt8]] = []
        /// A removeAll emptied the index: earlier changes are moot.
        var cleared = false
        var count: Int { add.count + drop.count }
        var isEmpty: Bool { add.isEmpty && drop.isEmpty }
    }

    let queued = Locked<[WriteOp]>([])
    /// Tests: a journal append writes its frame, then fails as if `fdatasync` had.
    let journalSyncFailsForTesting = Atomic<Bool>(false)
    /// Orders writes and recorded accesses (see ``AccessStampClock``).
    let stamps: AccessStampClock
    let counters = Locked<Statistics>(Statistics())
    /// Supplies the accesses recorded in memory (the cache's shard logs) to each write transaction.
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

    /// Set (under the exclusive gate) just before the environment closes; checked under the
    /// shared gate by every read, so no read touches a closed environment.
    let closedForReads = Atomic<Bool>(false)

    /// Reset read-only transactions, reused so a read does not search LMDB's reader table.
    /// Emptied (aborted) under the exclusive gate before a resize and on close.
    let readerPool = Locked<[LMDBTransaction]>([])

    /// Opens (creating when missing) the store in `options.directory`
    /// (`open(options:mapLimit:logger:)`), then applies what the journal holds.
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
        let opened = try Self.open(options: options, mapLimit: mapLimit, logger: logger)
        lock = opened.lock
        env = opened.env
        entries = opened.entries
        recency = opened.recency
        meta = opened.meta
        stamps = AccessStampClock(after: opened.highestStamp)
        writer.withLock {
            $0.bytes = opened.bytes
            $0.mapSize = opened.mapSize
        }
        journal.withLock {
            $0.generation = opened.journalGeneration
            $0.file = opened.journalFile
        }
        counters.withLock {
            $0.bytes = opened.bytes
            $0.mapSize = opened.mapSize
        }
        do {
            try replayJournal()
        } catch {
            abandon()  // writes nothing more; the journal stays for the next open
            throw error
        }
    }

    // MARK: Public-in-module surface

    /// The next write stamp of the store's logical clock (monotonic across restarts).
    func nextStamp() -> UInt64 {
        stamps.takeWriteStamp()
    }

    /// Installs the source of recorded access stamps; drained at the start of every write and on close.
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

    var isClosed: Bool { closedForReads.load(ordering: .acquiring) }

    /// Tests: stops like a killed process would, without writing anything (pending index
    /// changes and the count are lost, the store stays marked open), and releases the directory.
    func abandonForTesting() { abandon() }

    private func abandon() {
        let first = writer.withLock { state -> Bool in
            defer {
                state.closed = true
                journal.withLock { $0.closed = true }
            }
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
            journal.withLock { $0.closed = true }
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
        journal.withLock { $0.file = nil }  // closes its descriptor
        lock.release()
    }

    deinit { close() }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLMDB
import Logging

// Opening a store: the directory lock, the environment, the format check and upgrade,
// and recovery (a data file cut short, an index rebuilt after an unclean close).
// The journal's replay, the last step of opening, is in DiskStore+Journal.swift.
extension DiskStore {
    /// What opening the directory yields: the environment and its databases, and the
    /// state the writer and the stamp clock start from.
    struct OpenedStore {
        let lock: StoreDirectoryLock
        let env: LMDBEnvironment
        let entries: LMDBDatabase
        let recency: LMDBDatabase
        let meta: LMDBDatabase
        let bytes: Int
        let mapSize: Int
        /// The logical clock continues after the highest stamp on disk.
        let highestStamp: UInt64
        let journalGeneration: UInt64
        /// The journal file left by an earlier process, if any (replayed by `replayJournal`).
        let journalFile: JournalFile?
    }

    /// Locks `options.directory`, opens the environment in it (creating, upgrading or
    /// recovering the store as needed), and marks the store open.
    ///
    /// - Throws: `.storeUnavailable` when the directory cannot be used or is open elsewhere;
    ///   `.storeDamaged` when the files are not a readable Larder store (nothing is modified
    ///   or deleted in that case). The directory is released on every failure.
    static func open(options: Options, mapLimit: Int, logger: Logger) throws(CacheError) -> OpenedStore {
        let lock = try StoreDirectoryLock(directory: options.directory)
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
            let existingJournal: JournalFile?
            do {
                existingJournal = try JournalFile(existingIn: directory)
            } catch {
                env.close()
                throw error
            }
            let txn = try env.begin(readOnly: false)
            var ended = false
            defer { if !ended { txn.abort() } }
            let entries = try txn.openDatabase("entries", create: true)
            let recency = try txn.openDatabase("recency", create: true)
            let meta = try txn.openDatabase("meta", create: true)
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
            let generation = try Self.metaValue(txn, meta, "journal") ?? 0
            // mdb_txn_commit ends the transaction even when it fails: an abort after a failed
            // commit would end it twice (unlocking LMDB's shared writer mutex again).
            ended = true
            try txn.commit()
            let info = try env.info()
            return OpenedStore(lock: lock, env: env, entries: entries, recency: recency, meta: meta,
                               bytes: bytes!, mapSize: info.me_mapsize, highestStamp: highest,
                               journalGeneration: generation, journalFile: existingJournal)
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
}

import CLMDB
import Logging
import Synchronization

// Reads: read-only transactions from a pool, one record by key, and the walk from most
// to least recent that restore uses. What a read finds to drop is queued for the next
// write transaction.
extension DiskStore {
    private static let readerPoolLimit = 16

    func withRead<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
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
    func drainReaderPool() {
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

    /// Keys in the recency index on disk (tests: the index lags the records until flushed).
    func indexEntriesOnDisk() throws -> Int {
        try withRead { txn throws in Int(try txn.stat(recency).ms_entries) }
    }
}

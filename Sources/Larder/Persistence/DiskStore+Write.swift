import CLMDB
import Logging

// Write transactions: every write goes through `apply(_:clearingJournal:)` (see the type's
// notes), split into budget-sized transactions when a batch is far larger than the budget,
// retried after the map grows or the budget is lowered (DiskStore+MapSize.swift). The
// B-tree edits inside a transaction are in DiskStore+Records.swift.
extension DiskStore {
    /// Applies `ops` and everything queued in one write transaction, committed and synced
    /// (puts passing the budget: several, in order; see `applyLocked`).
    ///
    /// A full map grows the map (up to `mapSizeLimit`), then evicts least-recent records,
    /// and retries; a write fails for lack of map space only once the map would have to
    /// grow past twice its limit (see `makeRoom`).
    /// - Parameter clearingJournal: see `applyLocked`.
    /// - Parameter keepingJournal: leaves the journal's generation alone whatever its
    ///   state, for a transaction run off the committer thread while it appends (group
    ///   commit's recorded accesses); see `applyLocked`.
    func apply(_ ops: [WriteOp], clearingJournal: Bool = false, keepingJournal: Bool = false) throws(CacheError) {
        try countingWriteErrors { () throws(CacheError) in
            try applyUncounted(ops, clearingJournal: clearingJournal, keepingJournal: keepingJournal)
        }
    }

    private func applyUncounted(_ ops: [WriteOp], clearingJournal: Bool, keepingJournal: Bool) throws(CacheError) {
        try writer.withLock { (state: inout WriterState) throws(CacheError) in
            guard !state.closed else {
                throw CacheError(code: .closed, message: "the disk store in \(lock.path) is closed")
            }
            let extra = queued.withLock { q in
                defer { q.removeAll() }
                return q
            }
            let touches = drainTouches()
            try applyLocked(ops: ops, extra: extra + touches, state: &state, clearingJournal: clearingJournal,
                            keepingJournal: keepingJournal)
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

    struct TxnCounters {
        var evictions = 0
        var expired = 0
        /// Index changes of this transaction's record writes.
        var index = IndexChanges()
    }

    /// - Parameter closing: also marks the store closed cleanly (`open` = 0) in this transaction.
    /// - Parameter clearingJournal: empties the journal in the same transaction; `ops` must
    ///   then hold every journaled write not superseded by a later op.
    /// - Parameter keepingJournal: never starts a new journal generation (which a
    ///   transaction otherwise does when a failed append left an unacknowledged frame
    ///   alone in the file): a transaction off the committer thread, which may be
    ///   appending an acknowledged frame at that moment.
    ///
    /// A transaction keeps every page it writes or frees until it commits, and evicts at its
    /// end: a batch far larger than the budget (a write-back interval of heavy writes) would
    /// fill the map first. Such a batch commits as consecutive transactions of about the
    /// budget each, in order, each evicting to the budget; if one fails, the earlier ones
    /// stay committed (a retry rewrites the same records; journal replay is idempotent).
    func applyLocked(ops: [WriteOp], extra: [WriteOp], state: inout WriterState,
                     flushIndex forced: Bool = false, closing: Bool = false,
                     clearingJournal: Bool = false, keepingJournal: Bool = false) throws(CacheError) {
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
                                 closing: closing, clearingJournal: clearingJournal, keepingJournal: keepingJournal)
            return
        }
        chunks.append(start..<ops.count)
        for (n, range) in chunks.enumerated() {
            let last = n == chunks.count - 1
            try applyTransaction(ops: Array(ops[range]), extra: n == 0 ? extra : [], state: &state,
                                 flushIndex: forced && last, closing: closing && last,
                                 clearingJournal: clearingJournal && last, keepingJournal: keepingJournal)
        }
    }

    private func applyTransaction(ops: [WriteOp], extra: [WriteOp], state: inout WriterState,
                                  flushIndex forced: Bool, closing: Bool, clearingJournal: Bool,
                                  keepingJournal: Bool) throws(CacheError) {
        var attempts = 0
        var loweredBudget = false
        // Read here, not under the journal lock for the whole transaction: appends and the
        // transactions that may bump the generation run on one thread (the committer's);
        // another thread's transaction (`keepingJournal`) never bumps it.
        let (unacknowledgedAlone, generation) = journal.withLock { ($0.unacknowledged && $0.offset == 0, $0.generation) }
        let newGeneration = clearingJournal || (!keepingJournal && unacknowledgedAlone)
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
                        if newGeneration { try Self.setMeta(txn, meta, "journal", generation + 1) }
                        if closing { try Self.setMeta(txn, meta, "open", 0) }
                    } catch {
                        txn.abort()
                        throw error
                    }
                    try txn.commit()
                }
                if newGeneration {
                    journal.withLock {
                        $0.unacknowledged = false
                        $0.generation = generation + 1
                        $0.offset = 0
                        $0.sequence = 0
                    }
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
}

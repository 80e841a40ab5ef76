import Logging
import Synchronization

// The store's side of group commit's journal (the file and its frames: JournalFile):
// the payload codec (one round's puts and deletes), appending a round, and replaying
// what a killed process left, the last step of opening.
extension DiskStore {
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
        try countingWriteErrors { () throws(CacheError) -> Bool in try journalUncounted(ops) }
    }

    private func journalUncounted(_ ops: [WriteOp]) throws(CacheError) -> Bool {
        // The journal's own lock, not the writer's: a transaction of recorded accesses may
        // be running meanwhile (its `keepingJournal` leaves the journal alone).
        try journal.withLock { (state: inout JournalState) throws(CacheError) -> Bool in
            guard !state.closed else {
                throw CacheError(code: .closed, message: "the disk store in \(lock.path) is closed")
            }
            guard let payload = Self.journalValue(ops) else { return true }
            guard state.offset + JournalFile.frameSize(payload: payload.count) <= JournalFile.capacity else { return false }
            if state.file?.isFullSize != true {
                // Creating it failed before (a full disk): each round goes to LMDB instead.
                guard !state.unavailable else { return false }
                // All of an existing file's frames were applied at open: replace it freely.
                do {
                    state.file = try JournalFile(creatingIn: lock.path)
                } catch {
                    // A synced LMDB commit per round is as durable, only slower: better than
                    // failing every write, and than writing 8 MiB again for every round.
                    state.unavailable = true
                    logger.warning("cannot create the group-commit journal; committing each round to LMDB directly until the store is reopened",
                                   metadata: ["error": "\(error)"])
                    return false
                }
            }
            let frame = JournalFile.frame(generation: state.generation, sequence: state.sequence, payload: payload)
            state.unacknowledged = true
            try state.file!.append(frame, at: state.offset)
            if journalSyncFailsForTesting.load(ordering: .relaxed) {
                throw CacheError(code: .storeUnavailable, message: "test: the journal's sync failed after its write")
            }
            state.unacknowledged = false
            state.offset += frame.count
            state.sequence += 1
            counters.withLock { $0.commits += 1 }
            return true
        }
    }

    /// Applies what a process left in the journal (killed between a group commit and the
    /// bulk apply that follows it), in order, and empties the journal with the last of its
    /// transactions (one, unless the records pass the budget: see `applyLocked`).
    /// A record that does not decode is dropped, counted and logged.
    func replayJournal() throws(CacheError) {
        let (generation, file) = journal.withLock { ($0.generation, $0.file) }
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
        stamps.advance(past: highest)
        logger.notice("applying journaled writes left by the last process", metadata: ["count": "\(ops.count)"])
        try writer.withLock { (state: inout WriterState) throws(CacheError) in
            try applyLocked(ops: ops, extra: [], state: &state, flushIndex: true, clearingJournal: true)
        }
    }
}

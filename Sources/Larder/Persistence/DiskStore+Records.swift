import CLMDB

// The B-tree edits inside a write transaction: each `WriteOp` applied to `entries`, the
// recency index written from owed changes, least-recent eviction, the incremental expiry
// sweep; and the layout of `meta` values and recency keys they share with open and read.
extension DiskStore {
    // MARK: Meta values and recency keys

    static func metaValue(_ txn: LMDBTransaction, _ meta: LMDBDatabase, _ name: String) throws -> UInt64? {
        let key = Array(name.utf8)
        guard let raw = try key.withUnsafeBytes({ k throws in try txn.get(meta, k) }) else { return nil }
        guard raw.count == 8 else {
            throw CacheError(code: .storeDamaged, message: "store meta value \(name) has \(raw.count) bytes, expected 8")
        }
        return UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
    }

    static func setMeta(_ txn: LMDBTransaction, _ meta: LMDBDatabase, _ name: String, _ value: UInt64) throws {
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

    // MARK: Operations inside a write transaction

    func apply(_ op: WriteOp, _ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters) throws {
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
    func writeIndex(_ txn: LMDBTransaction, _ changes: IndexChanges) throws {
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

    func evictToBudget(_ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters, budget: Int) throws {
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
    func scanExpired(_ txn: LMDBTransaction, _ bytes: inout Int, _ c: inout TxnCounters,
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
}

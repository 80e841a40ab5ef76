import Logging
import Synchronization

/// Counters of a cache's durable tier.
public struct PersistenceStatistics: Sendable, Equatable, Codable {
    /// Records on disk and the sum of their sizes (header + key + value).
    public var entries: Int
    public var bytes: Int
    /// Memory misses that read the disk, and how many of them found a live entry (promoted).
    public var diskReads: Int
    public var diskHits: Int
    /// Records that failed validation (checksum, length, decoding) and were dropped.
    public var damagedRecords: Int
    /// Records evicted from disk for the disk budget (least recent first).
    public var evictions: Int
    /// Expired records removed from disk.
    public var expiredRemovals: Int
    /// Committed (synced) write transactions, and map growths.
    public var commits: Int
    public var mapResizes: Int
    /// The LMDB map size in bytes.
    public var mapSize: Int
    /// Writes that failed (a full disk or map, an I/O error): a set that got the
    /// error, a removal (which cannot throw: this count is its only sign), or a
    /// write-back flush that will be retried.
    public var writeErrors: Int = 0
}

/// A lower tier holding resources (threads, files) that `Cache.close()` should release,
/// with counters and a flush that need no knowledge of the cache's key and value types.
protocol CacheClosableTier: Sendable {
    func close()
    var statistics: PersistenceStatistics { get }
    func flush() throws(CacheError)
}

/// The LMDB durable tier of a `Cache`: encodes keys and values with `ByteCodable`,
/// converts deadlines between the cache's monotonic clock and wall time on disk,
/// writes the access stamps the cache records, and hands writes to the durability
/// mode's writer.
final class PersistentTier<Key: Hashable & Sendable & ByteCodable, Value: Sendable & ByteCodable>: CacheBackingTier, CacheClosableTier, Sendable {
    let store: DiskStore
    let writer: DiskWriter
    let clock: any CacheClock
    let logger: Logger
    let accessBatchSize: Int

    init(persistence: PersistenceConfiguration, clock: any CacheClock, logger: Logger) throws(CacheError) {
        guard case .lmdb(let directory, let maxBytes, let durability) = persistence.backend else {
            throw CacheError(code: .invalidConfiguration, message: "unsupported persistence backend")
        }
        if case .writeBack(let interval) = durability, interval <= .zero {
            throw CacheError(code: .invalidConfiguration,
                             message: "writeBack interval must be positive, got \(interval)")
        }
        guard maxBytes > DiskRecord.headerSize else {
            throw CacheError(code: .invalidConfiguration,
                             message: "persistence maxBytes must be larger than \(DiskRecord.headerSize) (one record header), got \(maxBytes)")
        }
        guard persistence.accessBatchSize > 0 else {
            throw CacheError(code: .invalidConfiguration, message: "accessBatchSize must be positive")
        }
        var options = DiskStore.Options(directory: directory, maxBytes: maxBytes)
        options.initialMapSize = persistence.initialMapSize
        options.mapSizeLimit = persistence.mapSizeLimit
        let store = try DiskStore(options: options, logger: logger, wallClock: { clock.wallNanoseconds() })
        self.store = store
        self.clock = clock
        self.logger = logger
        self.accessBatchSize = persistence.accessBatchSize
        self.writer = DiskWriter(store: store, durability: durability, logger: logger)
    }

    deinit { writer.close() }

    /// Commits pending writes and access stamps, stops the writer thread, releases the directory.
    func close() { writer.close() }

    /// Commits pending writes and access stamps, synced.
    func flush() throws(CacheError) { try writer.flush() }

    // MARK: Clocks

    /// Monotonic deadline → wall clock (saturating).
    func wallDeadline(_ monotonic: UInt64) -> UInt64 {
        Self.shift(monotonic, from: clock.monotonicNanoseconds(), to: clock.wallNanoseconds())
    }

    /// Wall-clock deadline → monotonic (saturating).
    func monotonicDeadline(_ wall: UInt64) -> UInt64 {
        Self.shift(wall, from: clock.wallNanoseconds(), to: clock.monotonicNanoseconds())
    }

    /// `time` on a clock that reads `now` now, on a clock that reads `otherNow`
    /// now: the same distance from now, clamped to 0 ... UInt64.max.
    static func shift(_ time: UInt64, from now: UInt64, to otherNow: UInt64) -> UInt64 {
        if time >= now {
            let (sum, overflow) = otherNow.addingReportingOverflow(time - now)
            return overflow ? .max : sum
        }
        return otherNow - min(otherNow, now - time)
    }

    // MARK: CacheBackingTier

    func store(_ value: Value, forKey key: Key, deadline: UInt64?) throws(CacheError) {
        try writer.submit(putOp(value, forKey: key, deadline: deadline))
    }

    func storeAsync(_ value: Value, forKey key: Key, deadline: UInt64?) async throws(CacheError) {
        try await writer.submitAsync(putOp(value, forKey: key, deadline: deadline))
    }

    /// The write of an entry: its record, refused when it exceeds the disk budget.
    private func putOp(_ value: Value, forKey key: Key, deadline: UInt64?) throws(CacheError) -> DiskStore.WriteOp {
        let keyBytes = key.encodedBytes
        let record = DiskRecord.make(key: keyBytes, deadline: deadline.map(wallDeadline), stamp: store.nextStamp()) {
            value.appendBytes(to: &$0)
        }
        guard record.count <= store.maxRecordBytes, record.count - keyBytes.count <= Int(UInt32.max) else {
            throw CacheError(code: .valueTooLarge,
                             message: "the entry takes \(record.count) bytes on disk, more than the persistence maxBytes (\(store.maxRecordBytes)); raise maxBytes or store a smaller value")
        }
        return .put(storageKey: StorageKey.make(keyBytes), record: record)
    }

    func load(forKey key: Key) -> (value: Value, deadline: UInt64?)? {
        let keyBytes = key.encodedBytes
        let storageKey = StorageKey.make(keyBytes)
        let found: (Value, UInt64?)?
        switch writer.overlay(storageKey) {
        case .deleted:
            return nil
        case .put(let record):
            found = record.withUnsafeBytes { raw -> (Value, UInt64?)? in
                guard let view = try? DiskRecord.validate(raw), view.key.elementsEqual(keyBytes),
                      let value = try? Value(bytes: view.value) else { return nil }
                if let deadline = view.deadline, deadline <= clock.wallNanoseconds() { return nil }
                return (value, view.deadline)
            }
        case .none:
            switch store.read(storageKey: storageKey, key: keyBytes, decode: { try Value(bytes: $0) }) {
            case .found(let value, let deadline): found = (value, deadline)
            case .missing: found = nil
            }
        }
        guard let (value, wall) = found else { return nil }
        return (value, wall.map(monotonicDeadline))
    }

    func remove(forKey key: Key) {
        do {
            try writer.submit(.delete(storageKey: StorageKey.make(key.encodedBytes)))
        } catch {
            logger.error("could not remove an entry from the disk tier", metadata: ["error": "\(error)"])
        }
    }

    func removeAll() {
        do {
            try writer.submit(.removeAll)
        } catch {
            logger.error("could not empty the disk tier", metadata: ["error": "\(error)"])
        }
    }

    var accessRecording: (clock: AccessStampClock, batchSize: Int)? {
        (store.stamps, accessBatchSize)
    }

    func setAccessSource(_ source: @escaping @Sendable () -> [(key: Key, stamp: UInt64)]) {
        store.setTouchSource {
            source().map { .touch(storageKey: StorageKey.make($0.key.encodedBytes), stamp: $0.stamp) }
        }
    }

    func requestAccessDrain() {
        guard !store.isClosed else { return }
        writer.requestMaintenance()
    }

    // MARK: Restart and inspection

    /// Valid, unexpired entries from most to least recent, at most `limit`, with
    /// monotonic deadlines. Entries that do not decode are dropped as damaged.
    func recoveredEntries(limit: Int) throws(CacheError) -> [(key: Key, value: Value, deadline: UInt64?)] {
        var entries: [(key: Key, value: Value, deadline: UInt64?)] = []
        guard limit > 0 else { return entries }
        try store.forEachMostRecent { keyBytes, valueBytes, deadline in
            guard entries.count < limit else { return .stop }
            do {
                let key = try Key(bytes: keyBytes)
                let value = try Value(bytes: valueBytes)
                entries.append((key, value, deadline.map(monotonicDeadline)))
                return entries.count < limit ? .accepted : .stop
            } catch {
                return .rejected("stored entry does not decode as \(Key.self)/\(Value.self): \(error)")
            }
        }
        return entries
    }

    var statistics: PersistenceStatistics {
        let s = store.statistics
        return PersistenceStatistics(entries: s.entries, bytes: s.bytes, diskReads: s.diskReads, diskHits: s.diskHits,
                                     damagedRecords: s.damagedRecords, evictions: s.evictions,
                                     expiredRemovals: s.expiredPurged, commits: s.commits,
                                     mapResizes: s.mapResizes, mapSize: s.mapSize, writeErrors: s.writeErrors)
    }
}

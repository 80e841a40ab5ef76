import CLarderCore
import Dispatch
import Logging
import Synchronization

/// The shared tier (Redis) as a near-cache: creation, reads through it, writes and removals
/// through it, and the generation that drops every shared entry at once.
///
/// Dropping everything in O(1): a loss of contact moves `sharedGeneration` (and every shard's
/// removal generation, so that no fill in flight is installed). A shard whose `sharedSeen` is
/// behind is emptied by the first call that touches it, under its lock, before that call reads
/// anything; until it is empty nothing in it is served.
extension Cache where Key: ByteCodable, Value: ByteCodable {
    /// Creates a cache whose memory is a near-cache of a shared Redis server, optionally over
    /// the durable LMDB tier.
    ///
    /// A memory miss reads Redis (`MGET` and `PTTL` in one round trip, so the local copy never
    /// outlives the server's), concurrent misses of a key sharing one read; a set writes Redis,
    /// then the local copy; a removal deletes both. Keys and values cross the wire as their
    /// ``ByteCodable`` bytes under ``SharedTierConfiguration/keyPrefix``. Redis tells the cache
    /// when a key it read changes, and the local copy goes; see ``SharedTierConfiguration`` for
    /// the staleness bound and what happens while Redis is unreachable.
    ///
    /// The cache connects in the background and reconnects on its own; call
    /// ``waitForSharedTier(timeout:)`` to wait for the first connection. With `persistence`,
    /// writes also go to disk, and at start the keys found there (most recent first, up to
    /// `maxCount`) are revalidated: read again from Redis once connected, and only Redis's
    /// answers enter memory. A value on disk is never served as it is: another instance may
    /// have changed it while this one was down.
    ///
    /// - Throws: ``CacheError/Code/invalidConfiguration`` naming the field to change (in
    ///   `configuration`, `shared` or `persistence`), or the durable store's errors.
    @inlinable
    public convenience init(configuration: CacheConfiguration, shared: SharedTierConfiguration,
                            persistence: PersistenceConfiguration? = nil,
                            clock: any CacheClock = SystemCacheClock(), logger: Logger? = nil) throws(CacheError) {
        let tiers = try Self.makeSharedTiers(configuration: configuration, shared: shared, persistence: persistence,
                                             clock: clock, logger: logger)
        do {
            try self.init(configuration: configuration, clock: clock, logger: logger, tier: tiers.lower,
                          shared: tiers.shared, attachingShared: false)
        } catch {
            tiers.close()
            throw error
        }
        // Built here, in inlinable code, so that the memory changes the tier makes on every
        // fill run specialized for the caller's key and value types.
        tiers.shared.attach(fillingSharedTierSink())
        startRevalidation(tiers)
    }

    /// The tiers of a shared cache, validated and opened (the disk tier, when asked for, first).
    @usableFromInline
    static func makeSharedTiers(configuration: CacheConfiguration, shared: SharedTierConfiguration,
                                persistence: PersistenceConfiguration?, clock: any CacheClock,
                                logger: Logger?) throws(CacheError) -> SharedTiers<Key, Value> {
        try configuration.validate()
        try shared.validate(configuration)
        var lower: PersistentTier<Key, Value>? = nil
        if let persistence {
            let tierLogger = logger ?? Logger(label: "larder.persistence", factory: { _ in SwiftLogNoOpLogHandler() })
            lower = try PersistentTier<Key, Value>(persistence: persistence, clock: clock, logger: tierLogger)
        }
        let sharedTier = RedisSharedTier<Key, Value>(configuration: shared, logger: logger)
        let disk = lower
        return SharedTiers(lower: disk, shared: sharedTier, close: {
            disk?.close()
            sharedTier.close()
        }, recoveredKeys: { () throws(CacheError) in
            try disk?.recoveredEntries(limit: configuration.maxCount).map(\.key) ?? []
        })
    }

    /// Revalidates the keys the disk tier holds (see ``revalidate(_:)``).
    @usableFromInline
    func startRevalidation(_ tiers: SharedTiers<Key, Value>) {
        do {
            let keys = try tiers.recoveredKeys()
            if !keys.isEmpty { revalidate(keys) }
        } catch {
            logger?.warning("Larder: the disk tier's keys could not be read for revalidation: \(error)")
        }
    }
}

/// A shared cache's tiers before the cache exists.
@usableFromInline
struct SharedTiers<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    @usableFromInline let lower: (any CacheBackingTier<Key, Value>)?
    @usableFromInline let shared: any SharedBackingTier<Key, Value>
    @usableFromInline let close: @Sendable () -> Void
    @usableFromInline let recoveredKeys: @Sendable () throws(CacheError) -> [Key]
}

extension Cache {
    // MARK: Reads

    /// The value for `key`: from memory, else from the lower tiers, reporting a shared tier's
    /// failure instead of calling it a miss.
    ///
    /// Without a shared tier this is ``value(forKey:)``. With one, a memory miss waits for
    /// Redis on the calling thread (from async code use the `async` flavour).
    /// - Throws: ``CacheError/Code/sharedTierUnavailable`` when Redis cannot be reached and
    ///   ``SharedTierConfiguration/whenUnavailable`` is `.fail`;
    ///   ``CacheError/Code/sharedTierRejected`` or `.storeDamaged` for a reply the cache cannot use.
    @inlinable
    public func fetchValue(forKey key: Key) throws(CacheError) -> Value? {
        guard hasShared else { return value(forKey: key) }
        let hash = Self.hash(key)
        if let hit = withShard(shardIndex(hash), { lookUp(key, hash: hash, in: $0) }) { return hit }
        return try readShared(key, hash: hash)
    }

    /// The value for `key`, as the synchronous ``fetchValue(forKey:)``, suspending instead of
    /// blocking while Redis answers a memory miss.
    @inlinable
    public func fetchValue(forKey key: Key) async throws(CacheError) -> Value? {
        guard hasShared, let shared else { return value(forKey: key) }
        let hash = Self.hash(key)
        let shard = shards[shardIndex(hash)]
        if let hit = lookUp(key, hash: hash, in: shard) { return hit }
        let snapshot = shard.fillSnapshot()
        let result = await withUnsafeContinuation { continuation in
            shared.load(key, snapshot: snapshot) { continuation.resume(returning: $0) }
        }
        return try settleSharedRead(result, shard: shard)
    }

    /// The values for `keys`, in their order: memory hits at once, and every miss read from the
    /// shared tier in one round trip (pipelined), so a batch costs about one read's latency.
    ///
    /// Without a shared tier, each key is ``value(forKey:)``.
    /// - Throws: as ``fetchValue(forKey:)-9irwb``, for the first key whose read failed.
    @inlinable
    public func fetchValues(forKeys keys: [Key]) throws(CacheError) -> [Value?] {
        guard hasShared, let shared else { return keys.map { value(forKey: $0) } }
        var (values, misses, snapshots) = lookUpMany(keys)
        guard !misses.isEmpty else { return values }
        let missed = misses.map { keys[$0.position] }
        let result = Self.waitForShared { shared.loadMany(missed, snapshots: snapshots, completion: $0) }
        try settleSharedReads(result, misses: misses, into: &values)
        return values
    }

    /// The values for `keys`, as the synchronous ``fetchValues(forKeys:)-8myrr``, suspending
    /// instead of blocking while Redis answers the misses.
    @inlinable
    public func fetchValues(forKeys keys: [Key]) async throws(CacheError) -> [Value?] {
        guard hasShared, let shared else { return keys.map { value(forKey: $0) } }
        var (values, misses, snapshots) = lookUpMany(keys)
        guard !misses.isEmpty else { return values }
        let missed = misses.map { keys[$0.position] }
        let result = await withUnsafeContinuation { continuation in
            shared.loadMany(missed, snapshots: snapshots) { continuation.resume(returning: $0) }
        }
        try settleSharedReads(result, misses: misses, into: &values)
        return values
    }

    /// Memory's answers for `keys`, with the positions that missed and each one's fill snapshot
    /// and shard (kept, so that settling the reads does not hash the keys again).
    @inlinable
    func lookUpMany(_ keys: [Key]) -> (values: [Value?], misses: [(position: Int, shard: Int)], snapshots: [UInt64]) {
        var values = [Value?](repeating: nil, count: keys.count)
        var misses: [(position: Int, shard: Int)] = []
        var snapshots: [UInt64] = []
        for (index, key) in keys.enumerated() {
            let hash = Self.hash(key)
            let shardIndex = shardIndex(hash)
            let shard = shards[shardIndex]
            if let hit = lookUp(key, hash: hash, in: shard) {
                values[index] = hit
            } else {
                misses.append((index, shardIndex))
                snapshots.append(shard.fillSnapshot())
            }
        }
        return (values, misses, snapshots)
    }

    /// Counts a batch's reads through the shared tier and applies `whenUnavailable`.
    @inlinable
    func settleSharedReads(_ result: Result<[Result<Value?, CacheError>], CacheError>,
                           misses: [(position: Int, shard: Int)], into values: inout [Value?]) throws(CacheError) {
        let results: [Result<Value?, CacheError>]
        switch result {
        case .success(let each): results = each
        case .failure(let error): results = Array(repeating: .failure(error), count: misses.count)
        }
        var firstError: CacheError? = nil
        for (n, miss) in misses.enumerated() {
            do {
                values[miss.position] = try settleSharedRead(results[n], shard: shards[miss.shard])
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }

    /// A memory miss read through the shared tier, waiting on this thread.
    @usableFromInline
    func readShared(_ key: Key, hash: UInt64) throws(CacheError) -> Value? {
        guard let shared else { return nil }
        let shard = shards[shardIndex(hash)]
        // Before the read: an invalidation or removal after it keeps the value out of memory.
        let snapshot = shard.fillSnapshot()
        let result = Self.waitForShared { shared.load(key, snapshot: snapshot, completion: $0) }
        return try settleSharedRead(result, shard: shard)
    }

    /// Counts a read through the shared tier and applies `whenUnavailable`.
    @inlinable
    func settleSharedRead(_ result: Result<Value?, CacheError>,
                                  shard: CacheShard<Key, Value>) throws(CacheError) -> Value? {
        shard.mutex.lock()
        if case .success(.some) = result { shard.bump(shard.hits) } else { shard.bump(shard.misses) }
        shard.mutex.unlock()
        switch result {
        case .success(let value):
            return value
        case .failure(let error):
            if error.code == .sharedTierUnavailable, shared?.whenUnavailable == .degradeToMemory { return nil }
            throw error
        }
    }

    // MARK: Writes and removals

    /// The shared half of a write (after the disk tier's): Redis, then the local copy,
    /// installed by the tier in wire order. While Redis is unreachable in `.degradeToMemory`
    /// mode the write stays local, living at most the staleness bound.
    @usableFromInline
    func storeShared(_ value: Value, forKey key: Key, deadline: UInt64, mode: StoreMode,
                     _ write: PreparedWrite) throws(CacheError) -> StoreOutcome {
        guard let shared else { return try finishStore(value, forKey: key, deadline: deadline, mode: mode, write) }
        let result = Self.waitForShared { completion in
            shared.store(value, forKey: key, deadline: deadline == larderNoDeadline ? nil : deadline,
                         weight: write.weight, snapshot: write.fillSnapshot ?? .max, completion: completion)
        }
        return try settleSharedWrite(result, value, forKey: key, deadline: deadline, mode: mode, write)
    }

    /// `storeShared` for async callers: suspends while Redis answers.
    func storeSharedAsync(_ value: Value, forKey key: Key, deadline: UInt64, mode: StoreMode,
                          _ write: PreparedWrite) async throws(CacheError) -> StoreOutcome {
        guard let shared else { return try finishStore(value, forKey: key, deadline: deadline, mode: mode, write) }
        let result = await withUnsafeContinuation { continuation in
            shared.store(value, forKey: key, deadline: deadline == larderNoDeadline ? nil : deadline,
                         weight: write.weight, snapshot: write.fillSnapshot ?? .max) { continuation.resume(returning: $0) }
        }
        return try settleSharedWrite(result, value, forKey: key, deadline: deadline, mode: mode, write)
    }

    private func settleSharedWrite(_ result: Result<Void, CacheError>, _ value: Value, forKey key: Key,
                                   deadline: UInt64, mode: StoreMode,
                                   _ write: PreparedWrite) throws(CacheError) -> StoreOutcome {
        switch result {
        case .success:
            return .stored
        case .failure(let error):
            guard error.code == .sharedTierUnavailable, let shared, shared.whenUnavailable == .degradeToMemory else {
                throw error
            }
            // Local only, and no longer than the bound: another instance's write meanwhile cannot
            // stay hidden for longer. The reconnection drops it (the snapshot then fails too).
            let (cap, overflow) = clock.monotonicNanoseconds().addingReportingOverflow(shared.maxStalenessNanoseconds)
            let capped = overflow ? deadline : min(deadline, cap)
            return try finishStore(value, forKey: key, deadline: capped, mode: mode, write)
        }
    }

    /// The shared half of a removal: the server's copy. A failure is logged (the removal
    /// returns no error); the local copy is gone either way.
    @usableFromInline
    func removeShared(_ key: Key) {
        guard let shared else { return }
        let result = Self.waitForShared { shared.remove(key, completion: $0) }
        if case .failure(let error) = result {
            logger?.warning("Larder: the shared tier's copy was not removed: \(error)")
        }
    }

    /// The shared half of `removeAll`: every key under the prefix on the server.
    func removeAllShared() {
        guard let shared else { return }
        let result = Self.waitForShared { shared.removeAll(completion: $0) }
        if case .failure(let error) = result {
            logger?.warning("Larder: the shared tier's keys were not removed: \(error)")
        }
    }

    /// Reads `keys` from the shared tier once it is connected, in pipelined batches, so that
    /// what Redis holds for them (not what the disk held) warms memory. Gives up quietly after
    /// the first minute without a connection (reads go to Redis anyway).
    func revalidate(_ keys: [Key]) {
        guard let shared else { return }
        Task.detached { [weak self] in
            do {
                try await self?.waitForSharedTier(timeout: .seconds(60))
            } catch {
                self?.logger?.info("Larder: restored keys not revalidated (no shared tier connection): \(error)")
                return
            }
            var start = keys.startIndex
            while start < keys.endIndex, let self {
                let batch = Array(keys[start..<min(keys.endIndex, start + 256)])
                let snapshots = batch.map { self.shards[self.shardIndex(Self.hash($0))].fillSnapshot() }
                let result = await withUnsafeContinuation { continuation in
                    shared.loadMany(batch, snapshots: snapshots) { continuation.resume(returning: $0) }
                }
                if case .failure(let error) = result {
                    self.logger?.info("Larder: revalidation of restored keys stopped: \(error)")
                    return
                }
                start += batch.count
                shared.noteRevalidated(batch.count)
            }
        }
    }

    // MARK: Connection

    /// Waits until the shared tier has a connection (returns at once when it has one, or when
    /// the cache has no shared tier).
    /// - Throws: ``CacheError/Code/sharedTierUnavailable`` with the last connection error when
    ///   none is made within `timeout`.
    public func waitForSharedTier(timeout: Duration) async throws(CacheError) {
        guard let shared else { return }
        let result = await withUnsafeContinuation { continuation in
            shared.waitUntilConnected(timeout: timeout) { continuation.resume(returning: $0) }
        }
        try result.get()
    }

    /// The shared tier's counters and connection state, or nil for a cache without one.
    public var sharedTierStatistics: SharedTierStatistics? { shared?.statistics }

    // MARK: Dropping every shared entry

    /// Empties `shard` when every shared entry was dropped since it was last emptied.
    @inlinable @inline(__always)
    func dropSharedEntriesIfStale(_ shard: CacheShard<Key, Value>) {
        if shard.sharedSeen.load(ordering: .relaxed) != sharedGeneration.load(ordering: .acquiring) {
            emptyStaleShard(shard)
        }
    }

    /// Empties a stale shard in bounded batches; every thread that finds it stale helps, and
    /// the last batch marks it current. Nothing is inserted into a stale shard meanwhile
    /// (`insert` empties it first), and its entries are never served (readers come here first).
    @usableFromInline
    func emptyStaleShard(_ shard: CacheShard<Key, Value>) {
        while true {
            let target = sharedGeneration.load(ordering: .acquiring)
            let done = withVictimBuffer(Key.self, Value.self, capacity: Self.batchSize) { victims in
                shard.lockForWrite()
                if shard.sharedSeen.load(ordering: .relaxed) == target {
                    shard.unlockAfterWrite()
                    return true
                }
                _ = shard.drainLocked(maxEntries: Self.batchSize, victims: &victims)
                if larder_core_count(shard.core) == 0 { shard.sharedSeen.store(target, ordering: .relaxed) }
                shard.unlockAfterWrite()
                return false
            }
            if done { return }
        }
    }

    /// What the shared tier may do to memory (on its own thread, in wire order).
    @inlinable
    func sharedTierSink() -> SharedTierSink<Key, Value> {
        SharedTierSink(
            install: { [weak self] key, value, deadline, weight, snapshot in
                self?.installShared(key, value, deadline: deadline, weight: weight, snapshot: snapshot)
            },
            invalidate: { [weak self] key in
                guard let self else { return }
                let hash = Self.hash(key)
                _ = self.removeFromMemory(key, hash: hash, asRemoval: true)
                self.shards[self.shardIndex(hash)].endRemoval()
            },
            dropAll: { [weak self] in
                guard let self else { return }
                // Fills in flight first (their snapshots fail), then every shard's entries.
                for shard in self.shards { shard.removalGeneration.wrappingAdd(1, ordering: .releasing) }
                self.sharedGeneration.wrappingAdd(1, ordering: .releasing)
            },
            now: { [clock] in clock.monotonicNanoseconds() })
    }

    @inlinable
    func installShared(_ key: Key, _ value: Value, deadline: UInt64?, weight: UInt64?, snapshot: UInt64) {
        let hash = Self.hash(key)
        let shard = shards[shardIndex(hash)]
        let weight = weight ?? naturalWeight(key: key, value: value)
        guard weight <= shard.byteShare, weight <= larderMaxWeight else {
            // Too heavy for memory now (pressure): the server has it; no older local copy may stay.
            _ = removeFromMemory(key, hash: hash)
            return
        }
        _ = insert(value, forKey: key, hash: hash, shard: shard, weight: weight,
                   deadline: deadline ?? larderNoDeadline, mode: .overwrite, fillSnapshot: snapshot)
    }

    /// Runs `start` and blocks this thread until its completion is called (a synchronous
    /// caller's wait for the shared tier, which answers on its own thread).
    @usableFromInline
    static func waitForShared<T: Sendable>(
        _ start: (@escaping @Sendable (Result<T, CacheError>) -> Void) -> Void
    ) -> Result<T, CacheError> {
        let box = Locked<Result<T, CacheError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        start { result in
            box.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }
}

import Logging

extension Cache where Key: ByteCodable, Value: ByteCodable {
    /// Creates a cache whose entries are also kept on disk, restoring what a previous
    /// cache left in the same directory.
    ///
    /// Opening restores the most recent valid entries into memory, most recent first, up to
    /// the memory limits, in their recorded order and with their deadlines (entries that
    /// expired meanwhile are dropped). See ``PersistenceConfiguration`` for the tiers and
    /// ``PersistenceConfiguration/Durability`` for what each mode costs and what a crash can lose.
    /// The directory stays locked until the cache is deallocated.
    ///
    /// - Throws: `.invalidConfiguration` for bad limits; `.storeUnavailable` when the directory
    ///   cannot be created or written, or is already open (in this or another process);
    ///   `.storeDamaged` when the files there are not a readable store (they are left untouched:
    ///   move the directory aside to start empty).
    public convenience init(configuration: CacheConfiguration, persistence: PersistenceConfiguration,
                            clock: any CacheClock = SystemCacheClock(), logger: Logger? = nil) throws(CacheError) {
        // Checked before the store is opened: a refused configuration creates no files.
        try configuration.validate()
        let tierLogger = logger ?? Logger(label: "larder.persistence", factory: { _ in SwiftLogNoOpLogHandler() })
        let tier = try PersistentTier<Key, Value>(persistence: persistence, clock: clock, logger: tierLogger)
        do {
            try self.init(configuration: configuration, clock: clock, logger: logger, tier: tier)
            let entries = try tier.recoveredEntries(limit: configuration.maxCount)
            restore(entries)
        } catch {
            tier.close()
            throw error
        }
    }

    /// The durable tier's counters, or nil for a cache without persistence.
    public var persistenceStatistics: PersistenceStatistics? { tierStatistics }

    /// Commits everything written so far (write-back's queue) and the batched access order,
    /// synced, before returning. Useful before a planned shutdown in `.writeBack` mode.
    public func flushPersistence() throws(CacheError) { try flushTier() }
}

extension Cache {
    /// The durable tier's counters, for any key and value types (metrics).
    var tierStatistics: PersistenceStatistics? { (tier as? any CacheClosableTier)?.statistics }

    /// Commits what the durable tier has pending; nothing without one.
    func flushTier() throws(CacheError) { try (tier as? any CacheClosableTier)?.flush() }
}

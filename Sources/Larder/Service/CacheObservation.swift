/// A cache seen without its key and value types: what ``CacheMetrics`` reads
/// and what ``CacheService`` flushes and closes.
struct CacheObservation: Sendable {
    let name: String
    let statistics: @Sendable () -> CacheStatistics
    let persistenceStatistics: @Sendable () -> PersistenceStatistics?
    let sharedTierStatistics: @Sendable () -> SharedTierStatistics?
    let flush: @Sendable () throws(CacheError) -> Void
    let close: @Sendable () -> Void

    init<Key, Value>(_ cache: Cache<Key, Value>) {
        name = cache.configuration.name
        statistics = { cache.statistics }
        persistenceStatistics = { cache.tierStatistics }
        sharedTierStatistics = { cache.sharedTierStatistics }
        flush = { () throws(CacheError) in try cache.flushTier() }
        close = { cache.close() }
    }
}

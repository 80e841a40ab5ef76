import CoreMetrics
import Synchronization

/// Reports a cache's ``CacheStatistics``, ``PersistenceStatistics`` and ``SharedTierStatistics`` through
/// swift-metrics, read from the counters when ``update()`` runs: nothing is
/// called per operation, so hits and sets cost the same with metrics as
/// without.
///
/// Names and labels follow Prometheus conventions; every metric carries the
/// label `cache` with ``CacheConfiguration/name``:
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `larder_cache_requests_total` | counter | `result`: `hit`, `miss` |
/// | `larder_cache_evictions_total` | counter | `cause`: `size` (`maxCount`), `bytes` (`maxBytes`), `pressure` (memory governor), `expiry` |
/// | `larder_cache_entries` | gauge | |
/// | `larder_cache_bytes` | gauge | |
/// | `larder_cache_byte_budget_bytes` | gauge (only while a budget is set) | |
/// | `larder_disk_reads_total`, `larder_disk_hits_total` | counter | |
/// | `larder_disk_commits_total`, `larder_disk_write_errors_total`, `larder_disk_damaged_records_total` | counter | |
/// | `larder_disk_entries`, `larder_disk_bytes` | gauge | |
/// | `larder_shared_reads_total`, `larder_shared_read_hits_total`, `larder_shared_writes_total`, `larder_shared_deletes_total` | counter | |
/// | `larder_shared_invalidations_total`, `larder_shared_full_drops_total`, `larder_shared_unavailable_total` | counter | |
/// | `larder_shared_connection_losses_total` | counter | |
/// | `larder_shared_connected` | gauge (1 or 0) | |
///
/// The `larder_disk_` metrics appear for a cache with a durable tier, the `larder_shared_`
/// metrics for one with a shared tier (``SharedTierStatistics``).
/// ``CacheService`` calls ``update()`` on a schedule; call it yourself (at
/// scrape time, say) when you run no service group.
///
/// ```swift
/// let metrics = CacheMetrics(cache: cache)   // MetricsSystem.factory, as bootstrapped
/// metrics.update()
/// ```
public final class CacheMetrics: Sendable {
    private let cache: CacheObservation
    /// The counters' totals as last reported, by metric and label: swift-metrics
    /// counters take increments, the statistics hold totals.
    private let reported = Mutex<[String: Int]>([:])
    private let counters: [String: Counter]
    private let gauges: [String: Gauge]
    private let budget: Gauge

    /// Creates the metrics of `cache` in `factory` (the bootstrapped
    /// `MetricsSystem.factory` unless given) and reports its current figures.
    public convenience init<Key, Value>(cache: Cache<Key, Value>, factory: any MetricsFactory = MetricsSystem.factory) {
        self.init(CacheObservation(cache), factory: factory)
    }

    init(_ cache: CacheObservation, factory: any MetricsFactory) {
        self.cache = cache
        let name = [("cache", cache.name)]
        let hasDisk = cache.persistenceStatistics() != nil
        let hasShared = cache.sharedTierStatistics() != nil
        func wanted(_ label: String) -> Bool {
            (hasDisk || !label.hasPrefix("larder_disk_")) && (hasShared || !label.hasPrefix("larder_shared_"))
        }
        var counters: [String: Counter] = [:]
        for (key, label, extra) in Self.counterShapes where wanted(label) {
            counters[key] = Counter(label: label, dimensions: name + extra, factory: factory)
        }
        self.counters = counters
        var gauges: [String: Gauge] = [:]
        for (key, label) in Self.gaugeShapes where wanted(label) {
            gauges[key] = Gauge(label: label, dimensions: name, factory: factory)
        }
        self.gauges = gauges
        budget = Gauge(label: "larder_cache_byte_budget_bytes", dimensions: name, factory: factory)
        update()
    }

    /// (key, metric name, extra labels) of every counter.
    private static let counterShapes: [(String, String, [(String, String)])] = [
        ("hits", "larder_cache_requests_total", [("result", "hit")]),
        ("misses", "larder_cache_requests_total", [("result", "miss")]),
        ("size", "larder_cache_evictions_total", [("cause", "size")]),
        ("bytes", "larder_cache_evictions_total", [("cause", "bytes")]),
        ("pressure", "larder_cache_evictions_total", [("cause", "pressure")]),
        ("expiry", "larder_cache_evictions_total", [("cause", "expiry")]),
        ("diskReads", "larder_disk_reads_total", []),
        ("diskHits", "larder_disk_hits_total", []),
        ("commits", "larder_disk_commits_total", []),
        ("writeErrors", "larder_disk_write_errors_total", []),
        ("damaged", "larder_disk_damaged_records_total", []),
        ("sharedReads", "larder_shared_reads_total", []),
        ("sharedReadHits", "larder_shared_read_hits_total", []),
        ("sharedWrites", "larder_shared_writes_total", []),
        ("sharedDeletes", "larder_shared_deletes_total", []),
        ("sharedInvalidations", "larder_shared_invalidations_total", []),
        ("sharedFullDrops", "larder_shared_full_drops_total", []),
        ("sharedUnavailable", "larder_shared_unavailable_total", []),
        ("sharedLosses", "larder_shared_connection_losses_total", []),
    ]

    private static let gaugeShapes: [(String, String)] = [
        ("entries", "larder_cache_entries"), ("cacheBytes", "larder_cache_bytes"),
        ("diskEntries", "larder_disk_entries"), ("diskBytes", "larder_disk_bytes"),
        ("sharedConnected", "larder_shared_connected"),
    ]

    /// Reads the cache's counters and brings every metric up to date.
    public func update() {
        let s = cache.statistics()
        var totals: [String: Int] = [
            "hits": s.hits, "misses": s.misses,
            "size": max(0, s.evictions - s.byteEvictions - s.pressureEvictions),
            "bytes": s.byteEvictions, "pressure": s.pressureEvictions, "expiry": s.expiredRemovals,
        ]
        gauges["entries"]!.record(s.currentSize)
        gauges["cacheBytes"]!.record(s.totalBytes)
        if let limit = s.effectiveByteBudget { budget.record(limit) }
        if let disk = cache.persistenceStatistics() {
            totals["diskReads"] = disk.diskReads
            totals["diskHits"] = disk.diskHits
            totals["commits"] = disk.commits
            totals["writeErrors"] = disk.writeErrors
            totals["damaged"] = disk.damagedRecords
            gauges["diskEntries"]?.record(disk.entries)
            gauges["diskBytes"]?.record(disk.bytes)
        }
        if let shared = cache.sharedTierStatistics() {
            totals["sharedReads"] = shared.reads
            totals["sharedReadHits"] = shared.readHits
            totals["sharedWrites"] = shared.writes
            totals["sharedDeletes"] = shared.deletes
            totals["sharedInvalidations"] = shared.invalidations
            totals["sharedFullDrops"] = shared.fullDrops
            totals["sharedUnavailable"] = shared.unavailable
            totals["sharedLosses"] = shared.connectionLosses
            gauges["sharedConnected"]?.record(shared.connected ? 1 : 0)
        }
        // Concurrent updates must not both report one increment.
        let increments = reported.withLock { last -> [(String, Int)] in
            var increments: [(String, Int)] = []
            for (key, total) in totals {
                let delta = total - last[key, default: 0]
                if delta > 0 {
                    increments.append((key, delta))
                    last[key] = total
                }
            }
            return increments
        }
        for (key, delta) in increments { counters[key]?.increment(by: delta) }
    }
}

import CoreMetrics
import ServiceLifecycle

/// A cache's life in a swift-service-lifecycle `ServiceGroup`: reports its
/// metrics while the group runs and, on graceful shutdown (or cancellation),
/// writes out what is pending (write-back's queue, the recorded access order)
/// and closes the durable tier before `run()` returns.
///
/// ```swift
/// let cache = try Cache<String, [UInt8]>(
///     configuration: .init(maxCount: 100_000, maxBytes: 256 << 20, name: "pages"),
///     persistence: .lmdb(directory: "/var/cache/app", maxBytes: 1 << 30,
///                        durability: .writeBack(interval: .seconds(1))))
/// let group = ServiceGroup(
///     services: [httpServer, CacheService(cache)],
///     gracefulShutdownSignals: [.sigterm, .sigint],
///     logger: logger)
/// try await group.run()
/// ```
///
/// List it after the services that use the cache: a `ServiceGroup` shuts its
/// services down in reverse order, so the server stops taking requests before
/// the cache is flushed and closed. A cache used without a service group
/// works as before: its sweeper, memory governor and writer run on their own
/// threads from creation, and ``Cache/close()`` (or deinitialization) flushes
/// and closes.
public struct CacheService: Service {
    private let cache: CacheObservation
    private let metrics: CacheMetrics?
    private let interval: Duration

    /// - Parameters:
    ///   - cache: the cache to report, flush and close.
    ///   - metricsFactory: where ``CacheMetrics`` reports (the bootstrapped
    ///     `MetricsSystem.factory` unless given); `nil` reports no metrics.
    ///   - metricsInterval: how often the metrics are brought up to date: `> 0`.
    /// - Throws: ``CacheError/Code/invalidConfiguration`` for an interval that is not positive.
    public init<Key, Value>(_ cache: Cache<Key, Value>, metricsFactory: (any MetricsFactory)? = MetricsSystem.factory,
                            metricsInterval: Duration = .seconds(10)) throws(CacheError) {
        try Self.validate(metricsInterval)  // before the metrics are registered
        try self.init(cache, metrics: metricsFactory.map { CacheMetrics(cache: cache, factory: $0) },
                      metricsInterval: metricsInterval)
    }

    /// - Parameters:
    ///   - cache: the cache to flush and close.
    ///   - metrics: the cache's metrics, brought up to date every `metricsInterval`
    ///     (also yours to update at scrape time); `nil` reports none.
    ///   - metricsInterval: `> 0`.
    /// - Throws: ``CacheError/Code/invalidConfiguration`` for an interval that is not positive.
    public init<Key, Value>(_ cache: Cache<Key, Value>, metrics: CacheMetrics?,
                            metricsInterval: Duration = .seconds(10)) throws(CacheError) {
        try Self.validate(metricsInterval)
        self.cache = CacheObservation(cache)
        self.metrics = metrics
        interval = metricsInterval
    }

    private static func validate(_ interval: Duration) throws(CacheError) {
        guard interval > .zero else {
            throw .invalidConfiguration("metricsInterval is \(interval); it must be > 0.")
        }
    }

    /// Reports metrics every interval until graceful shutdown or cancellation,
    /// then flushes and closes the cache.
    /// - Throws: the flush's error (a full disk, say) after closing: the
    ///   writes it names are lost and were logged.
    public func run() async throws {
        let metrics = self.metrics, interval = self.interval
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    metrics?.update()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Shutdown or cancellation ended the reporting: flush and close below.
        }
        metrics?.update()
        defer { cache.close() }
        try cache.flush()
        metrics?.update()
    }
}

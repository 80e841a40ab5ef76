import Foundation
import MetricsTestKit
import Testing
@testable import Larder

/// CacheMetrics: figures equal to the statistics, Prometheus names and labels.
@Suite("Service: metrics")
struct CacheMetricsTests {
    let logs = CapturedLogs()

    func counter(_ metrics: TestMetrics, _ label: String, _ dimensions: [(String, String)]) throws -> Int {
        Int(try metrics.expectCounter(label, dimensions).totalValue)
    }

    func gauge(_ metrics: TestMetrics, _ label: String, cache: String) throws -> Int? {
        try metrics.expectGauge(label, [("cache", cache)]).lastValue.map { Int($0) }
    }

    @Test("after a scripted sequence, every memory metric equals the statistics, eviction causes apart")
    func memoryMetricsEqualTheStatistics() throws {
        let clock = ManualCacheClock()
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 3, maxBytes: 1_000, sweepInterval: nil,
                                                             name: "sessions"), clock: clock)
        let backend = TestMetrics()
        let metrics = CacheMetrics(cache: cache, factory: backend)
        for key in 1...4 { try cache.setValue(key, forKey: key, ttl: nil, cost: 100) }  // 4 evicts 1 for the count
        #expect(cache.removeValue(forKey: 4) == 4)                             // a free slot: next, bytes decide
        try cache.setValue(5, forKey: 5, ttl: nil, cost: 850)                  // evicts for bytes
        #expect(cache.value(forKey: 5) == 5)
        #expect(cache.value(forKey: 1) == nil)
        try cache.setValue(6, forKey: 6, ttl: .seconds(1), cost: 10)
        clock.advance(by: .seconds(2))
        #expect(cache.value(forKey: 6) == nil)                                 // expired
        cache.setPressureBudget(50)
        cache.evictTowardBudget(maxEntries: 100)                               // pressure
        metrics.update()

        let s = cache.statistics
        #expect(s.byteEvictions > 0 && s.pressureEvictions > 0 && s.expiredRemovals == 1)
        #expect(s.evictions - s.byteEvictions - s.pressureEvictions > 0)
        let name = ("cache", "sessions")
        #expect(try counter(backend, "larder_cache_requests_total", [name, ("result", "hit")]) == s.hits)
        #expect(try counter(backend, "larder_cache_requests_total", [name, ("result", "miss")]) == s.misses)
        #expect(try counter(backend, "larder_cache_evictions_total", [name, ("cause", "size")])
                == s.evictions - s.byteEvictions - s.pressureEvictions)
        #expect(try counter(backend, "larder_cache_evictions_total", [name, ("cause", "bytes")]) == s.byteEvictions)
        #expect(try counter(backend, "larder_cache_evictions_total", [name, ("cause", "pressure")]) == s.pressureEvictions)
        #expect(try counter(backend, "larder_cache_evictions_total", [name, ("cause", "expiry")]) == s.expiredRemovals)
        #expect(try gauge(backend, "larder_cache_entries", cache: "sessions") == s.currentSize)
        #expect(try gauge(backend, "larder_cache_bytes", cache: "sessions") == s.totalBytes)
        #expect(try gauge(backend, "larder_cache_byte_budget_bytes", cache: "sessions") == 50)
        #expect(backend.counters(label: "larder_disk_reads_total").isEmpty, "no disk metrics without a durable tier")
        #expect(backend.counters(label: "larder_shared_reads_total").isEmpty, "no shared metrics without a shared tier")

        // Totals, not increments: a second update after more traffic reports only the difference.
        for _ in 0..<5 { _ = cache.value(forKey: 42) }
        metrics.update()
        metrics.update()
        #expect(try counter(backend, "larder_cache_requests_total", [name, ("result", "miss")]) == cache.statistics.misses)
    }

    @Test("the disk metrics equal the persistence statistics")
    func diskMetricsEqualThePersistenceStatistics() throws {
        let dir = TemporaryDirectory()
        let cache: Cache<String, String> = try makePersistentCache(dir.path, maxCount: 2, logger: logs.logger)
        let backend = TestMetrics()
        let metrics = CacheMetrics(cache: cache, factory: backend)
        for i in 0..<5 { try cache.setValue("v\(i)", forKey: "k\(i)") }
        #expect(cache.value(forKey: "k0") == "v0")  // from disk
        #expect(cache.value(forKey: "nope") == nil)  // a disk read that finds nothing
        metrics.update()
        let d = try #require(cache.persistenceStatistics)
        let name = ("cache", "default")
        #expect(d.diskReads == 2 && d.diskHits == 1 && d.commits > 0)
        #expect(try counter(backend, "larder_disk_reads_total", [name]) == d.diskReads)
        #expect(try counter(backend, "larder_disk_hits_total", [name]) == d.diskHits)
        #expect(try counter(backend, "larder_disk_commits_total", [name]) == d.commits)
        #expect(try counter(backend, "larder_disk_write_errors_total", [name]) == d.writeErrors)
        #expect(try counter(backend, "larder_disk_damaged_records_total", [name]) == d.damagedRecords)
        #expect(try gauge(backend, "larder_disk_entries", cache: "default") == d.entries)
        #expect(try gauge(backend, "larder_disk_bytes", cache: "default") == d.bytes)
    }

    @Test("an empty name is a thrown error that names the field")
    func emptyNameIsRefused() {
        #expect { _ = try Cache<Int, Int>(configuration: .init(maxCount: 1, name: "")) } throws: { error in
            (error as? CacheError)?.code == .invalidConfiguration && "\(error)".contains("name")
        }
    }
}

import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import Testing
@testable import Larder

/// CacheService in a ServiceGroup: metrics while it runs, flush and close on shutdown.
@Suite("Service: lifecycle")
struct CacheServiceTests {
    let logs = CapturedLogs()

    func writeBackCache(_ dir: String) throws -> Cache<String, String> {
        try Cache<String, String>(configuration: .init(maxCount: 100, sweepInterval: nil, name: "pages"),
                                  persistence: .lmdb(directory: dir, maxBytes: 64 << 20,
                                                     durability: .writeBack(interval: .seconds(3600))),
                                  logger: logs.logger)
    }

    @Test("a graceful shutdown writes out the write-back queue and closes the store")
    func gracefulShutdownLosesNoWriteBackWrite() async throws {
        let dir = TemporaryDirectory()
        let cache = try writeBackCache(dir.path)
        for i in 0..<50 { try await cache.setValue("v\(i)", forKey: "k\(i)") }
        #expect(try #require(cache.persistenceStatistics).entries == 0, "queued, not yet on disk")
        let backend = TestMetrics()
        let service = try CacheService(cache, metricsFactory: backend, metricsInterval: .seconds(3600))
        let group = ServiceGroup(configuration: .init(services: [service], logger: logs.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        // Closed: the directory can be opened again, and holds every write.
        let reopened = try writeBackCache(dir.path)
        for i in 0..<50 { #expect(reopened.value(forKey: "k\(i)") == "v\(i)") }
        #expect(throws: CacheError.self) { try cache.setValue("late", forKey: "late") }
        #expect(try backend.expectCounter("larder_disk_commits_total", [("cache", "pages")]).totalValue > 0,
                "the last report follows the flush")
        withExtendedLifetime(cache) {}
    }

    @Test("cancelling the service group's task also flushes and closes")
    func cancellationFlushes() async throws {
        let dir = TemporaryDirectory()
        let cache = try writeBackCache(dir.path)
        try await cache.setValue("v", forKey: "k")
        let service = try CacheService(cache, metricsFactory: nil)
        let task = Task { try await service.run() }
        task.cancel()
        try await task.value
        let reopened = try writeBackCache(dir.path)
        #expect(reopened.value(forKey: "k") == "v")
        withExtendedLifetime(cache) {}
    }

    @Test("a metrics interval that is not positive is refused")
    func badInterval() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1))
        #expect(throws: CacheError.self) { _ = try CacheService(cache, metricsInterval: .zero) }
    }
}

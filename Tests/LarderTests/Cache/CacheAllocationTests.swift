import CJemalloc
import Glibc
import MetricsTestKit
import Testing
@testable import Larder

/// Under ThreadSanitizer its own allocator serves malloc, so jemalloc's
/// counters do not move; the allocation test only means something without it.
let runningUnderThreadSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

/// This thread's running total of bytes allocated, from jemalloc's
/// `thread.allocatedp` (a pointer to the counter, read without a call).
func threadAllocatedCounter() -> UnsafeMutablePointer<UInt64>? {
    var pointer: UnsafeMutablePointer<UInt64>? = nil
    var size = MemoryLayout<UnsafeMutablePointer<UInt64>?>.size
    let status = mallctl("thread.allocatedp", &pointer, &size, nil, 0)
    return status == 0 ? pointer : nil
}

@Suite("Cache allocation", .disabled(if: !Jemalloc.servesMalloc, "another allocator (a sanitizer's) serves malloc"))
struct CacheAllocationTests {
    @Test("a hit and a set of an existing key allocate nothing (jemalloc thread.allocated), with or without metrics",
          .disabled(if: runningUnderThreadSanitizer, "ThreadSanitizer replaces jemalloc as the allocator"),
          arguments: [false, true])
    func hitAllocatesNothing(withMetrics: Bool) throws {
        let counter = try #require(threadAllocatedCounter(), "jemalloc's thread.allocatedp is unavailable")
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1024, defaultTTL: .seconds(3600),
                                                             sweepInterval: nil))
        let backend = TestMetrics()
        let metrics = withMetrics ? CacheMetrics(cache: cache, factory: backend) : nil
        for key in 0..<1000 { try cache.setValue(key * 2, forKey: key) }
        var sum = 0
        for index in 0..<1000 { sum &+= cache.value(forKey: index) ?? 0 }  // warm metadata caches

        // The counter moves when something does allocate (the test can fail).
        let controlBefore = counter.pointee
        let array = Array(repeating: sum, count: 1000)
        let controlAfter = counter.pointee
        #expect(controlAfter - controlBefore >= 8000)
        sum &+= array[999]

        for index in 0..<1000 { try cache.setValue(index, forKey: index) }
        metrics?.update()
        let reports = withMetrics ? try backend.expectCounter("larder_cache_requests_total", [("cache", "default"), ("result", "hit")]).values.count : 0

        let before = counter.pointee
        for index in 0..<100_000 { sum &+= cache.value(forKey: index % 1000) ?? -1 }
        for index in 0..<10_000 { try cache.setValue(index, forKey: index % 1000) }
        let after = counter.pointee
        #expect(after - before == 0, "\(after - before) bytes allocated over 100,000 hits and 10,000 sets of existing keys")
        #expect(cache.statistics.hits == 101_000)
        #expect(sum != 0)
        if let metrics {
            let hits = try backend.expectCounter("larder_cache_requests_total", [("cache", "default"), ("result", "hit")])
            #expect(hits.values.count == reports, "no metrics call on the hit path")
            metrics.update()
            #expect(hits.totalValue == 101_000)
        }
    }
}

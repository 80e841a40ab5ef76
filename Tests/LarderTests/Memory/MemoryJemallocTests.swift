import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Larder

@Suite("jemalloc wrapper", .disabled(if: !Jemalloc.servesMalloc, "another allocator (a sanitizer's) serves malloc"))
struct MemoryJemallocTests {
    @Test func statisticsSeeAnAllocationAfterEpoch() throws {
        let stats = try JemallocStatistics()
        let size = 64 << 20
        // Other suites' threads allocate and free meanwhile (a server test can move the
        // process's figure by tens of MiB): allow them 8 MiB either way, and repeat a
        // measurement they disturbed more than that, up to 5 times.
        var seen = (grew: 0, shrank: 0)
        for _ in 1...5 {
            try stats.flushThreadCache()
            try stats.refresh()
            let before = try stats.allocated()
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            let staleRead = try stats.allocated()
            try stats.refresh()
            let after = try stats.allocated()
            block.deallocate()
            try stats.flushThreadCache()
            try stats.refresh()
            let freed = try stats.allocated()
            // Without an epoch refresh the figure is cached.
            #expect(staleRead == before)
            seen = (after - before, after - freed)
            if abs(seen.grew - size) <= 8 << 20, abs(seen.shrank - size) <= 8 << 20 { break }
        }
        #expect(abs(seen.grew - size) <= 8 << 20, "grew by \(seen.grew) for a \(size)-byte block")
        #expect(abs(seen.shrank - size) <= 8 << 20, "shrank by \(seen.shrank) for a \(size)-byte block")
        #expect(try stats.resident() >= stats.active())
        #expect(try stats.active() >= stats.allocated())
    }

    @Test func unknownNameIsAThrownError() {
        #expect(throws: JemallocError.self) { try JemallocMIB("stats.no_such_counter") }
        do {
            _ = try JemallocMIB("stats.no_such_counter")
        } catch {
            #expect(error.code == ENOENT)
            #expect(error.description.contains("stats.no_such_counter"))
        }
    }

    @Test func threadCountersTrackThisThreadsAllocations() throws {
        let start = try #require(JemallocThreadCounters.current())
        let block = UnsafeMutableRawPointer.allocate(byteCount: 100_000, alignment: 16)
        let mid = try #require(JemallocThreadCounters.current())
        block.deallocate()
        let end = try #require(JemallocThreadCounters.current())
        #expect(mid.allocated - start.allocated >= 100_000)
        #expect(end.deallocated - mid.deallocated >= 100_000)
    }
}

@Test func jemallocServesMallocInThisProcess() {
    // Larder links jemalloc; only a sanitizer build should see another allocator.
    #expect(Jemalloc.servesMalloc || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil
            || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil)
}

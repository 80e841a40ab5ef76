import Foundation
import Synchronization
import Testing

@testable import Larder

/// Mixed traffic with every feature on, from 8 threads, for `LARDER_SOAK_SECONDS` (5 s unless
/// set; the README's reliability section reports an hour): a cache per policy under one byte
/// budget each, short and long TTLs on the system clock with the sweeper running, the memory
/// governor ticking with a process limit below the budgets' sum (so it evicts), an LMDB tier in
/// group-commit mode, and a memoized function and a persistent memo. A monitor checks at
/// intervals: every core's invariants, counts and bytes within their limits, and jemalloc's
/// allocated bytes within the budgets plus the documented overhead. At the end: statistics that
/// add up, and the durable stores reopen with their keys readable.
@Suite("Soak: every feature under mixed traffic", .serialized)
struct SoakTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["LARDER_SOAK_SECONDS"] ?? "") ?? 5
    static let threads = 8
    static let keySpace = 200_000
    /// Per in-memory cache.
    static let budget = 24 << 20
    /// What the heap may hold beyond the caches' byte budgets: each entry's bookkeeping beyond
    /// its measured value (index, arena, keys), LMDB's and the journal's buffers, thread
    /// stacks and jemalloc's per-thread caches. Documented in the README's reliability section.
    static let overhead = 48 << 20

    /// A value of `length` bytes that says which key and version it belongs to.
    static func value(_ key: Int, _ version: UInt8, length: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: version, count: max(16, length))
        withUnsafeBytes(of: key.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return bytes
    }

    static func owner(_ bytes: [UInt8]) -> Int {
        bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: Int.self).littleEndian }
    }

    static func allocated() -> Int { JemallocSignalSource().sample().allocatedBytes ?? 0 }

    @Test func everyFeatureUnderMixedTraffic() throws {
        let directory = TemporaryDirectory("soak")
        let baseline = Self.allocated()
        let caches = try EvictionPolicy.all.map { policy in
            try Cache<Int, [UInt8]>(configuration: .init(maxCount: 50_000, maxBytes: Self.budget, defaultTTL: nil,
                                                         sweepInterval: .milliseconds(50), policy: policy))
        }
        let durable = try Cache<Int, [UInt8]>(
            configuration: .init(maxCount: 20_000, maxBytes: Self.budget, sweepInterval: .milliseconds(50)),
            persistence: .lmdb(directory: directory.sub("tier"), maxBytes: 256 << 20, durability: .groupCommit))
        let computations = Atomic<Int>(0)
        let square = try Memoized<Int, Int, Never>(configuration: .init(maxCount: 5_000)) { n in
            computations.add(1, ordering: .relaxed)
            return n &* n
        }
        let render = try PersistentMemoized<Int, [UInt8], Never>(
            function: "soak.render", configuration: .init(maxCount: 2_000),
            persistence: .lmdb(directory: directory.sub("memo"), maxBytes: 64 << 20)
        ) { n in Self.value(n, 7, length: 64 + n % 512) }
        let all = caches + [durable]
        // The governor's limit sits far below what the budgets would let the caches hold, so it
        // keeps evicting; the byte budgets bound each cache on their own. It watches allocated
        // bytes (as the process's heap): resident bytes include pages jemalloc keeps from earlier
        // suites in this process, which would hide the soak's own growth.
        let governor = try MemoryGovernor(
            configuration: .init(samplingInterval: .milliseconds(50), margin: .fraction(0.1),
                                 processLimit: baseline + Self.budget),
            sources: [AllocatedAsHeap()])
        for cache in all { governor.register(cache) }
        governor.start()
        defer { governor.stop() }

        let deadline = ContinuousClock.now + .seconds(Self.seconds)
        let wrong = Atomic<Int>(0), reads = Atomic<Int>(0)
        let problems = Mutex<[String]>([])
        let peak = Atomic<Int>(0)
        let checks = Atomic<Int>(0)
        let monitorDone = DispatchSemaphore(value: 0)
        let monitor = Thread {
            defer { monitorDone.signal() }
            while ContinuousClock.now < deadline {
                usleep(200_000)  // a sampling period, not a synchronisation
                for (index, cache) in all.enumerated() {
                    let code = cache.checkInvariants()
                    if code != 0 { problems.withLock { $0.append("cache \(index): invariant \(code)") } }
                    if cache.totalBytes > Self.budget || cache.count > cache.configuration.maxCount {
                        problems.withLock { $0.append("cache \(index): \(cache.count) entries, \(cache.totalBytes) bytes") }
                    }
                }
                let now = Self.allocated() - baseline
                _ = peak.max(now, ordering: .relaxed)
                if Jemalloc.servesMalloc, now > all.count * Self.budget + Self.overhead {
                    problems.withLock { $0.append("allocated \(now >> 20) MiB over the baseline") }
                }
                checks.add(1, ordering: .relaxed)
            }
        }
        monitor.start()
        runOnThreads(Self.threads) { thread in
            var random = SplitMix64(seed: UInt64(thread + 1) &* 0x9E37_79B9)
            var myReads = 0
            while ContinuousClock.now < deadline {
                for _ in 0..<256 {
                    let cache = all[Int(random.next() % UInt64(all.count))]
                    // Skewed keys: most traffic on a small hot set.
                    let key = random.chance(4) ? Int(random.next() % 2_000) : Int(random.next() % UInt64(Self.keySpace))
                    switch random.next() % 100 {
                    case 0..<45:
                        myReads += 1
                        if let bytes = cache.value(forKey: key), Self.owner(bytes) != key { wrong.add(1, ordering: .relaxed) }
                    case 45..<70:
                        let ttl: Duration? = random.chance(3) ? .milliseconds(Int64(1 + random.next() % 200)) : nil
                        try? cache.setValue(Self.value(key, UInt8(truncatingIfNeeded: random.next()),
                                                       length: 16 + Int(random.next() % 4_096)), forKey: key, ttl: ttl)
                    case 70..<78:
                        _ = cache.removeValue(forKey: key)
                    case 78..<86:
                        myReads += 1
                        // Throws only when storing fails (the durable tier's map full): not a wrong value.
                        if let bytes = try? cache.value(forKey: key, orCompute: { Self.value(key, 1, length: 200) }),
                           Self.owner(bytes) != key { wrong.add(1, ordering: .relaxed) }
                    case 86..<93:
                        if square(key % 10_000) != (key % 10_000) &* (key % 10_000) { wrong.add(1, ordering: .relaxed) }
                    case 93..<99:
                        if Self.owner(render(key % 5_000)) != key % 5_000 { wrong.add(1, ordering: .relaxed) }
                    default:
                        if random.chance(50) { cache.removeAll() } else { _ = cache.statistics }
                    }
                }
            }
            reads.add(myReads, ordering: .relaxed)
        }
        monitorDone.wait()

        print("soak: \(Self.seconds) s, \(checks.load(ordering: .relaxed)) checks, peak allocated "
              + "\(peak.load(ordering: .relaxed) >> 20) MiB over the baseline (bound "
              + "\((all.count * Self.budget + Self.overhead) >> 20) MiB), governor \(governor.statistics)")
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(10) })")
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(checks.load(ordering: .relaxed) > 0)
        var requests = 0
        for cache in all {
            let statistics = cache.statistics
            #expect(statistics.hits + statistics.misses == statistics.totalRequests)
            requests += statistics.totalRequests
        }
        #expect(requests >= reads.load(ordering: .relaxed))
        #expect(computations.load(ordering: .relaxed) > 0)
        if Jemalloc.servesMalloc {  // under a sanitizer's allocator jemalloc sees no heap to govern
            #expect(governor.statistics.evictedEntries > 0, "the governor never had to act")
        }

        // The durable stores close cleanly and reopen, their keys readable.
        let kept = durable.keysByRecency().joined().prefix(100).map { $0 }
        for cache in all { cache.close() }
        render.cache.close()
        let reopened = try Cache<Int, [UInt8]>(
            configuration: .init(maxCount: 20_000, maxBytes: Self.budget),
            persistence: .lmdb(directory: directory.sub("tier"), maxBytes: 256 << 20, durability: .groupCommit))
        for key in kept {
            if let bytes = reopened.value(forKey: key) { #expect(Self.owner(bytes) == key) }
        }
        #expect(reopened.checkInvariants() == 0)
        reopened.close()
    }
}

/// jemalloc's allocated bytes reported as the process's heap, so that the governor's process
/// limit bounds what the soak itself allocates.
struct AllocatedAsHeap: MemorySignalSource {
    func sample() -> MemorySample {
        let allocated = JemallocSignalSource().sample().allocatedBytes
        return MemorySample(allocatedBytes: allocated, residentBytes: allocated)
    }
}

import Foundation
import Larder
import NIOCore
import NIOPosix
import RESP3
import RedisTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The shared tier against a private redis-server (a free loopback port, a temporary directory):
/// a near-cache hit against a hit without the shared tier and against a Redis GET round trip;
/// miss-fill throughput with 16 callers against `redis-benchmark -t get -c 16 -P 16` on the same
/// server; and invalidation latency from a write on instance A to the drop on instance B.
enum SharedSuite {
    static let callers = 16
    /// Keys per `fetchValues` call of each fill caller (`-P 16` keeps 16 requests in flight per client;
    /// a batch amortises the thread hand-offs and its MGET, so 64).
    static let batchSize = 64

    static func run(_ c: BenchConfig) throws -> SuiteResult {
        var result = SuiteResult(name: "shared")
        let server = try RedisTestServer()
        defer { server.stop() }
        let reads = c.quick ? 200_000 : 4_000_000
        let fillSeconds = c.quick ? 0.5 : 2.0
        let invalidations = c.quick ? 300 : 2_000
        var plain: [Double] = [], near: [Double] = [], ratios: [Double] = [], roundTrips: [Double] = []
        var fills: [Double] = [], fillCPU: [Double] = [], benchmark: [Double] = [], fillRatios: [Double] = []
        var p50s: [Double] = [], p99s: [Double] = []
        for run in 0..<c.runs {
            progress("shared: hits, run \(run + 1)/\(c.runs)")
            let hits = try hitNanoseconds(server, reads: reads, run: run)
            plain.append(hits.plain)
            near.append(hits.near)
            ratios.append(hits.near / hits.plain)
            roundTrips.append(try getRoundTripNanoseconds(server, count: c.quick ? 2_000 : 20_000))
            progress("shared: miss fills, run \(run + 1)/\(c.runs)")
            let (filled, cpu) = try fillsPerSecond(server, seconds: fillSeconds)
            let peer = try redisBenchmarkGets(server, requests: c.quick ? 200_000 : 2_000_000)
            fills.append(filled)
            fillCPU.append(cpu)
            benchmark.append(peer)
            fillRatios.append(filled / peer)
            progress("shared: invalidation latency, run \(run + 1)/\(c.runs)")
            let latency = try invalidationLatency(server, count: invalidations)
            p50s.append(latency.p50)
            p99s.append(latency.p99)
        }
        let hitGroup = "get-hit, 1000 resident Int keys in turn, [UInt8] (100 bytes)"
        result.rows.append(ResultRow(group: hitGroup, peer: "no shared tier", unit: "ns/op", value: Spread(plain)))
        result.rows.append(ResultRow(group: hitGroup, peer: "near-cache (shared tier)", unit: "ns/op", value: Spread(near),
                                     extra: ["ratio_to_no_shared_tier": Spread(ratios).median]))
        result.rows.append(ResultRow(group: hitGroup, peer: "Redis GET round trip (RESP3 client)", unit: "ns/op",
                                     value: Spread(roundTrips)))
        let fillGroup = "miss fills, \(callers) concurrent callers"
        result.rows.append(ResultRow(group: fillGroup, peer: "near-cache miss fills", unit: "fills/s", value: Spread(fills),
                                     extra: ["ratio_to_redis_benchmark": Spread(fillRatios).median]))
        result.rows.append(ResultRow(group: fillGroup, peer: "near-cache miss fills, client CPU", unit: "us/fill",
                                     value: Spread(fillCPU)))
        result.rows.append(ResultRow(group: fillGroup, peer: "redis-benchmark -t get -c 16 -P 16", unit: "req/s",
                                     value: Spread(benchmark)))
        result.rows.append(ResultRow(group: "invalidation, write on A to drop on B", peer: "p50", unit: "us", value: Spread(p50s)))
        result.rows.append(ResultRow(group: "invalidation, write on A to drop on B", peer: "p99", unit: "us", value: Spread(p99s)))

        var table = Table("measure", "value")
        table.add("hit, no shared tier ns/op", spreadText(Spread(plain)))
        table.add("hit, near-cache ns/op", spreadText(Spread(near)))
        table.add("near-cache / no shared tier", spreadText(Spread(ratios), 2) + "x")
        table.add("Redis GET round trip ns/op", spreadText(Spread(roundTrips), 0))
        table.add("miss fills/s (\(callers) callers)", spreadText(Spread(fills), 0))
        table.add("client CPU us per fill", spreadText(Spread(fillCPU), 2))
        table.add("redis-benchmark -c 16 -P 16 GET/s", spreadText(Spread(benchmark), 0))
        table.add("fills / redis-benchmark", spreadText(Spread(fillRatios), 2) + "x")
        table.add("invalidation p50 us", spreadText(Spread(p50s)))
        table.add("invalidation p99 us", spreadText(Spread(p99s)))
        print(table.render())
        let hitRatio = Spread(ratios).median, fillRatio = Spread(fillRatios).median, p99 = Spread(p99s).median
        result.targets = [
            .init(name: "near-cache hit", goal: "at most 1.25x a hit without the shared tier",
                  measured: fmt(hitRatio, 2) + "x", met: hitRatio <= 1.25),
            .init(name: "miss-fill throughput, \(callers) callers", goal: "at least 50 % of redis-benchmark -t get -c 16 -P 16",
                  measured: fmt(fillRatio * 100, 1) + " %", met: fillRatio >= 0.5),
            .init(name: "invalidation latency p99", goal: "under 1 ms on loopback", measured: fmt(p99, 0) + " us", met: p99 < 1000),
        ]
        result.notes = [
            "One private redis-server per Bench run. Hits: both caches hold 1000 keys and are read in turn \(reads) times from one thread, the two in alternating order.",
            "A batch of fills sends one MGET of its keys and a PTTL per key, pipelined in one write (n + 1 commands for n keys, one round trip): PTTL so the local copy never outlives the server's; tracking is on for the connection (default mode), so no CLIENT CACHING YES is needed.",
            "Fills: \(callers) threads each call fetchValues(forKeys:) with \(batchSize) distinct keys present in Redis but not in memory, for \(fillSeconds) s (redis-benchmark -P 16 keeps 16 requests in flight per client); one connection per cache carries them pipelined.",
            "Invalidation: B holds the key; the time runs from the start of A's setValue until B no longer holds it (B polled with contains from the measuring thread).",
        ]
        for note in result.notes { print("  note: " + note) }
        for target in result.targets { print("  target: \(target.name): \(target.goal); measured \(target.measured)\(target.met ? "" : " (NOT MET)")") }
        return result
    }

    static func configuration(_ server: RedisTestServer, prefix: String) -> SharedTierConfiguration {
        .redis(host: server.host, port: server.port, keyPrefix: prefix)
    }

    static func connect<K, V>(_ cache: Cache<K, V>) throws {
        let done = DispatchSemaphore(value: 0)
        let failure = LockedBox<CacheError?>(nil)
        Task {
            do { try await cache.waitForSharedTier(timeout: .seconds(20)) } catch { failure.value = error as? CacheError }
            done.signal()
        }
        done.wait()
        if let error = failure.value { throw error }
    }

    /// ns per memory hit, without and with the shared tier (same keys, same values).
    static func hitNanoseconds(_ server: RedisTestServer, reads: Int, run: Int) throws -> (plain: Double, near: Double) {
        let bytes = [UInt8](repeating: 1, count: 100)
        let plain = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 10_000))
        let near = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 10_000),
                                           shared: configuration(server, prefix: "bench-hit:"))
        defer { near.close() }
        try connect(near)
        let keys = Array(0..<1_000)
        for k in keys {
            try plain.setValue(bytes, forKey: k)
            try near.setValue(bytes, forKey: k)
        }
        if run % 2 == 0 {
            let p = TierHitSuite.hitNanoseconds(plain, keys, reads)
            return (p, TierHitSuite.hitNanoseconds(near, keys, reads))
        }
        let n = TierHitSuite.hitNanoseconds(near, keys, reads)
        return (TierHitSuite.hitNanoseconds(plain, keys, reads), n)
    }

    /// ns per sequential GET on one RESP3 connection (the round trip a near-cache hit saves).
    static func getRoundTripNanoseconds(_ server: RedisTestServer, count: Int) throws -> Double {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let connection = try RESP3Connection.connect(
            configuration: .init(host: server.host, port: server.port), eventLoop: group.next()).wait()
        defer { _ = try? connection.closeFuture().wait() }
        _ = try connection.sendFuture([RESP3Command("SET", "bench-rtt", "x")]).wait()
        let t0 = nowNanoseconds()
        for _ in 0..<count { _ = try connection.sendFuture([RESP3Command("GET", "bench-rtt")]).wait() }
        return Double(nowNanoseconds() - t0) / Double(count)
    }

    /// Fills per second, and this process's CPU µs per fill (callers and event loop together:
    /// steadier than the rate on a shared machine): `callers` threads each read keys that Redis
    /// holds and memory does not.
    static func fillsPerSecond(_ server: RedisTestServer, seconds: Double) throws -> (rate: Double, cpu: Double) {
        let keyCount = 200_000
        try populate(server, prefix: "bench-fill:", count: keyCount)
        return try fillsPerSecond(configuration(server, prefix: "bench-fill:"), keyCount: keyCount, seconds: seconds)
    }

    /// Fills per second and client CPU µs per fill through a cache on `shared`, whose server holds
    /// keys `0..<keyCount` under its prefix (the cache holds 1,000, so every read of a batch misses).
    static func fillsPerSecond(_ shared: SharedTierConfiguration, keyCount: Int,
                               seconds: Double) throws -> (rate: Double, cpu: Double) {
        let cache = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 1_000), shared: shared)
        defer { cache.close() }
        try connect(cache)
        let stop = LockedBox(false)
        let counts = LockedBox([Int](repeating: 0, count: callers))
        let started = DispatchGroup(), finished = DispatchGroup()
        let t0 = LockedBox<UInt64>(0)
        for caller in 0..<callers {
            started.enter()
            finished.enter()
            Thread {
                started.leave()
                var n = 0
                var key = caller
                var batch = [Int](repeating: 0, count: batchSize)
                while !stop.value {
                    for i in 0..<batchSize {
                        batch[i] = key % keyCount
                        key += callers
                    }
                    _ = try? cache.fetchValues(forKeys: batch)
                    n += batchSize
                }
                counts.update { $0[caller] = n }
                finished.leave()
            }.start()
        }
        started.wait()
        let cpu0 = processCPUSeconds()
        t0.value = nowNanoseconds()
        usleep(useconds_t(seconds * 1e6))
        stop.value = true
        finished.wait()
        let elapsed = Double(nowNanoseconds() - t0.value) / 1e9
        let fills = Double(counts.value.reduce(0, +))
        return (fills / elapsed, (processCPUSeconds() - cpu0) * 1e6 / fills)
    }

    /// User and system CPU time of this process so far (every thread).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// `count` keys of 100 bytes under `prefix`, written pipelined.
    static func populate(_ server: RedisTestServer, prefix: String, count: Int) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let connection = try RESP3Connection.connect(
            configuration: .init(host: server.host, port: server.port), eventLoop: group.next()).wait()
        defer { _ = try? connection.closeFuture().wait() }
        let value = [UInt8](repeating: 1, count: 100)
        var start = 0
        while start < count {
            let batch = (start..<min(count, start + 1000)).map { key -> RESP3Command in
                var name = Array(prefix.utf8)
                key.appendBytes(to: &name)
                var bytes: [UInt8] = []
                value.appendBytes(to: &bytes)
                return RESP3Command("SET", name, bytes)
            }
            _ = try connection.sendFuture(batch).wait()
            start += 1000
        }
    }

    /// GET requests per second from `redis-benchmark -t get -c 16 -P 16` on the same server.
    static func redisBenchmarkGets(_ server: RedisTestServer, requests: Int) throws -> Double {
        let (_, data) = try runCapturingOutput("/usr/bin/redis-benchmark", [
            "-h", server.host, "-p", String(server.port), "-t", "get", "-c", "16", "-P", "16",
            "-n", String(requests), "-q",
        ])
        // The last "GET: N requests per second" (progress lines come before it, split by CR).
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).reversed() {
            if let range = line.range(of: "GET: "), let end = line.range(of: " requests per second") {
                if let value = Double(line[range.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces)) {
                    return value
                }
            }
        }
        throw CacheError(code: .invalidConfiguration, message: "could not read redis-benchmark's output: \(text.suffix(200))")
    }

    /// From the start of a set on A to B no longer holding the key: p50 and p99 in µs.
    static func invalidationLatency(_ server: RedisTestServer, count: Int) throws -> (p50: Double, p99: Double) {
        let a = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 1_000), shared: configuration(server, prefix: "bench-inv:"))
        let b = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 1_000), shared: configuration(server, prefix: "bench-inv:"))
        defer { a.close(); b.close() }
        try connect(a)
        try connect(b)
        var samples: [Double] = []
        samples.reserveCapacity(count)
        for i in 0..<count {
            let key = i % 100
            try a.setValue([UInt8(i & 0xff)], forKey: key)
            guard try b.fetchValue(forKey: key) != nil, b.contains(key) else { continue }
            let t0 = nowNanoseconds()
            try a.setValue([UInt8((i + 1) & 0xff)], forKey: key)
            while b.contains(key) { sched_yield() }  // leaves the cores to the loops and the server
            samples.append(Double(nowNanoseconds() - t0) / 1_000)
        }
        samples.sort()
        guard !samples.isEmpty else { return (.nan, .nan) }
        return (samples[samples.count / 2], samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))])
    }
}

/// A value shared between the suite's threads, behind a lock.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
    func update(_ body: (inout T) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}

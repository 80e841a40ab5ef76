import Foundation
import Larder
import MetricsTestKit
import RedisTestSupport
import Testing

/// The shared tier against a private redis-server (one per test, on a free loopback port):
/// coherence between instances, faults, and bad input.
@Suite struct SharedTierRedisTests {
    static func makeCache(_ server: RedisTestServer, prefix: String = "t:", maxCount: Int = 1000,
                          clock: any CacheClock = SystemCacheClock(),
                          _ adjust: (inout SharedTierConfiguration) -> Void = { _ in }) throws -> Cache<String, String> {
        var shared = SharedTierConfiguration.redis(host: server.host, port: server.port, keyPrefix: prefix)
        adjust(&shared)
        return try Cache<String, String>(configuration: .init(maxCount: maxCount), shared: shared, clock: clock)
    }

    static func connected(_ caches: Cache<String, String>...) async throws {
        for cache in caches { try await cache.waitForSharedTier(timeout: .seconds(20)) }
    }

    /// Two instances on `server` under the same prefix, connected.
    static func twoInstances(_ server: RedisTestServer) async throws -> (Cache<String, String>, Cache<String, String>) {
        let a = try makeCache(server)
        let b = try makeCache(server)
        try await connected(a, b)
        return (a, b)
    }

    @Test func aWriteOnOneInstanceReplacesTheOtherInstancesCopy() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let (a, b) = try await Self.twoInstances(server)
        defer { a.close(); b.close() }

        try await a.setValue("v1", forKey: "k")
        #expect(try await b.fetchValue(forKey: "k") == "v1")
        #expect(b.contains("k"), "the fill is kept in B's memory")
        let readsBefore = b.sharedTierStatistics!.reads
        #expect(try await b.fetchValue(forKey: "k") == "v1")
        #expect(b.sharedTierStatistics!.reads == readsBefore, "a near-cache hit does not ask Redis")

        try await a.setValue("v2", forKey: "k")
        // The invalidation push reaches B (the wait is for that event, with a generous limit).
        #expect(await eventually { !b.contains("k") })
        #expect(b.sharedTierStatistics!.invalidations >= 1)
        #expect(try await b.fetchValue(forKey: "k") == "v2")

        // A write behind the caches' backs (another program) invalidates too.
        try server.cli("SET", "t:k", "v3")
        #expect(await eventually { !a.contains("k") && !b.contains("k") })
        #expect(try await a.fetchValue(forKey: "k") == "v3")
    }

    @Test func anInstanceReadsItsOwnWritesFromMemory() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let a = try Self.makeCache(server)
        defer { a.close() }
        try await Self.connected(a)
        try await a.setValue("mine", forKey: "k")
        let reads = a.sharedTierStatistics!.reads
        #expect(a.value(forKey: "k") == "mine")
        #expect(a.sharedTierStatistics!.reads == reads)
        #expect(try server.cli("GET", "t:k") == "mine")
        // A removal deletes both copies.
        a.removeValue(forKey: "k")
        #expect(!a.contains("k"))
        #expect(try server.cli("EXISTS", "t:k") == "0")
        #expect(try await a.fetchValue(forKey: "k") == nil)
    }

    @Test func theLocalCopyNeverOutlivesTheServersTimeToLive() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let clock = ManualCacheClock()
        let a = try Self.makeCache(server)
        let b = try Self.makeCache(server, clock: clock)
        defer { a.close(); b.close() }
        try await Self.connected(a, b)
        try await a.setValue("short", forKey: "k", ttl: .seconds(60))
        #expect(try await b.fetchValue(forKey: "k") == "short")
        #expect(b.contains("k"))
        clock.advance(by: .seconds(61))
        #expect(!b.contains("k"), "B's copy expires with the PTTL it read")
        // The write's own TTL reached the server.
        let ttl = Int(try server.cli("PTTL", "t:k")) ?? -3
        #expect(ttl > 0 && ttl <= 60_000)
    }

    @Test func aFlushOfTheServerDropsEverySharedEntry() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let a = try Self.makeCache(server)
        defer { a.close() }
        try await Self.connected(a)
        for i in 0..<20 { try await a.setValue("v\(i)", forKey: "k\(i)") }
        #expect(a.count == 20)
        let drops = a.sharedTierStatistics!.fullDrops
        try server.cli("FLUSHALL")
        #expect(await eventually { a.sharedTierStatistics!.fullDrops > drops })
        for i in 0..<20 { #expect(!a.contains("k\(i)")) }
        #expect(try await a.fetchValue(forKey: "k0") == nil)
    }

    @Test func aKilledConnectionDropsEverythingAndReconnectsWithTracking() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let a = try Self.makeCache(server)
        let b = try Self.makeCache(server, prefix: "t:")
        defer { a.close(); b.close() }
        try await Self.connected(a, b)
        try await a.setValue("v1", forKey: "k")
        #expect(try await b.fetchValue(forKey: "k") == "v1")
        let connections = b.sharedTierStatistics!.connections
        // Kill B's connection (the only one that tracks "t:k" besides A's).
        let clients = try server.cli("CLIENT", "LIST")
        let ids = clients.split(separator: "\n").compactMap { line -> String? in
            guard let id = line.split(separator: " ").first(where: { $0.hasPrefix("id=") }) else { return nil }
            return String(id.dropFirst(3))
        }
        #expect(ids.count >= 2)
        for id in ids { try server.cli("CLIENT", "KILL", "ID", id) }
        #expect(await eventually { b.sharedTierStatistics!.connections > connections && b.sharedTierStatistics!.connected })
        #expect(!b.contains("k"), "the loss dropped B's copy")
        try await Self.connected(a)
        #expect(try await b.fetchValue(forKey: "k") == "v1")
        // Tracking is on again on the new connection: a write elsewhere reaches B.
        try server.cli("SET", "t:k", "v2")
        #expect(await eventually { !b.contains("k") })
        #expect(try await b.fetchValue(forKey: "k") == "v2")
    }

    @Test func aPausedServerPastTheHeartbeatDeadlineDropsEverything() async throws {
        let server = try RedisTestServer()
        defer { server.resume(); server.stop() }
        let a = try Self.makeCache(server) {
            $0.heartbeatInterval = .milliseconds(50)
            $0.heartbeatTimeout = .milliseconds(200)
        }
        defer { a.close() }
        try await Self.connected(a)
        try await a.setValue("v1", forKey: "k")
        let losses = a.sharedTierStatistics!.connectionLosses
        server.pause()
        #expect(await eventually { a.sharedTierStatistics!.connectionLosses > losses })
        #expect(!a.contains("k"))
        #expect(throws: CacheError.self) { try a.fetchValue(forKey: "k") }
        server.resume()
        try await Self.connected(a)
        #expect(try await a.fetchValue(forKey: "k") == "v1")
    }

    @Test func anUnreachableServerFailsFastWithTheAddressAndLastError() async throws {
        let port = try RedisTestServer.freeLoopbackPort()
        let cache = try Cache<String, String>(
            configuration: .init(maxCount: 10), shared: .redis(port: port, keyPrefix: "t:"))
        defer { cache.close() }
        do {
            try await cache.waitForSharedTier(timeout: .milliseconds(300))
            Issue.record("nothing listens on \(port), yet the cache connected")
        } catch {
            #expect(error.code == .sharedTierUnavailable)
        }
        do {
            _ = try await cache.fetchValue(forKey: "k")
            Issue.record("a read with nothing listening returned")
        } catch {
            #expect(error.code == .sharedTierUnavailable)
            #expect(error.message.contains("127.0.0.1:\(port)"))
        }
        #expect(throws: CacheError.self) { try cache.setValue("v", forKey: "k") }
        #expect(cache.value(forKey: "k") == nil, "the non-throwing read calls it a miss")
        #expect(!cache.contains("k"), "a failed write leaves nothing behind")
        #expect(cache.sharedTierStatistics!.unavailable >= 2)
    }

    @Test func degradedModeServesLocalWritesBoundedByTheStalenessBound() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let clock = ManualCacheClock()
        let cache = try Self.makeCache(server, clock: clock) {
            $0.whenUnavailable = .degradeToMemory
            $0.heartbeatInterval = .milliseconds(50)
            $0.heartbeatTimeout = .milliseconds(200)
        }
        defer { cache.close() }
        try await Self.connected(cache)
        try await cache.setValue("shared", forKey: "old")
        server.kill()
        #expect(await eventually { !cache.sharedTierStatistics!.connected })
        #expect(try await cache.fetchValue(forKey: "old") == nil, "nothing from before the loss is served")
        try await cache.setValue("local", forKey: "k", ttl: .seconds(3600))
        #expect(cache.value(forKey: "k") == "local")
        // Local-only writes live no longer than the bound (0.05 * 2 + 0.2 s).
        clock.advance(by: .milliseconds(301))
        #expect(cache.value(forKey: "k") == nil)
        try await cache.setValue("local2", forKey: "k2")
        try server.restart()
        try await Self.connected(cache)
        #expect(!cache.contains("k2"), "the reconnection drops what was written locally")
        #expect(try await cache.fetchValue(forKey: "k2") == nil)
    }

    @Test func aValueOverTheServersLimitIsRefusedAndTheOldOneStays() async throws {
        let server = try RedisTestServer(extraArguments: ["--proto-max-bulk-len", "1mb"])
        defer { server.stop() }
        let cache = try Cache<String, [UInt8]>(
            configuration: .init(maxCount: 10),
            shared: .redis(host: server.host, port: server.port, keyPrefix: "t:"))
        defer { cache.close() }
        try await cache.waitForSharedTier(timeout: .seconds(20))
        // The limit was read when the connection was made, before any write could go out.
        try await cache.setValue([1, 2, 3], forKey: "k")
        do {
            try await cache.setValue([UInt8](repeating: 7, count: 2 << 20), forKey: "k")
            Issue.record("a 2 MiB value was accepted by a server limited to 1 MiB")
        } catch {
            #expect(error.code == .valueTooLarge)
            #expect(error.message.contains("proto-max-bulk-len"))
        }
        #expect(cache.value(forKey: "k") == [1, 2, 3])
        #expect(cache.sharedTierStatistics!.connectionLosses == 0, "the refusal never reached the wire")
    }

    @Test func aWrongPasswordIsReportedAsSuch() async throws {
        let server = try RedisTestServer(extraArguments: ["--requirepass", "right"])
        defer { server.stop() }
        let cache = try Self.makeCache(server) { $0.password = "wrong" }
        defer { cache.close() }
        do {
            try await cache.waitForSharedTier(timeout: .seconds(2))
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.code == .sharedTierUnavailable)
            #expect(error.message.contains("authentication"), "\(error.message)")
        }
        let good = try Self.makeCache(server) { $0.password = "right" }
        defer { good.close() }
        try await Self.connected(good)
        try await good.setValue("v", forKey: "k")
        #expect(try server.cli("GET", "t:k") == "v")
    }

    @Test func aServerThatDoesNotSpeakRESP3IsNamedInTheError() async throws {
        let server = try await HTTPAnswerServer()
        let port = server.port
        let cache = try Cache<String, String>(configuration: .init(maxCount: 10),
                                              shared: .redis(port: port, keyPrefix: "t:"))
        do {
            try await cache.waitForSharedTier(timeout: .seconds(2))
            Issue.record("connected to an HTTP server")
        } catch {
            #expect(error.code == .sharedTierUnavailable)
            #expect(error.message.contains("does not speak RESP3"), "\(error.message)")
        }
        cache.close()
        try await server.close()
    }

    @Test func aKeyOfAnotherTypeIsAClearRejection() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let cache = try Self.makeCache(server)
        defer { cache.close() }
        try await Self.connected(cache)
        try server.cli("LPUSH", "t:list", "x")
        do {
            _ = try await cache.fetchValue(forKey: "list")
            Issue.record("a list key was read as a value")
        } catch {
            #expect(error.code == .sharedTierRejected)
            #expect(error.message.contains("WRONGTYPE"))
        }
        #expect(cache.sharedTierStatistics!.connected, "a refused command leaves the connection up")
    }

    @Test func removeAllDeletesTheCachesKeysOnlyUnderItsPrefix() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let cache = try Self.makeCache(server, prefix: "a*[x]:")
        defer { cache.close() }
        try await Self.connected(cache)
        for i in 0..<2500 { try await cache.setValue("v", forKey: "k\(i)") }
        try server.cli("SET", "other", "kept")
        try server.cli("SET", "a:nope", "kept")
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(try server.cli("DBSIZE") == "2")
        #expect(try server.cli("GET", "other") == "kept")
    }

    @Test func theTrackingTableEvictingKeysInvalidatesThem() async throws {
        let server = try RedisTestServer(extraArguments: ["--tracking-table-max-keys", "10"])
        defer { server.stop() }
        let a = try Self.makeCache(server)
        defer { a.close() }
        try await Self.connected(a)
        for i in 0..<50 { try server.cli("SET", "t:k\(i)", "v\(i)") }
        for i in 0..<50 { #expect(try await a.fetchValue(forKey: "k\(i)") == "v\(i)") }
        // Redis forgets keys beyond 10 and says so: no more than about 10 copies stay local.
        #expect(await eventually { a.count <= 11 })
        #expect(a.sharedTierStatistics!.invalidations >= 39)
    }

    @Test func entriesOnDiskAreRevalidatedAgainstRedisAfterARestart() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-shared-lmdb-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let persistence = PersistenceConfiguration.lmdb(directory: directory, maxBytes: 64 << 20, durability: .synchronous)
        let shared = SharedTierConfiguration.redis(host: server.host, port: server.port, keyPrefix: "t:")
        do {
            let first = try Cache<String, String>(configuration: .init(maxCount: 100), shared: shared,
                                                  persistence: persistence)
            try await first.waitForSharedTier(timeout: .seconds(20))
            for key in ["same", "changed", "deleted"] { try await first.setValue("old", forKey: key) }
            first.close()
        }
        // While this instance is down, another changes one key and deletes another.
        try server.cli("SET", "t:changed", "new")
        try server.cli("DEL", "t:deleted")
        let second = try Cache<String, String>(configuration: .init(maxCount: 100), shared: shared,
                                               persistence: persistence)
        defer { second.close() }
        #expect(await eventually { second.sharedTierStatistics!.revalidated == 3 })
        #expect(second.contains("same") && second.contains("changed"))
        #expect(!second.contains("deleted"), "a key Redis no longer has is not brought back from disk")
        let reads = second.sharedTierStatistics!.reads
        #expect(second.value(forKey: "changed") == "new", "the disk's value is never served")
        #expect(second.value(forKey: "same") == "old")
        #expect(second.sharedTierStatistics!.reads == reads, "revalidated entries are near-cache hits")
    }

    @Test func theSharedMetricsEqualTheSharedStatistics() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let (a, b) = try await Self.twoInstances(server)
        defer { a.close(); b.close() }
        let backend = TestMetrics()
        let metrics = CacheMetrics(cache: b, factory: backend)
        try await a.setValue("v", forKey: "k")
        #expect(try await b.fetchValue(forKey: "k") == "v")
        #expect(try await b.fetchValue(forKey: "none") == nil)
        try await b.setValue("w", forKey: "mine")
        b.removeValue(forKey: "mine")
        try await a.setValue("v2", forKey: "k")
        #expect(await eventually { b.sharedTierStatistics!.invalidations >= 1 })
        // The statistics keep moving (a late invalidation, a reconnection on a loaded machine):
        // compare with a snapshot that did not change across the update, so the update saw it.
        var s = try #require(b.sharedTierStatistics)
        for _ in 0..<1000 {
            metrics.update()
            let after = try #require(b.sharedTierStatistics)
            if after == s { break }
            s = after
        }
        let name = [("cache", "default")]
        func counter(_ label: String) throws -> Int { Int(try backend.expectCounter(label, name).totalValue) }
        #expect(s.reads == 2 && s.readHits == 1 && s.writes == 1 && s.deletes == 1)
        #expect(try counter("larder_shared_reads_total") == s.reads)
        #expect(try counter("larder_shared_read_hits_total") == s.readHits)
        #expect(try counter("larder_shared_writes_total") == s.writes)
        #expect(try counter("larder_shared_deletes_total") == s.deletes)
        #expect(try counter("larder_shared_invalidations_total") == s.invalidations)
        #expect(try counter("larder_shared_full_drops_total") == s.fullDrops)
        #expect(try backend.expectGauge("larder_shared_connected", name).lastValue == 1)
    }

    @Test func badConfigurationsAreRefusedWithTheFieldToChange() throws {
        func refused(_ shared: SharedTierConfiguration, supportsExpiry: Bool = true, mentioning text: String) {
            do {
                _ = try Cache<String, String>(configuration: .init(maxCount: 10, supportsExpiry: supportsExpiry),
                                              shared: shared)
                Issue.record("accepted: \(shared)")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains(text), "\(error.message)")
            }
        }
        refused(.redis(keyPrefix: ""), mentioning: "keyPrefix")
        refused(.redis(port: 0), mentioning: "port")
        refused(.redis(host: ""), mentioning: "host")
        refused(.redis(heartbeatInterval: .zero), mentioning: "heartbeatInterval")
        refused(.redis(maxStaleness: .milliseconds(100)), mentioning: "maxStaleness")
        refused(.redis(maxValueBytes: 0), mentioning: "maxValueBytes")
        refused(.redis(), supportsExpiry: false, mentioning: "supportsExpiry")
        #expect(SharedTierConfiguration.redis().effectiveMaxStaleness == .milliseconds(1250))
    }
}


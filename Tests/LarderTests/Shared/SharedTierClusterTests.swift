import Foundation
import RedisTestSupport
import Testing

@testable import Larder

/// The shared tier in cluster mode against a local cluster (three primaries, three replicas):
/// keys reach the primary that owns their slot, instances stay coherent, hash tags keep related
/// keys together, writes can wait for replicas, and bad seeds are named in the error.
@Suite(.serialized) struct SharedTierClusterTests {
    static func makeCache(seeds: [Int], prefix: String = "c:",
                          _ adjust: (inout SharedTierConfiguration) -> Void = { _ in }) throws -> Cache<String, String> {
        var shared = SharedTierConfiguration.redisCluster(
            seeds: seeds.map { .init(host: "127.0.0.1", port: $0) }, keyPrefix: prefix)
        adjust(&shared)
        return try Cache<String, String>(configuration: .init(maxCount: 1000), shared: shared)
    }

    /// The names each live primary holds under `prefix`, by port.
    static func keysByPrimary(_ cluster: RedisTestCluster, prefix: String = "c:") throws -> [Int: Set<String>] {
        var result: [Int: Set<String>] = [:]
        for node in cluster.nodes where node.pid != nil {
            guard try node.cli("ROLE").hasPrefix("master") else { continue }
            result[node.port] = Set(try node.cli("KEYS", prefix + "*").split(separator: "\n").map(String.init))
        }
        return result
    }

    /// The primary that holds `name`, if one does.
    static func holder(of name: String, in keys: [Int: Set<String>]) -> Int? {
        keys.first { $0.value.contains(name) }?.key
    }

    @Test func instancesStayCoherentAcrossTheClustersPrimaries() async throws {
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        // One seed is enough; a dead one first is skipped.
        let dead = try RedisTestServer.freeLoopbackPort()
        let a = try Self.makeCache(seeds: [dead, cluster.nodes[0].port])
        let b = try Self.makeCache(seeds: [cluster.nodes[4].port])
        defer { a.close(); b.close() }
        try await a.waitForSharedTier(timeout: .seconds(30))
        try await b.waitForSharedTier(timeout: .seconds(30))

        let keys = (0..<60).map { "key\($0)" }
        for key in keys { try await a.setValue("v1:\(key)", forKey: key) }
        // Each key is on the primary that owns its slot, and the keys spread over all three.
        var holders: Set<Int> = []
        let stored = try Self.keysByPrimary(cluster)
        for key in keys {
            let holder = try #require(Self.holder(of: "c:\(key)", in: stored), "\(key) is on no primary")
            holders.insert(holder)
        }
        #expect(holders.count == 3, "keys spread over the primaries: \(holders)")

        let filled = try await b.fetchValues(forKeys: keys)
        #expect(filled == keys.map { "v1:\($0)" })
        #expect(keys.allSatisfy { b.contains($0) }, "B keeps its fills")
        // A's writes reach B's copies through the invalidations of each key's own node.
        for key in keys.prefix(20) { try await a.setValue("v2:\(key)", forKey: key) }
        #expect(await eventually { keys.prefix(20).allSatisfy { !b.contains($0) } })
        for key in keys.prefix(20) { #expect(try await b.fetchValue(forKey: key) == "v2:\(key)") }
        // A removal deletes the key on its node; removeAll deletes the prefix on every primary.
        a.removeValue(forKey: keys[59])
        #expect(Self.holder(of: "c:\(keys[59])", in: try Self.keysByPrimary(cluster)) == nil)
        #expect(await eventually { !b.contains(keys[59]) })
        a.removeAll()
        #expect(try Self.keysByPrimary(cluster).values.allSatisfy(\.isEmpty), "removeAll left keys")
        #expect(try await b.fetchValue(forKey: keys[0]) == nil)
    }

    @Test func keysThatShareAHashTagLandOnOneNode() async throws {
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        let cache = try Self.makeCache(seeds: [cluster.nodes[0].port])
        defer { cache.close() }
        try await cache.waitForSharedTier(timeout: .seconds(30))
        let users = (0..<6).map { "{user\($0)}" }
        for user in users {
            for part in ["profile", "cart", "orders", "settings"] {
                try await cache.setValue(part, forKey: "\(user):\(part)")
            }
        }
        var nodesUsed: Set<Int> = []
        let stored = try Self.keysByPrimary(cluster)
        for user in users {
            let holders = try ["profile", "cart", "orders", "settings"].map { part in
                try #require(Self.holder(of: "c:\(user):\(part)", in: stored))
            }
            #expect(Set(holders).count == 1, "\(user)'s keys are on \(holders)")
            #expect(Set(["profile", "cart"].map { ClusterSlotMap.slot(of: Array("c:\(user):\($0)".utf8)) }).count == 1)
            nodesUsed.formUnion(holders)
        }
        // The tags differ, so the users spread over more than one node.
        #expect(nodesUsed.count > 1, "\(nodesUsed)")
    }

    @Test func aSlotInMigrationIsFollowedThroughAsk() async throws {
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        let a = try Self.makeCache(seeds: [cluster.nodes[0].port])
        let b = try Self.makeCache(seeds: [cluster.nodes[0].port])
        defer { a.close(); b.close() }
        try await a.waitForSharedTier(timeout: .seconds(30))
        try await b.waitForSharedTier(timeout: .seconds(30))
        // The slot of "c:moving" starts migrating from its owner to another primary, with no key
        // moved yet: a key missing on the source is answered with ASK.
        let slot = ClusterSlotMap.slot(of: Array("c:moving".utf8))
        let owners = try SharedTierClusterCoherenceTests.slots(cluster)
        let (primaries, ids) = try SharedTierClusterCoherenceTests.roles(cluster)
        let source = try #require(primaries.first { owners[$0.port]?.contains(slot) == true })
        let target = try #require(primaries.first { $0.port != source.port })
        _ = try target.cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", ids[source.port] ?? "")
        _ = try source.cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", ids[target.port] ?? "")
        #expect(try source.cli("GET", "c:moving").hasPrefix("ASK \(slot)"))

        // The write (a transaction) goes to the target behind one ASKING; so do the reads.
        try await a.setValue("there", forKey: "moving")
        #expect(try target.cli("CLUSTER", "COUNTKEYSINSLOT", String(slot)) == "1")
        #expect(try source.cli("CLUSTER", "COUNTKEYSINSLOT", String(slot)) == "0")
        #expect(try await b.fetchValue(forKey: "moving") == "there")
        #expect(try await b.fetchValues(forKeys: ["moving", "elsewhere"]) == ["there", nil])
    }

    @Test func aWriteCanWaitForItsReplica() async throws {
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        let seeds = [cluster.nodes[0].port]
        let one = try Self.makeCache(seeds: seeds) { $0.waitForReplicas = 1 }
        let two = try Self.makeCache(seeds: seeds) { $0.waitForReplicas = 2; $0.replicaTimeout = .milliseconds(500) }
        defer { one.close(); two.close() }
        try await one.waitForSharedTier(timeout: .seconds(30))
        try await two.waitForSharedTier(timeout: .seconds(30))
        // Once the replicas have caught up with their primaries (a new cluster's first seconds).
        var written = false
        for _ in 0..<60 where !written { written = (try? await one.setValue("kept", forKey: "k")) != nil }
        #expect(written)
        #expect(one.value(forKey: "k") == "kept")
        // The same for the primary that owns "other" (perhaps another one), so
        // that its replica's acknowledgement is the one counted below.
        written = false
        for _ in 0..<60 where !written { written = (try? await one.setValue("first", forKey: "other")) != nil }
        #expect(written)
        // Each primary has one replica: waiting for two fails, and says what happened.
        do {
            try await two.setValue("maybe", forKey: "other")
            Issue.record("a write waiting for 2 of 1 replicas returned")
        } catch {
            #expect(error.code == .sharedTierRejected)
            #expect(error.message.contains("1 of the 2 replicas") && error.message.contains("waitForReplicas"), "\(error.message)")
        }
        #expect(!two.contains("other"), "an unconfirmed write is not installed")
    }

    @Test func seedsThatLeadNowhereAreNamedWithWhatToFix() async throws {
        func failure(_ cache: Cache<String, String>) async -> String {
            do {
                try await cache.waitForSharedTier(timeout: .seconds(2))
                return "connected"
            } catch {
                #expect(error.code == .sharedTierUnavailable)
                return error.message
            }
        }
        // No node answers.
        let dead = try RedisTestServer.freeLoopbackPort()
        let nowhere = try Self.makeCache(seeds: [dead])
        let message = await failure(nowhere)
        nowhere.close()
        #expect(message.contains("127.0.0.1:\(dead)") && message.contains("seed"), "\(message)")

        // A server that is not in cluster mode.
        let plain = try RedisTestServer()
        defer { plain.stop() }
        let notCluster = try Self.makeCache(seeds: [plain.port])
        let plainMessage = await failure(notCluster)
        notCluster.close()
        #expect(plainMessage.contains("127.0.0.1:\(plain.port)") && plainMessage.contains("cluster support disabled"),
                "\(plainMessage)")

        // A cluster node that serves only some slots.
        let partial = try RedisTestServer(extraArguments: [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        ], clusterBus: true)
        defer { partial.stop() }
        _ = try partial.cli("CLUSTER", "ADDSLOTSRANGE", "0", "8000")
        let uncovered = try Self.makeCache(seeds: [partial.port])
        let partialMessage = await failure(uncovered)
        uncovered.close()
        #expect(partialMessage.contains("8001-16383") && partialMessage.contains("redis-cli --cluster fix"), "\(partialMessage)")

        // Nothing to discover from at all.
        #expect(throws: CacheError.self) { try Self.makeCache(seeds: []) }
        do {
            _ = try Self.makeCache(seeds: [0])
            Issue.record("a seed on port 0 was accepted")
        } catch {
            let error = try #require(error as? CacheError)
            #expect(error.code == .invalidConfiguration && error.message.contains("clusterSeeds[0]"), "\(error.message)")
        }
    }
}

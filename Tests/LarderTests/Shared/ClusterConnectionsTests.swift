import Foundation
import NIOCore
import NIOPosix
import RESP3
import RedisTestSupport
import Testing

@testable import Larder

/// Routing by slot over a local cluster (three primaries, three replicas): every key reaches its
/// owner, a resharding is followed through MOVED, a failover through a refreshed map.
@Suite(.serialized) struct ClusterConnectionsTests {
    /// What the router reported, for the test to wait on.
    final class Events: Sendable {
        let readies = Counter()
        let mapChanges = Counter()
        let failures = LockedList<String>()
    }

    static func router(seeds: [(String, Int)], group: MultiThreadedEventLoopGroup, events: Events) -> ClusterConnections {
        let template = RESP3Client.Configuration(
            connection: .init(host: "unused", port: 1, connectTimeout: .seconds(1)),
            reconnectInitialDelay: .milliseconds(50), reconnectMaxDelay: .milliseconds(500),
            heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(1))
        return ClusterConnections(
            seeds: seeds.map { .init(host: $0.0, port: $0.1, id: nil) }, template: template, eventLoop: group.next(),
            callbacks: .init(onReady: { _ in events.readies.add() }, onMapChanged: { _ in events.mapChanges.add() },
                             onRefreshFailed: { events.failures.append($0.message) }))
    }

    static func keySlot(_ key: String) -> Int { ClusterSlotMap.slot(of: Array(key.utf8)) }

    /// SET then GET of `key` through the router, retried until `limit` (a failover takes seconds).
    static func roundTrip(_ router: ClusterConnections, _ key: String, _ value: String, limit: Duration = .seconds(30)) -> Bool {
        waitUntil(limit: limit) {
            let slot = keySlot(key)
            guard let set = try? router.send(slot: slot, [RESP3Command("SET", key, value)]).wait(),
                  set.first?.string == "OK",
                  let get = try? router.send(slot: slot, [RESP3Command("GET", key)]).wait() else {
                usleep(20_000)
                return false
            }
            return get.first?.string == value
        }
    }

    @Test func keysReachTheirOwnersThroughReshardingAndFailover() throws {
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let events = Events()
        // A dead seed first: the next one is tried.
        let dead = try RedisTestServer.freeLoopbackPort()
        let router = Self.router(seeds: [("127.0.0.1", dead), (cluster.nodes[0].host, cluster.nodes[0].port)],
                                 group: group, events: events)
        defer { _ = try? router.close().wait() }
        router.start()
        #expect(waitUntil { events.readies.count >= 1 })
        let keys = (0..<60).map { "key:\($0)" }
        for key in keys { #expect(Self.roundTrip(router, key, "v1:\(key)"), "\(key)") }
        // Each key is on the node the map names (asked of that node directly).
        let map = try #require(try router.eventLoop.submit { router.map }.wait())
        for key in keys.prefix(10) {
            let owner = map.primary(forSlot: Self.keySlot(key))
            let node = try #require(cluster.nodes.first { $0.port == owner.port })
            #expect(try node.cli("GET", key) == "v1:\(key)")
        }

        // Resharding: 2,000 slots from the first primary to the second, keys and all.
        let ids = try cluster.nodes.map { try $0.cli("CLUSTER", "MYID") }
        let source = map.primaries[0], target = map.primaries[1]
        let sourceID = ids[try #require(cluster.nodes.firstIndex { $0.port == source.port })]
        let targetID = ids[try #require(cluster.nodes.firstIndex { $0.port == target.port })]
        let changesBefore = events.mapChanges.count
        let resharded = try cluster.nodes[0].cli(arguments: [
            "--cluster", "reshard", "\(source.host):\(source.port)", "--cluster-from", sourceID,
            "--cluster-to", targetID, "--cluster-slots", "2000", "--cluster-yes",
        ], useAddress: false)
        #expect(!resharded.contains("ERR"), "\(resharded.suffix(300))")
        for key in keys {
            let read = try router.send(slot: Self.keySlot(key), [RESP3Command("GET", key)]).wait()
            #expect(read.first?.string == "v1:\(key)", "\(key) after resharding: \(read)")
        }
        #expect(events.mapChanges.count > changesBefore, "MOVED refreshed the map")

        // Failover: the second primary dies; its replica takes over, and the router follows.
        let victim = try #require(cluster.nodes.first { $0.port == target.port })
        victim.kill()
        // The first key waits for the failover (seconds); the rest must not wait for
        // another. Their limit is generous because the suite shares 2 cores with the
        // cluster coherence tests' processes: 5 s was once too short under that load.
        #expect(Self.roundTrip(router, keys[0], "v2:\(keys[0])"), "no failover within the limit")
        for key in keys.dropFirst() {
            #expect(Self.roundTrip(router, key, "v2:\(key)", limit: .seconds(20)), "\(key) after failover")
        }
        let after = try #require(try router.eventLoop.submit { router.map }.wait())
        #expect(!after.primaries.contains { $0.port == victim.port })
        #expect(after.primaries.count == 3)
    }

    @Test func seedsThatGiveNoMapAreNamedWithTheirReasons() throws {
        let plain = try RedisTestServer()
        defer { plain.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let events = Events()
        let dead = try RedisTestServer.freeLoopbackPort()
        let router = Self.router(seeds: [("127.0.0.1", dead), (plain.host, plain.port)], group: group, events: events)
        defer { _ = try? router.close().wait() }
        router.start()
        #expect(waitUntil { !events.failures.snapshot.isEmpty })
        let message = try #require(events.failures.snapshot.first)
        #expect(message.contains("127.0.0.1:\(dead)"), "\(message)")
        #expect(message.contains("\(plain.host):\(plain.port)") && message.contains("cluster support disabled"), "\(message)")
        #expect(events.readies.count == 0)
    }
}

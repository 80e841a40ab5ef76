import NIOCore
import NIOPosix
import RESP3
import RedisTestSupport
import Testing

@testable import Larder

/// Redis Cluster's key space: slots (CRC16, hash tags), the slot map from `CLUSTER SLOTS`, and
/// redirects; checked against a local cluster of three primaries and three replicas.
@Suite struct ClusterSlotMapTests {
    static func slot(_ key: String) -> Int { ClusterSlotMap.slot(of: Array(key.utf8)) }

    @Test func slotsFollowRedisClusterHashing() {
        // The specification's check value: CRC16/XMODEM("123456789") = 0x31C3.
        #expect(Self.slot("123456789") == 0x31C3 & 0x3FFF)
        #expect(Self.slot("") == 0)
        // Hash tags: the first {...} with something inside.
        #expect(Self.slot("{user1000}.following") == Self.slot("user1000"))
        #expect(Self.slot("{user1000}.followers") == Self.slot("{user1000}.following"))
        #expect(Self.slot("foo{}{bar}") == Self.slot("foo{}{bar}"))
        #expect(Self.slot("foo{}{bar}") != Self.slot("bar"), "an empty first tag means the whole key")
        #expect(Self.slot("foo{{bar}}zap") == Self.slot("{bar"), "the tag runs to the first } after the first {")
        #expect(Self.slot("foo{bar}{zap}") == Self.slot("bar"))
    }

    @Test func redirectsAreParsed() {
        let node = ClusterSlotMap.Node(host: "127.0.0.1", port: 7002, id: nil)
        #expect(ClusterRedirect(.simpleError("MOVED 3999 127.0.0.1:7002")) == .moved(slot: 3999, to: node))
        #expect(ClusterRedirect(.simpleError("ASK 3999 127.0.0.1:7002")) == .ask(slot: 3999, to: node))
        #expect(ClusterRedirect(.simpleError("MOVED 3999 [::1]:7002"))
                == .moved(slot: 3999, to: .init(host: "[::1]", port: 7002, id: nil)))
        #expect(ClusterRedirect(.simpleError("ERR unknown command")) == nil)
        #expect(ClusterRedirect(.simpleError("MOVED 16384 127.0.0.1:7002")) == nil)
        #expect(ClusterRedirect(.blobString(Array("MOVED 1 a:1".utf8))) == nil)
    }

    static func range(_ first: Int64, _ last: Int64, _ port: Int64, replicas: [Int64] = []) -> RESP3Value {
        .array([.integer(first), .integer(last), .array([.blobString(Array("127.0.0.1".utf8)), .integer(port)])]
            + replicas.map { .array([.blobString(Array("127.0.0.1".utf8)), .integer($0)]) })
    }

    @Test func aMapWithUncoveredSlotsIsRefusedNamingThem() {
        let reply = RESP3Value.array([Self.range(0, 5460, 7001), Self.range(5461, 10000, 7002), Self.range(10010, 16383, 7003)])
        do {
            _ = try ClusterSlotMap(slotsReply: reply, from: "127.0.0.1:7001")
            Issue.record("a map with a hole was accepted")
        } catch {
            #expect(error.code == .sharedTierRejected)
            #expect(error.message.contains("10001-10009"), "\(error.message)")
            #expect(error.message.contains("127.0.0.1:7001"))
        }
    }

    /// A reply naming more primaries than there are slots is refused. Found while writing the
    /// resp3-reply fuzz target: a primary's index is kept in 16 bits, and the 65,536th trapped.
    @Test func aMapOfMorePrimariesThanSlotsIsRefused() {
        let primaries = (0..<65_536).map { i -> RESP3Value in
            .array([.integer(0), .integer(0), .array([.blobString(Array("10.0.\(i / 256).\(i % 256)".utf8)), .integer(7000)])])
        }
        let reply = RESP3Value.array([Self.range(0, 16383, 7001)] + primaries)
        do {
            _ = try ClusterSlotMap(slotsReply: reply, from: "127.0.0.1:7001")
            Issue.record("a map of 65,537 primaries was accepted")
        } catch {
            #expect(error.code == .sharedTierRejected)
            #expect(error.message.contains("not a slot map"), "\(error.message)")
        }
    }

    @Test func aNodeOutsideClusterModeIsNamed() throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let reply = try slotsReply(host: server.host, port: server.port)
        do {
            _ = try ClusterSlotMap(slotsReply: reply, from: "\(server.host):\(server.port)")
            Issue.record("a server without cluster support gave a slot map")
        } catch {
            #expect(error.code == .sharedTierRejected)
            #expect(error.message.contains("\(server.host):\(server.port)"))
            #expect(error.message.contains("cluster support disabled"), "\(error.message)")
        }
    }

    @Test func theLocalClusterMapsEverySlotAsTheServerHashesKeys() throws {
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        let seed = cluster.nodes[0]
        let map = try ClusterSlotMap(slotsReply: try slotsReply(host: seed.host, port: seed.port),
                                     from: "\(seed.host):\(seed.port)")
        #expect(map.primaries.count == 3)
        #expect(Set(map.primaries.map(\.port)).isSubset(of: Set(cluster.nodes.map(\.port))))
        // Our slots against the server's CLUSTER KEYSLOT, and keys that share a hash tag on one node.
        for i in 0..<40 {
            let key = "key:\(i * 7919)"
            #expect(Self.slot(key) == Int(try seed.cli("CLUSTER", "KEYSLOT", key)), "\(key)")
        }
        let related = ["{order:42}.items", "{order:42}.total", "{order:42}.customer"]
        let owners = Set(related.map { map.primary(forSlot: Self.slot($0)) })
        #expect(owners.count == 1)
        // The node the map names accepts the key; another answers MOVED to it.
        let key = related[0]
        let owner = map.primary(forSlot: Self.slot(key))
        let ownerNode = try #require(cluster.nodes.first { $0.port == owner.port })
        #expect(try ownerNode.cli("SET", key, "x") == "OK")
        let other = try #require(cluster.nodes.first { node in map.primaries.contains { $0.port == node.port } && node.port != owner.port })
        #expect(try other.cli("GET", key).hasPrefix("MOVED \(Self.slot(key)) \(owner.host):\(owner.port)"))
    }

    /// `CLUSTER SLOTS` from host:port over RESP3.
    func slotsReply(host: String, port: Int) throws -> RESP3Value {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let connection = try RESP3Connection.connect(
            configuration: .init(host: host, port: port), eventLoop: group.next()).wait()
        defer { _ = try? connection.closeFuture().wait() }
        return try connection.sendFuture([RESP3Command("CLUSTER", "SLOTS")]).wait()[0]
    }
}

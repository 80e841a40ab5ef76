import RedisTestSupport
import Testing

/// The test server's own start-up: tests run in parallel, so a port found free can be taken before
/// `redis-server` binds it, and a start must survive that instead of failing an unrelated test.
@Suite("RedisTestServer start-up")
struct RedisTestServerTests {
    @Test func aStartWhosePortWasTakenTriesAgainOnAnother() throws {
        let holder = try RedisTestServer()
        defer { holder.stop() }
        let server = try RedisTestServer(firstPort: holder.port)
        defer { server.stop() }
        #expect(server.port != holder.port)
        #expect(try server.cli("PING") == "PONG")
        #expect(try holder.cli("PING") == "PONG")
    }

    @Test func aClusterNodeGetsABusPortOfItsOwnAndKeepsItAcrossARestart() throws {
        let node = try RedisTestServer(
            extraArguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"], clusterBus: true)
        defer { node.stop() }
        let bus = try #require(node.busPort)
        #expect(bus != node.port)
        #expect(try node.cli("CONFIG", "GET", "cluster-port").hasSuffix("\(bus)"))
        try node.restart()
        #expect(try node.cli("CONFIG", "GET", "cluster-port").hasSuffix("\(bus)"))
    }

    @Test func freePortsLieBelowTheRangeOfOutgoingConnections() throws {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let first = try #require(range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
        try #require(first > 12000, "this machine's ephemeral range starts at \(first)")
        for _ in 0..<20 {
            let port = try RedisTestServer.freeLoopbackPort()
            #expect((10000..<first).contains(port), "\(port)")
        }
    }
}

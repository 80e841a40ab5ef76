import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private Redis Cluster for tests: `primaries` primaries with `replicasPerPrimary` replicas
/// each, every node a ``RedisTestServer`` (Debian's binary, a free loopback port, a temporary
/// directory, a cluster bus port of its own), joined with `redis-cli --cluster create`.
///
/// ``stop()`` kills every node and removes their directories (and so does releasing the object).
public final class RedisTestCluster: @unchecked Sendable {
    /// Every node, the primaries first (as `redis-cli --cluster create` assigns them).
    public let nodes: [RedisTestServer]

    /// Starts the nodes, creates the cluster, and waits until every node reports
    /// `cluster_state:ok` and sees all its nodes.
    public init(primaries: Int = 3, replicasPerPrimary: Int = 1) throws {
        var nodes: [RedisTestServer] = []
        do {
            for _ in 0..<(primaries * (1 + replicasPerPrimary)) {
                nodes.append(try RedisTestServer(extraArguments: [
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "2000",
                    // A replica may always take over (tests kill primaries on purpose).
                    "--cluster-replica-validity-factor", "0",
                ], clusterBus: true))
            }
            self.nodes = nodes
            let addresses = nodes.map { "\($0.host):\($0.port)" }
            let created = try nodes[0].cli(
                arguments: ["--cluster", "create"] + addresses
                    + ["--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"], useAddress: false)
            guard created.contains("All 16384 slots covered") else {
                throw RedisTestServer.Failure(description: "redis-cli --cluster create failed: \(created)")
            }
            try waitUntilFormed()
        } catch {
            for node in nodes { node.stop() }
            throw error
        }
    }

    deinit { stop() }

    /// Kills every node and removes their directories. Safe to call more than once.
    public func stop() {
        for node in nodes { node.stop() }
    }

    /// Polls (a start-up, not a synchronisation with the code under test) until every node says
    /// the cluster is ok and knows all the nodes.
    public func waitUntilFormed(limit: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(limit)
        while Date() < deadline {
            let formed = try nodes.allSatisfy { node in
                guard node.pid != nil else { return true }  // a killed node cannot say
                let info = try node.cli("CLUSTER", "INFO")
                return info.contains("cluster_state:ok")
                    && info.contains("cluster_known_nodes:\(nodes.count)")
            }
            if formed { return }
            usleep(50_000)
        }
        throw RedisTestServer.Failure(description: "the test cluster did not form in \(limit) s: "
            + ((try? nodes[0].cli("CLUSTER", "NODES")) ?? ""))
    }
}

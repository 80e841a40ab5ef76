import Foundation
import Larder
import RedisTestSupport

/// Miss fills with 16 concurrent callers against a local 3-primary Redis Cluster (three replicas)
/// next to the same against one private redis-server, in the same run: both populated the same
/// way, both measured by ``SharedSuite/fillsPerSecond(_:keyCount:seconds:)``.
enum ClusterSuite {
    static let keyCount = 50_000

    static func run(_ c: BenchConfig) throws -> SuiteResult {
        var result = SuiteResult(name: "cluster")
        let server = try RedisTestServer()
        defer { server.stop() }
        let cluster = try RedisTestCluster()
        defer { cluster.stop() }
        let single = SharedTierConfiguration.redis(host: server.host, port: server.port, keyPrefix: "bench-cf:")
        let clustered = SharedTierConfiguration.redisCluster(
            seeds: [.init(host: cluster.nodes[0].host, port: cluster.nodes[0].port)], keyPrefix: "bench-cf:")
        let keys = c.quick ? 5_000 : keyCount
        try populate(single, count: keys)
        try populate(clustered, count: keys)
        let seconds = c.quick ? 0.5 : 2.0
        var singleRates: [Double] = [], clusterRates: [Double] = [], ratios: [Double] = []
        var singleCPU: [Double] = [], clusterCPU: [Double] = []
        for run in 0..<c.runs {
            progress("cluster: miss fills, run \(run + 1)/\(c.runs)")
            // Alternating order, so that neither always runs first.
            var one = (rate: 0.0, cpu: 0.0), three = (rate: 0.0, cpu: 0.0)
            if run % 2 == 0 {
                one = try SharedSuite.fillsPerSecond(single, keyCount: keys, seconds: seconds)
                three = try SharedSuite.fillsPerSecond(clustered, keyCount: keys, seconds: seconds)
            } else {
                three = try SharedSuite.fillsPerSecond(clustered, keyCount: keys, seconds: seconds)
                one = try SharedSuite.fillsPerSecond(single, keyCount: keys, seconds: seconds)
            }
            singleRates.append(one.rate)
            singleCPU.append(one.cpu)
            clusterRates.append(three.rate)
            clusterCPU.append(three.cpu)
            ratios.append(three.rate / one.rate)
        }
        let group = "miss fills, \(SharedSuite.callers) concurrent callers, fetchValues of \(SharedSuite.batchSize) keys"
        result.rows.append(ResultRow(group: group, peer: "one redis-server", unit: "fills/s", value: Spread(singleRates)))
        result.rows.append(ResultRow(group: group, peer: "Redis Cluster, 3 primaries", unit: "fills/s",
                                     value: Spread(clusterRates), extra: ["ratio_to_one_server": Spread(ratios).median]))
        result.rows.append(ResultRow(group: group, peer: "one redis-server, client CPU", unit: "us/fill", value: Spread(singleCPU)))
        result.rows.append(ResultRow(group: group, peer: "Redis Cluster, client CPU", unit: "us/fill", value: Spread(clusterCPU)))
        var table = Table("measure", "value")
        table.add("fills/s, one server", spreadText(Spread(singleRates), 0))
        table.add("fills/s, 3-primary cluster", spreadText(Spread(clusterRates), 0))
        table.add("cluster / one server", spreadText(Spread(ratios), 2) + "x")
        table.add("client CPU us per fill, one server", spreadText(Spread(singleCPU), 2))
        table.add("client CPU us per fill, cluster", spreadText(Spread(clusterCPU), 2))
        print(table.render())
        result.notes = [
            "Six cluster nodes and one server, all on this machine's loopback. Each fill sends GET and PTTL to the key's primary; a batch of \(SharedSuite.batchSize) keys becomes one pipelined write per primary.",
            "On a machine with fewer cores than nodes the servers share the cores with the client, so the cluster's figure shows the client's routing cost, not the cluster's capacity.",
        ]
        for note in result.notes { print("  note: " + note) }
        return result
    }

    /// Keys `0..<count` (100-byte values) written through a cache on `shared`, from 16 threads.
    static func populate(_ shared: SharedTierConfiguration, count: Int) throws {
        let cache = try Cache<Int, [UInt8]>(configuration: .init(maxCount: 1_000), shared: shared)
        defer { cache.close() }
        try SharedSuite.connect(cache)
        let value = [UInt8](repeating: 1, count: 100)
        let failure = LockedBox<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: 16) { part in
            for key in stride(from: part, to: count, by: 16) {
                do { try cache.setValue(value, forKey: key) } catch { failure.value = error; return }
            }
        }
        if let error = failure.value { throw error }
    }
}

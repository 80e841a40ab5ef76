// One instance of the shared-tier coherence check (see SharedTierCoherenceTests): a process with
// its own Cache over the test's redis-server, one writer thread and reader threads, recording
// every acknowledged write and every read with its start time on CLOCK_MONOTONIC (one clock for
// every process on the machine), then writing the records to a file for the checker.
//
// Usage: LarderCoherenceWorker <port | cluster:port,port,...> <instance> <instances> <keys> <seconds> <readers> <heartbeat-ms> <timeout-ms> <out>
//
// Keys are owned: key k is written only by instance k % instances, by its one writer thread,
// with versions 1, 2, 3, ... so a key's writes have one order that the checker knows.

import Foundation
import Larder
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

func monotonicNow() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

let arguments = CommandLine.arguments
/// A single server's port, or "cluster:" and seed ports: a cluster, whose writes wait for a
/// replica (so that the failover the test provokes loses no acknowledged write).
let clusterSeeds: [Int]? = arguments.count > 1 && arguments[1].hasPrefix("cluster:")
    ? arguments[1].dropFirst("cluster:".count).split(separator: ",").compactMap { Int($0) } : nil
guard arguments.count == 10, let port = clusterSeeds?.first ?? Int(arguments[1]), let instance = Int(arguments[2]),
      let instances = Int(arguments[3]), let keyCount = Int(arguments[4]), let seconds = Double(arguments[5]),
      let readers = Int(arguments[6]), let heartbeat = Int(arguments[7]), let timeout = Int(arguments[8]) else {
    FileHandle.standardError.write(Data("usage: LarderCoherenceWorker <port | cluster:port,port,...> <instance> <instances> <keys> <seconds> <readers> <heartbeat-ms> <timeout-ms> <out>\n".utf8))
    exit(2)
}
let output = arguments[9]

let cache: Cache<String, String>
do {
    let shared: SharedTierConfiguration
    if let clusterSeeds {
        shared = .redisCluster(
            seeds: clusterSeeds.map { .init(host: "127.0.0.1", port: $0) }, keyPrefix: "coherence:", waitForReplicas: 1,
            heartbeatInterval: .milliseconds(heartbeat), heartbeatTimeout: .milliseconds(timeout))
    } else {
        shared = .redis(port: port, keyPrefix: "coherence:", heartbeatInterval: .milliseconds(heartbeat),
                        heartbeatTimeout: .milliseconds(timeout))
    }
    cache = try Cache<String, String>(configuration: .init(maxCount: keyCount * 2), shared: shared)
} catch {
    FileHandle.standardError.write(Data("worker \(instance): \(error)\n".utf8))
    exit(1)
}

/// One record: a write (`version`, acknowledged at `time`, sent at `end`) or a read (started at
/// `time`, ended at `end`, returned `version`; 0 nothing, -1 an error). Same layout as the checker's.
struct Record {
    var kind: Int32  // 0 write, 1 read
    var key: Int32
    var version: Int64
    var time: Int64
    var end: Int64
}

/// The run's parameters and counters, shared by the threads.
final class Worker: Sendable {
    let cache: Cache<String, String>
    let instance: Int
    let instances: Int
    let keyCount: Int
    let deadline: Int64
    let failedWrites = Atomic<Int>(0)
    let failedReads = Atomic<Int>(0)
    /// Each kind of failure (its error code): how often, and its first message (printed at the end,
    /// for diagnosis).
    let failures = Mutex<[String: (count: Int, first: String)]>([:])

    func noteFailure(_ error: any Error) {
        let kind = (error as? CacheError).map { "\($0.code)" } ?? "\(type(of: error))"
        failures.withLock { $0[kind, default: (0, "\(error)".prefix(160).description)].count += 1 }
    }

    init(cache: Cache<String, String>, instance: Int, instances: Int, keyCount: Int, deadline: Int64) {
        self.cache = cache
        self.instance = instance
        self.instances = instances
        self.keyCount = keyCount
        self.deadline = deadline
    }

    func runWriter() -> [Record] {
        var records: [Record] = []
        let owned = stride(from: instance, to: keyCount, by: instances).map { $0 }
        var versions = [Int64](repeating: 0, count: keyCount)
        var rng = SystemRandomNumberGenerator()
        while monotonicNow() < deadline {
            let key = owned[Int.random(in: 0..<owned.count, using: &rng)]
            versions[key] += 1
            let version = versions[key]
            let start = monotonicNow()
            do {
                try cache.setValue("v\(version)", forKey: "k\(key)")
                records.append(Record(kind: 0, key: Int32(key), version: version, time: monotonicNow(), end: start))
            usleep(10_000)  // a write rate that leaves most reads hits, as in a read-mostly cache
            } catch {
                failedWrites.add(1, ordering: .relaxed)
                noteFailure(error)
                usleep(2_000)
            }
        }
        return records
    }

    func runReader() -> [Record] {
        var records: [Record] = []
        records.reserveCapacity(1 << 20)
        var rng = SystemRandomNumberGenerator()
        while true {
            let start = monotonicNow()
            if start >= deadline { break }
            // Every other read is a batch of four keys (pipelined; in a cluster split by primary).
            let keys = (0..<(Bool.random(using: &rng) ? 1 : 4)).map { _ in Int.random(in: 0..<keyCount, using: &rng) }
            var versions = [Int64](repeating: 0, count: keys.count)
            do {
                let values = keys.count == 1
                    ? [try cache.fetchValue(forKey: "k\(keys[0])")]
                    : try cache.fetchValues(forKeys: keys.map { "k\($0)" })
                for (n, value) in values.enumerated() {
                    if let value { versions[n] = Int64(value.dropFirst()) ?? -2 }
                }
            } catch {
                versions = versions.map { _ in -1 }
                failedReads.add(1, ordering: .relaxed)
                noteFailure(error)
                usleep(200)
            }
            let end = monotonicNow()
            for (key, version) in zip(keys, versions) {
                records.append(Record(kind: 1, key: Int32(key), version: version, time: start, end: end))
            }
        }
        return records
    }

}

let worker = Worker(cache: cache, instance: instance, instances: instances, keyCount: keyCount,
                    deadline: monotonicNow() + Int64(seconds * 1e9))
let results = Mutex<[[Record]]>([])
var threads: [Thread] = []
let finished = DispatchGroup()
for index in 0...readers {
    finished.enter()
    let thread = Thread {
        let records = index == 0 ? worker.runWriter() : worker.runReader()
        results.withLock { $0.append(records) }
        finished.leave()
    }
    thread.start()
    threads.append(thread)
}
finished.wait()
let all = results.withLock { $0.flatMap { $0 } }
let data = all.withUnsafeBufferPointer { Data(buffer: $0) }
do {
    try data.write(to: URL(fileURLWithPath: output))
} catch {
    FileHandle.standardError.write(Data("worker \(instance): cannot write \(output): \(error)\n".utf8))
    exit(1)
}
let statistics = cache.sharedTierStatistics!
print("instance \(instance): \(all.count) records, failed writes \(worker.failedWrites.load(ordering: .relaxed)), "
      + "failed reads \(worker.failedReads.load(ordering: .relaxed)), connections \(statistics.connections), "
      + "losses \(statistics.connectionLosses), invalidations \(statistics.invalidations), drops \(statistics.fullDrops)")
for (kind, failure) in worker.failures.withLock({ $0 }).sorted(by: { $0.value.count > $1.value.count }) {
    print("instance \(instance): \(failure.count) x \(kind), the first: \(failure.first)")
}
cache.close()
exit(0)

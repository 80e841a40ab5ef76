import Foundation

/// A thread-safe `Int` -> `Int` cache for the threads suite.
protocol SharedIntCache: AnyObject, Sendable {
    func get(_ key: Int) -> Int?
    func set(_ key: Int, _ value: Int)
    func close()
}

extension LarderBox: SharedIntCache where Key == Int, Value == Int {}

/// The textbook LRU behind one lock, as a user would share it between threads.
final class LockedTextbookLRU: SharedIntCache, @unchecked Sendable {
    private let lock = NSLock()
    private let lru: TextbookLRU<Int, Int>
    init(capacity: Int) { lru = TextbookLRU(capacity: capacity) }
    func get(_ key: Int) -> Int? { lock.lock(); defer { lock.unlock() }; return lru.get(key) }
    func set(_ key: Int, _ value: Int) { lock.lock(); defer { lock.unlock() }; lru.set(key, value) }
    func close() {}
}

/// NSCache is documented thread-safe; it is shared as is.
final class SharedNSCache: SharedIntCache, @unchecked Sendable {
    private let peer: NSCachePeer
    init(capacity: Int) { peer = NSCachePeer(capacity: capacity) }
    func get(_ key: Int) -> Int? { peer.get(key) }
    func set(_ key: Int, _ value: Int) { peer.set(key, value) }
    func close() { peer.close() }
}

/// Multi-thread throughput of the mixed workload: each thread runs its own
/// stretch of the same Zipf sequence against one shared cache.
enum ThreadsSuite {
    enum Contender: Hashable {
        case larder(shards: Int)
        case textbook
        case nscache

        var label: String {
            switch self {
            case .larder(let s): LarderPeer.label(shards: s)
            case .textbook: "textbook LRU + NSLock"
            case .nscache: "NSCache"
            }
        }
    }

    /// Wall-clock nanoseconds for `threads` threads to finish `total` operations between them.
    static func measure<C: SharedIntCache>(_ cache: C, threads: Int, total: Int, keys: [Int], prefill: [Int]) -> UInt64 {
        for key in prefill { cache.set(key, valueFor(key)) }
        let perThread = total / threads
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            let thread = Thread {
                ready.signal()
                go.wait()
                var acc = 0
                keys.withUnsafeBufferPointer { buffer in
                    var index = (t * perThread) % buffer.count
                    for _ in 0..<perThread {
                        let key = buffer[index]
                        index += 1
                        if index == buffer.count { index = 0 }
                        if let v = cache.get(key) { acc &+= v } else { cache.set(key, valueFor(key)) }
                    }
                }
                blackHole(acc)
                done.leave()
            }
            thread.start()
        }
        for _ in 0..<threads { ready.wait() }
        let start = nowNanoseconds()
        for _ in 0..<threads { go.signal() }
        done.wait()
        let elapsed = nowNanoseconds() &- start
        cache.close()
        return elapsed
    }

    static func run(_ c: BenchConfig, _ w: Workload) -> SuiteResult {
        var result = SuiteResult(name: "threads")
        let contenders: [Contender] = c.shardCounts.map { .larder(shards: $0) } + [.textbook, .nscache]
        var mops: [Contender: [Int: [Double]]] = [:]
        // NSCache runs a quarter of the operations (microseconds each); Mops/s is over what it ran.
        func total(_ contender: Contender) -> Int { contender == .nscache ? max(1, c.threadOps / 4) : c.threadOps }
        for run in 0..<c.runs {
            progress("threads run \(run + 1)/\(c.runs)")
            for threads in c.threadCounts {
                for contender in contenders {
                    let ns: UInt64 = switch contender {
                    case .larder(let s):
                        measure(LarderBox<Int, Int>(capacity: c.capacity, shards: s), threads: threads,
                                total: total(contender), keys: w.mixed, prefill: w.mixedPrefill)
                    case .textbook:
                        measure(LockedTextbookLRU(capacity: c.capacity), threads: threads,
                                total: total(contender), keys: w.mixed, prefill: w.mixedPrefill)
                    case .nscache:
                        measure(SharedNSCache(capacity: c.capacity), threads: threads,
                                total: total(contender), keys: w.mixed, prefill: w.mixedPrefill)
                    }
                    let ops = Double((total(contender) / threads) * threads)
                    mops[contender, default: [:]][threads, default: []].append(ops / Double(ns) * 1e3)
                }
            }
        }
        var table = Table(["Mops/s, median (min-max)"] + c.threadCounts.map { "\($0) thread\($0 == 1 ? "" : "s")" })
        for contender in contenders {
            var cells = [contender.label]
            for threads in c.threadCounts {
                let s = Spread(mops[contender]![threads]!)
                cells.append(spreadText(s, 2))
                var row = ResultRow(group: "\(threads) threads", peer: contender.label, unit: "Mops/s", value: s)
                row.extra["threads"] = Double(threads)
                if case .larder(let shards) = contender { row.extra["shards"] = Double(shards) }
                result.rows.append(row)
            }
            table.add(cells: cells)
        }
        print(table.render())
        result.notes = [
            "\(c.threadOps) mixed operations (NSCache: \(max(1, c.threadOps / 4))) split between the threads; capacity \(c.capacity); this machine has \(ProcessInfo.processInfo.activeProcessorCount) cores, shared with other work.",
        ]
        for n in result.notes { print("  note: " + n) }
        if let most = c.threadCounts.max(), let one = contenders.first, let many = contenders.dropFirst().first(where: {
            if case .larder = $0 { return true } else { return false }
        }) {
            func m(_ x: Contender) -> Double { Spread(mops[x]![most]!).median }
            let line = "at \(most) threads: \(many.label) = \(ratioText(m(many), m(one))) \(one.label)'s throughput, "
                + "\(ratioText(m(many), m(.textbook))) textbook LRU + NSLock, \(ratioText(m(many), m(.nscache))) NSCache"
            result.ratios.append(line)
            print("  " + line)
        }
        return result
    }
}

extension Table {
    init(_ headers: [String]) { self.headers = headers }
}

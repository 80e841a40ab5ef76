import CLarderCore
import Foundation
import Larder
import OrderedCollections

/// Heap bytes per entry: jemalloc's `stats.allocated` (after a tcache flush and
/// an `epoch`) before and after filling a structure, divided by its entries.
/// Everything the structure holds counts: nodes, tables, arenas, boxes.
enum MemorySuite {
    /// Net heap bytes held by what `build` returns, kept alive until measured.
    static func measure(_ build: () -> AnyObject) -> Int {
        measure(build, inspect: { _ in }).bytes
    }

    /// Like `measure(_:)`, and hands the built object to `inspect` before it goes.
    static func measure(_ build: () -> AnyObject, inspect: (AnyObject) -> Void) -> (bytes: Int, ()) {
        let before = allocatedBytes()
        let object = build()
        let after = allocatedBytes()
        inspect(object)
        withExtendedLifetime(object) {}
        return (after - before, ())
    }

    final class Holder<T> {
        var value: T
        init(_ value: T) { self.value = value }
    }

    static func blobKey(_ i: Int) -> String { "https://example.com/items/\(i)" }
    static func blob(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 1024) }

    static func run(_ c: BenchConfig) -> SuiteResult {
        var result = SuiteResult(name: "memory")
        let n = c.memoryIntEntries
        let m = c.memoryBlobEntries
        // Allocation is deterministic here (the same bytes every run, to the
        // byte in trials): one run, or two with --runs > 1 to show it holds.
        let runs = min(c.runs, 2)

        var intCases: [(String, () -> AnyObject)] = [
            ("\(LarderPeer.label(shards: 1)), supportsExpiry false", {
                let cache = LarderBox<Int, Int>(capacity: n, shards: 1, supportsExpiry: false)
                for i in 0..<n { cache.set(i, i) }
                return cache
            }),
            ("\(LarderPeer.label(shards: 1)), supportsExpiry true", {
                let cache = LarderBox<Int, Int>(capacity: n, shards: 1, supportsExpiry: true)
                for i in 0..<n { cache.set(i, i) }
                return cache
            }),
            ("\(LarderPeer.label(shards: 1, policy: .tinyLFU)), supportsExpiry false", {
                let cache = LarderBox<Int, Int>(capacity: n, shards: 1, supportsExpiry: false,
                                                policy: BenchPolicy(policy: .tinyLFU))
                for i in 0..<n { cache.set(i, i) }
                return cache
            }),
            ("\(LarderPeer.label(shards: 1, policy: .s3FIFO)), supportsExpiry false", {
                let cache = LarderBox<Int, Int>(capacity: n, shards: 1, supportsExpiry: false,
                                                policy: BenchPolicy(policy: .s3FIFO))
                for i in 0..<n { cache.set(i, i) }
                return cache
            }),
            ("textbook LRU", {
                let lru = TextbookLRU<Int, Int>(capacity: n)
                for i in 0..<n { lru.set(i, i) }
                return lru
            }),
            ("OrderedDictionary LRU", {
                let lru = OrderedDictionaryLRU<Int, Int>(capacity: n)
                for i in 0..<n { lru.set(i, i) }
                return lru
            }),
            ("Dictionary (floor)", {
                let d = DictionaryPeer(capacity: n)
                for i in 0..<n { d.set(i, i) }
                return d
            }),
        ]
        intCases.append(("NSCache", {
            let cache = NSCachePeer(capacity: n)
            for i in 0..<n { cache.set(i, i) }
            return cache
        }))

        let blobCases: [(String, () -> AnyObject)] = [
            ("keys and values alone", {
                // The payload: the same keys and values in two arrays, whose own
                // storage (one String and one Array reference per entry) is subtracted below.
                var keys: [String] = []
                var values: [[UInt8]] = []
                keys.reserveCapacity(m)
                values.reserveCapacity(m)
                for i in 0..<m { keys.append(blobKey(i)); values.append(blob(i)) }
                return Holder((keys, values))
            }),
            (LarderPeer.label(shards: 1), {
                let cache = LarderBox<String, [UInt8]>(capacity: m, shards: 1)
                for i in 0..<m { cache.set(blobKey(i), blob(i)) }
                return cache
            }),
            ("textbook LRU", {
                let lru = TextbookLRU<String, [UInt8]>(capacity: m)
                for i in 0..<m { lru.set(blobKey(i), blob(i)) }
                return lru
            }),
        ]

        var intBytes: [String: [Double]] = [:]
        var blobBytes: [String: [Double]] = [:]
        // What the Cache itself accounts (totalBytes) for the String -> [UInt8] entries.
        var reported: [Double] = []
        for run in 0..<runs {
            progress("memory run \(run + 1)/\(runs)")
            for (name, build) in intCases {
                intBytes[name, default: []].append(Double(measure(build)) / Double(n))
            }
            for (name, build) in blobCases {
                var bytes = Double(measure(build, inspect: { object in
                    if let box = object as? LarderBox<String, [UInt8]> {
                        reported.append(Double(box.totalBytes) / Double(m))
                    }
                }).bytes)
                if name == "keys and values alone" {
                    bytes -= Double(m * (MemoryLayout<String>.stride + MemoryLayout<[UInt8]>.stride))
                }
                blobBytes[name, default: []].append(bytes / Double(m))
            }
        }

        var table = Table("B/entry, median (min-max)", "Int -> Int", "String -> [UInt8] 1 KiB", "overhead")
        let payload = Spread(blobBytes["keys and values alone"]!).median
        for (name, _) in intCases {
            let s = Spread(intBytes[name]!)
            var row = ResultRow(group: "Int->Int", peer: name, unit: "B/entry", value: s)
            row.extra["entries"] = Double(n)
            result.rows.append(row)
            table.add(name, spreadText(s, 1), "", "")
        }
        for (name, _) in blobCases {
            let s = Spread(blobBytes[name]!)
            var row = ResultRow(group: "String->[UInt8] 1KiB", peer: name, unit: "B/entry", value: s)
            row.extra["entries"] = Double(m)
            row.extra["overheadBeyondPayload"] = s.median - payload
            if name == LarderPeer.label(shards: 1), !reported.isEmpty {
                row.extra["cacheTotalBytesPerEntry"] = Spread(reported).median
            }
            result.rows.append(row)
            table.add(name, "", spreadText(s, 1), name == "keys and values alone" ? "" : fmt(s.median - payload, 1))
        }
        print(table.render())
        result.notes = [
            "Int -> Int: \(n) entries in a cache of capacity \(n); String -> [UInt8]: \(m) entries, keys like \"\(blobKey(12345))\" (heap strings), 1,024-byte values.",
            "overhead = bytes per entry beyond what the same keys and values take alone (\(fmt(payload, 1)) B/entry here; jemalloc rounds a 1,056-byte array buffer up to its size class).",
        ]
        if !reported.isEmpty {
            let r = Spread(reported).median
            let measured = Spread(blobBytes[LarderPeer.label(shards: 1)]!).median
            result.notes.append("String -> [UInt8]: the Cache's own totalBytes says \(fmt(r, 1)) B/entry, jemalloc measured \(fmt(measured, 1)) (\(fmt(100 * (r - measured) / measured, 1))%).")
        }
        for n in result.notes { print("  note: " + n) }
        func median(_ name: String) -> Double { Spread(intBytes[name]!).median }
        let lean = median("\(LarderPeer.label(shards: 1)), supportsExpiry false")
        let full = median("\(LarderPeer.label(shards: 1)), supportsExpiry true")
        let textbook = median("textbook LRU")
        let line = "Int -> Int: Cache(1) \(fmt(lean, 1)) B/entry without expiry, \(fmt(full, 1)) with; textbook LRU \(fmt(textbook, 1)) (\(ratioText(textbook, lean)) of Cache(1))"
        result.ratios.append(line)
        print("  " + line)
        result.targets = [
            .init(name: "Int -> Int bytes per entry, all included (supportsExpiry false)", goal: "<= 64 B",
                  measured: "\(fmt(lean, 1)) B", met: lean <= 64),
            .init(name: "Int -> Int bytes per entry, all included (supportsExpiry true)", goal: "<= 64 B",
                  measured: "\(fmt(full, 1)) B", met: full <= 64),
        ]
        // The policies' own state (W-TinyLFU's sketch, recent departures and a byte per slot of
        // count and region; S3-FIFO's ghost and 2-bit hit counters) against LRU's, per entry of
        // capacity: from the core's footprint (exact), beside the heap measurement (which adds the
        // allocator's rounding of the larger block). The targets are the sketch's and the ghost's
        // (W-TinyLFU's recent departures are the ghost its window adapts on), so the per-slot
        // states are shown apart.
        let policies = [
            (EvictionPolicy.tinyLFU, UInt32(LARDER_CORE_WTINYLFU), "its ghost (the recent departures)"),
            (.s3FIFO, UInt32(LARDER_CORE_S3FIFO), "its ghost"),
        ]
        // LRU's own per-slot states (its marks) are not part of another policy's core.
        let lruStates = Double(larder_core_slot_state_bytes(UInt32(n), 0)) / Double(n)
        for (policy, flag, ghostName) in policies {
            let lru = larder_core_footprint(UInt32(n), 0), own = larder_core_footprint(UInt32(n), flag)
            let exact = Double(own - lru) / Double(n)
            let counters = Double(larder_core_slot_state_bytes(UInt32(n), flag)) / Double(n)
            let heap = median("\(LarderPeer.label(shards: 1, policy: policy)), supportsExpiry false") - lean
            let sketch = Double(larder_core_sketch_bytes(UInt32(n), flag)) / Double(n)
            let ghost = exact + lruStates - counters - sketch
            let sketchPart = sketch > 0 ? "the sketch \(fmt(sketch, 2)), " : ""
            let parts = " (\(sketchPart)\(ghostName) \(fmt(ghost, 2)), the per-slot states \(fmt(counters, 2)) "
                + "where LRU's marks take \(fmt(lruStates, 2)))"
            let line = "\(policy.name): \(fmt(exact, 2)) B per entry of capacity beyond exact LRU\(parts) (core footprint); \(fmt(heap, 1)) B measured on the heap"
            result.ratios.append(line)
            print("  " + line)
            if sketch > 0 {
                result.targets.append(.init(name: "\(policy.name): its frequency sketch, bytes per entry of capacity",
                                            goal: "<= 8 B", measured: "\(fmt(sketch, 2)) B", met: sketch <= 8.01))
            }
            result.targets.append(.init(name: "\(policy.name): \(ghostName), bytes per entry of capacity",
                                        goal: "<= 8 B", measured: "\(fmt(ghost, 2)) B", met: ghost <= 8.01))
        }
        printTargets(result.targets)
        return result
    }
}

/// Bytes the application holds now (`stats.allocated`), or -1 without jemalloc's statistics.
private func allocatedBytes() -> Int {
    (try? JemallocStatistics.shared?.allocatedNow()) ?? -1
}

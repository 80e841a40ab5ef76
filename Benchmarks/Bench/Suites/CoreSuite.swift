import CLarderCore
import Larder

/// The C core alone at `coreCapacity` entries (1M by default): find+touch of a
/// resident key and insert-with-eviction of a new one, next to a plain Swift
/// `Dictionary` doing a lookup (and a remove+insert) on the same keys. Keys
/// are hashed with Swift's `Hasher` (`hashValue`) inside the timed loop on both
/// sides, so the comparison is index against index.
enum CoreSuite {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func run(_ c: BenchConfig) -> SuiteResult {
        var result = SuiteResult(name: "core")
        let capacity = c.coreCapacity
        let ops = c.coreOps
        var rng = SplitMix64(seed: c.seed ^ 0xC0DE)
        let resident = shuffledRange(capacity, &rng)
        let lookups = (0..<ops).map { _ in resident[Int(rng.next() % UInt64(capacity))] }
        // New keys, never resident: each insert evicts the least recent.
        let fresh = (0..<ops).map { capacity + $0 }

        var findTouch: [Double] = []
        var insertEvict: [Double] = []
        var dictLookup: [Double] = []
        var dictReplace: [Double] = []
        var footprint = 0
        for run in 0..<c.runs {
            progress("core run \(run + 1)/\(c.runs)")
            guard let r = measureCore(capacity: capacity, resident: resident, lookups: lookups, fresh: fresh) else {
                result.notes = ["larder_core_create failed at capacity \(capacity)"]
                print("  " + result.notes[0])
                return result
            }
            findTouch.append(r.findTouch)
            insertEvict.append(r.insertEvict)
            footprint = r.footprint
            let d = measureDictionary(resident: resident, lookups: lookups, fresh: fresh)
            dictLookup.append(d.lookup)
            dictReplace.append(d.replace)
        }
        let rows: [(String, String, [Double])] = [
            ("find+touch", "C core", findTouch),
            ("lookup", "Dictionary", dictLookup),
            ("insert+evict", "C core", insertEvict),
            ("remove+insert", "Dictionary", dictReplace),
        ]
        var table = Table("operation", "structure", "ns/op, median (min-max)")
        for (group, peer, values) in rows {
            let s = Spread(values)
            var row = ResultRow(group: group, peer: peer, unit: "ns/op", value: s)
            row.extra["capacity"] = Double(capacity)
            result.rows.append(row)
            table.add(group, peer, spreadText(s, 1))
        }
        print(table.render())
        result.notes = [
            "\(capacity) entries, \(ops) operations per run on uniformly drawn resident keys (find+touch, lookup) or new keys (insert+evict: remove the least recent, insert at the head; Dictionary: remove the oldest key, insert the new one).",
            "hashing with Swift's Hasher is inside the timed loop on both sides; the C core's key check reads a slot-indexed key array, as the Cache does. Core footprint: \(fmt(Double(footprint) / Double(capacity), 1)) B/slot.",
        ]
        for n in result.notes { print("  note: " + n) }
        let line = "C core find+touch = \(ratioText(Spread(findTouch).median, Spread(dictLookup).median)) Dictionary lookup's time; "
            + "insert+evict = \(ratioText(Spread(insertEvict).median, Spread(dictReplace).median)) Dictionary remove+insert's time"
        result.ratios.append(line)
        print("  " + line)
        return result
    }

    static func measureCore(capacity: Int, resident: [Int], lookups: [Int], fresh: [Int])
        -> (findTouch: Double, insertEvict: Double, footprint: Int)?
    {
        var core: OpaquePointer? = nil
        guard larder_core_create(UInt32(capacity), 0, &core) == LARDER_OK, let core else { return nil }
        defer { larder_core_destroy(core) }
        let footprint = larder_core_footprint(UInt32(capacity), 0)
        // Keys by slot, as the Swift side keeps them.
        var slotKeys = [Int](repeating: -1, count: capacity)
        for key in resident {
            var slot: UInt32 = 0
            guard larder_core_insert(core, UInt64(UInt(bitPattern: key.hashValue)), 0, &slot) == LARDER_OK else { return nil }
            slotKeys[Int(slot)] = key
        }
        var found = 0
        let findNs: UInt64 = slotKeys.withUnsafeBufferPointer { keys in
            lookups.withUnsafeBufferPointer { sequence in
                let start = nowNanoseconds()
                for key in sequence {
                    var cursor = larder_cursor()
                    var slot = larder_core_find_first(core, UInt64(UInt(bitPattern: key.hashValue)), &cursor)
                    while slot != LARDER_NIL && keys[Int(slot)] != key {
                        slot = larder_core_find_next(core, &cursor)
                    }
                    if slot != LARDER_NIL {
                        larder_core_touch(core, slot)
                        found &+= 1
                    }
                }
                return nowNanoseconds() &- start
            }
        }
        precondition(found == lookups.count, "C core lost resident keys: found \(found) of \(lookups.count)")
        let insertNs: UInt64 = slotKeys.withUnsafeMutableBufferPointer { keys in
            fresh.withUnsafeBufferPointer { sequence in
                let start = nowNanoseconds()
                for key in sequence {
                    let victim = larder_core_lru(core)
                    larder_core_remove(core, victim)
                    var slot: UInt32 = 0
                    _ = larder_core_insert(core, UInt64(UInt(bitPattern: key.hashValue)), 0, &slot)
                    keys[Int(slot)] = key
                }
                return nowNanoseconds() &- start
            }
        }
        sink &+= found &+ slotKeys[0]
        return (Double(findNs) / Double(lookups.count), Double(insertNs) / Double(fresh.count), footprint)
    }

    static func measureDictionary(resident: [Int], lookups: [Int], fresh: [Int]) -> (lookup: Double, replace: Double) {
        var dict = [Int: Int](minimumCapacity: resident.count)
        for key in resident { dict[key] = valueFor(key) }
        var acc = 0
        let lookupNs: UInt64 = lookups.withUnsafeBufferPointer { sequence in
            let start = nowNanoseconds()
            for key in sequence { acc &+= dict[key] ?? 0 }
            return nowNanoseconds() &- start
        }
        // Oldest first: the order the keys went in.
        var oldest = 0
        let replaceNs: UInt64 = resident.withUnsafeBufferPointer { order in
            fresh.withUnsafeBufferPointer { sequence in
                let start = nowNanoseconds()
                for (i, key) in sequence.enumerated() {
                    let victim = i < order.count ? order[i] : sequence[i - order.count]
                    dict.removeValue(forKey: victim)
                    dict[key] = i
                    oldest &+= 1
                }
                return nowNanoseconds() &- start
            }
        }
        sink &+= acc &+ oldest &+ dict.count
        return (Double(lookupNs) / Double(lookups.count), Double(replaceNs) / Double(fresh.count))
    }
}

import CLarderCore
import CLarderSystem
import Foundation
import Testing
@testable import Larder

/// The same bits as an `Int` key, hashed by `Hasher` (not an integer type).
private struct WrappedInt: Hashable, Sendable {
    var id: Int
}

@Suite("Integer keys: a keyed multiply-fold hash instead of SipHash")
struct IntegerKeyHashTests {
    @Test("the fixed-width integer types of 4 and 8 bytes take the fold; other keys take Hasher")
    func integerTypesTakeTheFold() {
        for key in [0, 1, -1, 42, Int.max, Int.min] {
            let bits = UInt64(bitPattern: Int64(key))
            #expect(Cache<Int, Int>.hash(key) == larder_hash_integer(bits))
            #expect(Cache<Int64, Int>.hash(Int64(key)) == larder_hash_integer(bits))
            #expect(Cache<UInt64, Int>.hash(bits) == larder_hash_integer(bits))
            #expect(Cache<UInt, Int>.hash(UInt(bits)) == larder_hash_integer(bits))
            let low = UInt32(truncatingIfNeeded: key)
            #expect(Cache<UInt32, Int>.hash(low) == larder_hash_integer(UInt64(low)))
            #expect(Cache<Int32, Int>.hash(Int32(bitPattern: low)) == larder_hash_integer(UInt64(low)))
            let wrapped = WrappedInt(id: key)
            #expect(Cache<WrappedInt, Int>.hash(wrapped) == UInt64(bitPattern: Int64(wrapped.hashValue)))
        }
        // Types outside the list keep Hasher, though their bytes would fit.
        #expect(Cache<Int16, Int>.hash(7) == UInt64(bitPattern: Int64((7 as Int16).hashValue)))
        #expect(Cache<Double, Int>.hash(0.0) == Cache<Double, Int>.hash(-0.0))
    }

    @Test("the seed is random per process, or the constant under SWIFT_DETERMINISTIC_HASHING")
    func seedIsRandom() {
        let deterministic = ProcessInfo.processInfo.environment["SWIFT_DETERMINISTIC_HASHING"].map { !$0.isEmpty && $0 != "0" }
        let constant: UInt64 = 0x1319_8A2E_0370_7344
        if deterministic == true {
            #expect(larder_integer_hash_seed_value() == constant)
        } else {
            #expect(larder_integer_hash_seed_value() != constant)
        }
    }

    @Test("sequential and strided keys spread over tags, home buckets and shards like random hashes")
    func keysSpread() {
        let count = 100_000
        for stride in [1, 64, 4096, 1 << 32] {
            let hashes = (0..<count).map { Cache<Int, Int>.hash($0 &* stride) }
            // Tags (the upper 32 bits) are distinct but for birthday collisions (~1 expected).
            #expect(Set(hashes.map { $0 >> 32 }).count >= count - 10, "stride \(stride)")
            // Home buckets of a 2^17-bucket index: random hashes fill 1 - e^(-count/2^17) of them.
            let buckets = 1 << 17
            let expected = Double(buckets) * (1 - exp(-Double(count) / Double(buckets)))
            let filled = Set(hashes.map { Int(($0 >> 32) & UInt64(buckets - 1)) }).count
            #expect(Double(filled) > 0.98 * expected, "stride \(stride): \(filled) of \(buckets) home buckets")
            // Shards of a 16-shard cache: each within 5 % of an even share.
            let cache = try! Cache<Int, Int>(configuration: .init(maxCount: 16_384, shardCount: 16, sweepInterval: nil))
            var perShard = Array(repeating: 0, count: 16)
            for hash in hashes { perShard[cache.shardIndex(hash)] += 1 }
            let even = Double(count) / 16
            #expect(perShard.allSatisfy { abs(Double($0) - even) < 0.05 * even }, "stride \(stride): \(perShard)")
            cache.close()
        }
    }

    @Test("one shard's keys spread over its index and over W-TinyLFU's record of departures like random hashes")
    func shardKeysSpread() {
        let cache = try! Cache<Int, Int>(configuration: .init(maxCount: 16_384, shardCount: 16, sweepInterval: nil))
        defer { cache.close() }
        for stride in [1, 64, 4096, 1 << 32] {
            let hashes = (0..<100_000).map { Cache<Int, Int>.hash($0 &* stride) }.filter { cache.shardIndex($0) == 3 }
            let count = Double(hashes.count)
            // The fewest of `size` places that random hashes fill, but for a chance of about one
            // in a billion: the mean less six standard deviations. About 6,250 keys leave so few
            // places (8,192 and 4,096) that 2 % below the mean, the bound before, was only 3.2
            // deviations: with the hash's random seed, one run in a few hundred failed it. A hash
            // that strides defeat fills a fraction of the places, far below either bound.
            func fewest(_ size: Int) -> Double {
                let m = Double(size), empty = exp(-count / m)
                let variance = m * empty * (1 - (1 + count / m) * empty)
                return m * (1 - empty) - 6 * variance.squareRoot()
            }
            // The home buckets of an 8,192-bucket index: bits of the upper half.
            let buckets = Set(hashes.map { ($0 >> 32) & 8_191 }).count
            #expect(Double(buckets) > fewest(8_192), "stride \(stride): \(buckets) home buckets")
            // The record's slots (larder_regret_slot): the low half, scaled.
            let slots = Set(hashes.map { (($0 & 0xFFFF_FFFF) &* 4_096) >> 32 }).count
            #expect(Double(slots) > fewest(4_096), "stride \(stride): \(slots) departure slots")
        }
    }

    @Test("each shard's index view names the buckets its lookups probe")
    func indexViewsNameEachShardsBuckets() throws {
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 4_096, shardCount: 8, sweepInterval: nil))
        defer { cache.close() }
        for key in 0..<2_000 { try cache.setValue(key, forKey: key) }
        for key in 0..<2_000 {
            let hash = Cache<Int, Int>.hash(key)
            let index = cache.shardIndex(hash)
            let slot = cache.shards[index].find(key, hash: hash)
            let view = cache.indexTable[index]
            // Linear probing from the home bucket reaches the key's bucket.
            var bucket = (hash >> 32) & view.mask
            var found = false
            for _ in 0...view.mask {
                let entry = view.buckets[Int(bucket)]
                if entry.slot == slot && entry.tag == UInt32(truncatingIfNeeded: hash >> 32) { found = true; break }
                bucket = (bucket + 1) & view.mask
            }
            #expect(slot != larderNil && found, "key \(key) in shard \(index)")
        }
    }

    @Test("a cache of 32-bit keys keeps negative and positive keys apart")
    func thirtyTwoBitKeys() throws {
        let cache = try Cache<Int32, Int>(configuration: .init(maxCount: 4_096, sweepInterval: nil))
        for key in Int32(-1_000)..<1_000 { try cache.setValue(Int(key) * 3, forKey: key) }
        for key in Int32(-1_000)..<1_000 { #expect(cache.value(forKey: key) == Int(key) * 3) }
        #expect(cache.count == 2_000)
        cache.close()
    }
}

import CLarderCore
import CLarderSystem

/// Three blocks, laid out shard after shard, each part on cache lines of its
/// own: every shard's C core (whose header also holds the shard's lock), every
/// shard's slot storage, and every shard's read stripes (with a pair of lines
/// for its words after them).
///
/// Why shared blocks: allocated apart, each shard's core is a large allocation
/// that starts on a page boundary, so every shard's core header (read by each
/// operation) and list sentinel fall into the same few L1 cache sets and evict
/// each other. Packed one after another, an odd number of lines apart, they
/// fall into different sets: in a C harness of 16 LRU shards under the mixed workload,
/// `valgrind --tool=callgrind --cache-sim=yes` counts 15 % fewer L1 data misses
/// (39.6 against 46.5 million for 6,000,000 operations; one shard: 35.8). And
/// a block of a huge page or more is huge-page backed (`larder_block_alloc`),
/// which a shard of a sharded cache alone seldom is.
///
/// The read stripes, allocated apart, came from the allocator's slabs at
/// strides of a power of two, so each shard's stripe for one thread
/// fell into the same four L1 sets as fifteen other shards': under callgrind
/// (2,000,000 mixed operations on one thread) the stripe's load alone missed
/// L1 0.15 times per operation with 16 shards and never with one.
///
/// Shards keep it alive (each holds a reference), so the blocks outlive the
/// last shard however the shards are released.
final class ShardMemory: @unchecked Sendable {
    /// Where shard `i`'s core and storage start.
    struct Part {
        let core: UnsafeMutableRawPointer
        let coreBytes: Int
        let entries: UnsafeMutableRawPointer
        /// The shard's mutex, in its core's header (`larder_core_lock_offset`),
        /// on the line every write to the core moves: a set then moves one
        /// line of the shard fewer (see docs/Performance.md). Valid once the
        /// core is initialized.
        let mutex: UnsafeMutableRawPointer
        /// `stripeCount` read stripes, on 128-byte pairs of lines of their own.
        let stripes: UnsafeMutableRawPointer
        /// `LARDER_CORE_OWNER_WORDS` zeroed words on the 128-byte pair after
        /// the stripes: where a shard whose applied hits move its entries
        /// keeps its sequence and counters, away from the list sentinels
        /// those moves write (see ``CacheShard``).
        let words: UnsafeMutablePointer<UInt64>
    }

    let parts: [Part]
    private let coreBlock: UnsafeMutableRawPointer
    private let entryBlock: UnsafeMutableRawPointer
    private let stripeBlock: UnsafeMutableRawPointer

    /// The bytes each shard's stripes start on, alone: two cache lines, since
    /// x86's adjacent-line prefetcher pulls lines in pairs. Another shard's
    /// stripe in the same pair would make two threads working on different
    /// shards take those lines from each other.
    static var linePair: Int { 128 }

    /// Lays out `capacities.count` shards, each with `stripeCount` read
    /// stripes, or throws naming what to lower.
    init(capacities: [UInt32], flags: UInt32, entryStride: Int, entryAlignment: Int,
         stripeCount: Int) throws(CacheError) {
        let line = max(64, entryAlignment)  // a cache line, or a stricter alignment of the entries
        func roundUp(_ n: Int) -> Int { (n + line - 1) / line * line }
        var offsets: [(core: Int, coreBytes: Int, entries: Int)] = []
        offsets.reserveCapacity(capacities.count)
        var coreTotal = 0, entryTotal = 0
        for capacity in capacities {
            let footprint = larder_core_footprint(capacity, flags)
            let (entryBytes, overflow) = entryStride.multipliedReportingOverflow(by: Int(capacity))
            guard footprint > 0, !overflow, coreTotal < Int.max / 4, entryTotal < Int.max / 4,
                  entryBytes < Int.max / 4 else {
                throw CacheError(code: .invalidConfiguration, message:
                    "the bookkeeping of a shard of capacity \(capacity) is too large; "
                    + "lower maxCount: its bookkeeping is allocated up front.")
            }
            offsets.append((coreTotal, footprint, entryTotal))
            // An odd number of lines from one core to the next, so that
            // consecutive shards' headers never map to one cache set.
            var step = roundUp(footprint)
            if step / line % 2 == 0 { step += line }
            coreTotal += step
            entryTotal += roundUp(max(entryBytes, 1))
        }
        // Two blocks, not one: the allocator rounds a large block up to its
        // next size class (a quarter of a power of two), and the cores and the
        // entries rounded apart waste less than their sum rounded once.
        guard let coreBlock = larder_block_alloc(coreTotal, line) else {
            throw CacheError(code: .invalidConfiguration, message:
                "could not allocate \(coreTotal) bytes for the cache's bookkeeping; "
                + "lower maxCount: it is allocated up front.")
        }
        guard let entryBlock = larder_block_alloc(entryTotal, line) else {
            larder_block_free(coreBlock)
            throw CacheError(code: .invalidConfiguration, message:
                "could not allocate \(entryTotal) bytes for the cache's keys and values; "
                + "lower maxCount: their storage is allocated up front.")
        }
        // Each shard's stripes and then its words in whole 128-byte pairs
        // (`linePair`), an odd number of pairs from one shard to the next, so
        // that the shards' stripes fall into different sets.
        let pair = Self.linePair
        let stripeBytes = (stripeCount * MemoryLayout<larder_read_stripe>.stride + pair - 1) / pair * pair
        var stripeStep = stripeBytes + pair
        if stripeStep / pair % 2 == 0 { stripeStep += pair }
        guard let stripeBlock = larder_block_alloc(stripeStep * capacities.count, pair) else {
            larder_block_free(coreBlock)
            larder_block_free(entryBlock)
            throw CacheError(code: .invalidConfiguration, message:
                "could not allocate \(stripeStep * capacities.count) bytes for the shards' read stripes; "
                + "lower shardCount.")
        }
        self.coreBlock = coreBlock
        self.entryBlock = entryBlock
        self.stripeBlock = stripeBlock
        parts = offsets.enumerated().map { index, offset in
            let core = coreBlock + offset.core
            let stripes = stripeBlock + index * stripeStep
            let words = (stripes + stripeBytes).bindMemory(to: UInt64.self, capacity: Int(LARDER_CORE_OWNER_WORDS))
            words.initialize(repeating: 0, count: Int(LARDER_CORE_OWNER_WORDS))
            return Part(core: core, coreBytes: offset.coreBytes, entries: entryBlock + offset.entries,
                        mutex: core + larder_core_lock_offset(), stripes: stripes, words: words)
        }
    }

    deinit {
        larder_block_free(coreBlock)
        larder_block_free(entryBlock)
        larder_block_free(stripeBlock)
    }
}

import CLarderCore

/// How a full cache chooses which entry leaves: set it with
/// ``CacheConfiguration/policy``.
///
/// - ``lru``: least-recently-used order, exact with one shard (with several,
///   hits mark entries and evictions give them a second chance, see
///   ``CacheConfiguration/shardCount``). Predictable, and the right
///   choice when recent keys are the ones asked for again (a sliding working
///   set, sessions). Loses everything on a scan or a loop larger than the cache.
/// - ``tinyLFU``: adaptive W-TinyLFU. New entries enter a small LRU window;
///   one that leaves it is admitted into the main region only when a compact
///   frequency sketch of recent requests says it is asked for more often than
///   main's victim (by two requests when the victim was asked for at most
///   once), so one-off keys, scans and loops do not flush popular ones. The
///   window grows when misses find keys that lost admission shortly before
///   (while those are most of such misses), and shrinks, down to Caffeine's
///   1 %, when they find main's recent victims, so recency-heavy workloads
///   keep LRU's hit ratio. 10 bytes per slot: 8 of sketch, 2 of recent
///   departures.
/// - ``s3FIFO``: S3-FIFO. New entries enter a small FIFO queue; those hit
///   again before they reach its end move to the main queue, the rest leave
///   and are remembered in a ghost queue of hashes, which sends them straight
///   to main if they come back. A hit only sets a 2-bit counter and moves
///   nothing: the cheapest hit. 8 bytes of ghost per slot.
///
/// The per-policy hit ratios on public traces are in docs/Performance.md
/// (`swift run -c release Bench --suite hitratio`); replay your own access
/// log with `Bench --trace FILE` to choose.
public struct EvictionPolicy: Sendable, Hashable, CustomStringConvertible {
    /// The C core's creation flags for the policy.
    let flags: UInt32
    /// The configuration's name for it (``init(name:)`` reads it back).
    public let name: String

    /// Least-recently-used order: exact with one shard, CLOCK's second chance within each of several.
    public static let lru = EvictionPolicy(flags: UInt32(LARDER_CORE_LRU), name: "lru")
    /// Adaptive W-TinyLFU: frequency-aware admission, a window the workload sizes.
    public static let tinyLFU = EvictionPolicy(flags: UInt32(LARDER_CORE_WTINYLFU), name: "tinyLFU")
    /// S3-FIFO: small and main FIFO queues and a ghost queue; hits move nothing.
    public static let s3FIFO = EvictionPolicy(flags: UInt32(LARDER_CORE_S3FIFO), name: "s3FIFO")
    /// W-TinyLFU with its window fixed at 1 % (Caffeine 2.6's static policy):
    /// for comparisons in the benchmarks.
    package static let fixedWindowTinyLFU = EvictionPolicy(
        flags: UInt32(LARDER_CORE_WTINYLFU) | UInt32(LARDER_CORE_FIXED_WINDOW), name: "tinyLFU-fixed")

    /// Every policy a configuration may name.
    public static let all: [EvictionPolicy] = [.lru, .tinyLFU, .s3FIFO]

    /// The policy a configuration gets when it names none.
    public static let `default` = EvictionPolicy.lru

    private init(flags: UInt32, name: String) {
        self.flags = flags
        self.name = name
    }

    /// The policy called `name` (`"lru"`, `"tinyLFU"`, `"s3FIFO"`; case and
    /// punctuation ignored), for settings read from a file or the environment.
    /// - Throws: ``CacheError/Code/invalidConfiguration`` naming the known policies.
    public init(name: String) throws(CacheError) {
        func folded(_ text: String) -> String { text.lowercased().filter { $0.isLetter || $0.isNumber } }
        guard let found = Self.all.first(where: { folded($0.name) == folded(name) }) else {
            throw .invalidConfiguration(
                "policy \"\(name)\" is unknown; use one of \(Self.all.map { "\"\($0.name)\"" }.joined(separator: ", ")).")
        }
        self = found
    }

    public var description: String { name }
}

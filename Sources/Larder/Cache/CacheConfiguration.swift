import NIOCore

/// The limits and behaviour of a ``Cache``, fixed when it is created.
///
/// ```swift
/// let configuration = CacheConfiguration(maxCount: 10_000, maxBytes: 64 << 20,
///                                        defaultTTL: .seconds(300))
/// ```
///
/// Every field is validated by ``Cache/init(configuration:clock:logger:)``;
/// a value out of range throws ``CacheError/Code/invalidConfiguration`` naming
/// the field and its allowed range. Nothing is silently clamped.
public struct CacheConfiguration: Sendable {
    /// The most entries the whole cache holds, over all shards: `1 ... 1 << 30`.
    ///
    /// The entries are split among the shards so that the shards' capacities add
    /// up to exactly `maxCount` (the first `maxCount % shardCount` shards hold one
    /// more). A shard that is full evicts its own least-recent entry even when
    /// other shards have room, so with several shards a skewed key set may evict
    /// before `count` reaches `maxCount`; `count` never exceeds it.
    ///
    /// Bookkeeping for every slot (about 40-50 bytes) is allocated up front.
    public var maxCount: Int

    /// The most bytes the entries may weigh in all, or `nil` for no byte budget: `> 0`.
    ///
    /// An entry weighs its key's and value's inline sizes, the C core's per-slot
    /// bookkeeping, and the heap bytes the key and value hold (or the explicit
    /// `cost` given to ``Cache/setValue(_:forKey:ttl:cost:)-6r6pm``). Like `maxCount`,
    /// the budget is split among the shards; an entry heavier than its shard's
    /// share is refused with ``CacheError/Code/valueTooLarge``.
    public var maxBytes: Int?

    /// The time to live of entries stored without one, or `nil` for "never expire": `> 0`.
    public var defaultTTL: Duration?

    /// The number of independently locked shards: `1 ... min(1024, maxCount)`.
    ///
    /// Unless set, the cache picks it from the processors it may run on and
    /// its limits (``automaticShardCount(maxCount:maxBytes:processors:)``):
    /// one shard on one processor or for a small cache, else up to eight per
    /// processor, so that threads rarely wait for each other. Reading it
    /// gives the count the cache will use.
    ///
    /// One shard gives exact least-recently-used order (or the chosen
    /// policy's order) over the whole cache; with several, each shard keeps
    /// that order over its own entries, and its share of `maxCount` and
    /// `maxBytes`; and under LRU, hits mark entries instead of moving them,
    /// and an eviction gives a marked entry a second chance (CLOCK: a mark is
    /// a byte, a move three list nodes that other threads write too; see
    /// <doc:CacheBehaviour>). Set it to 1 where exact order matters more than
    /// throughput.
    public var shardCount: Int {
        get { chosenShardCount ?? Self.automaticShardCount(maxCount: maxCount, maxBytes: maxBytes) }
        set { chosenShardCount = newValue }
    }

    /// The shard count set by the user; nil picks it automatically.
    private var chosenShardCount: Int?

    /// How often a background sweeper removes expired entries nobody reads, or
    /// `nil` for no sweeper (expired entries are then removed when touched or by
    /// ``Cache/sweepExpired()``): `> 0`. Ignored when `supportsExpiry` is false.
    public var sweepInterval: Duration?

    /// Whether entries may carry deadlines. `false` saves 16 bytes per slot;
    /// a time to live (per entry or `defaultTTL`) then throws
    /// ``CacheError/Code/expiryNotSupported``.
    public var supportsExpiry: Bool

    /// Which entry leaves when the cache is full or over its byte budget:
    /// ``EvictionPolicy/lru`` unless set. See ``EvictionPolicy`` for when to
    /// pick which. With several shards, each shard runs the policy over its
    /// own entries.
    public var policy: EvictionPolicy

    /// The cache's name in metrics (the `cache` label of ``CacheMetrics``) and
    /// wherever several caches of a service must be told apart: not empty.
    public var name: String

    /// Creates a configuration; see each property for its allowed range.
    /// A `shardCount` of `nil` picks it automatically (see ``shardCount``).
    public init(maxCount: Int, maxBytes: Int? = nil, defaultTTL: Duration? = nil,
                shardCount: Int? = nil, sweepInterval: Duration? = .seconds(1),
                supportsExpiry: Bool = true, policy: EvictionPolicy = .default, name: String = "default") {
        self.name = name
        self.policy = policy
        self.maxCount = maxCount
        self.maxBytes = maxBytes
        self.defaultTTL = defaultTTL
        self.chosenShardCount = shardCount
        self.sweepInterval = sweepInterval
        self.supportsExpiry = supportsExpiry
    }

    /// The largest `maxCount`: the C core's slot numbers are 32-bit with room for sentinels.
    public static let maxCountLimit = 1 << 30
    /// The largest `shardCount`.
    public static let maxShardCount = 1024

    /// The fewest entries an automatically sharded cache gives each shard.
    static let automaticShardMinimumCount = 1024
    /// The smallest byte share an automatically sharded cache gives each shard:
    /// an entry heavier than its shard's share is refused.
    static let automaticShardMinimumBytes = 4 << 20

    /// The shard count a configuration that sets none gets: one on a single
    /// processor; else eight per processor (a power of two, at most 64),
    /// halved until each shard holds at least 1,024 entries and, with a byte
    /// budget, at least 4 MiB of it.
    ///
    /// Eight per processor: with as many busy threads as processors, two of
    /// them meet on one shard's lock about one operation in eight, and a shard
    /// that threads do not share runs as fast as a cache of one shard.
    ///
    /// - Parameters:
    ///   - maxCount: the cache's ``maxCount``.
    ///   - maxBytes: the cache's ``maxBytes``.
    ///   - processors: the processors the process may use; `nil` (the
    ///     default) asks NIO, whose count honours cgroup quotas and CPU sets.
    /// - Returns: a power of two in `1 ... 64`, at most `maxCount`.
    public static func automaticShardCount(maxCount: Int, maxBytes: Int?, processors: Int? = nil) -> Int {
        let processors = processors ?? Self.processors
        guard processors > 1 else { return 1 }
        var shards = 1
        while shards < 64, shards * 2 <= processors * 8 { shards *= 2 }
        while shards > 1, maxCount / shards < automaticShardMinimumCount
            || (maxBytes.map { $0 / shards < automaticShardMinimumBytes } ?? false) {
            shards /= 2
        }
        return shards
    }

    /// The processors this process may run on, read once.
    static let processors = NIOCore.System.coreCount

    /// Throws the first field that is out of range.
    func validate() throws(CacheError) {
        guard maxCount >= 1, maxCount <= Self.maxCountLimit else {
            throw .invalidConfiguration(
                "maxCount is \(maxCount); it must be in 1...\(Self.maxCountLimit) (1 << 30). "
                + "Set it to the most entries the cache may hold.")
        }
        if let maxBytes, maxBytes <= 0 {
            throw .invalidConfiguration(
                "maxBytes is \(maxBytes); it must be > 0, or nil for no byte budget.")
        }
        guard shardCount >= 1, shardCount <= Self.maxShardCount, shardCount <= maxCount else {
            throw .invalidConfiguration(
                "shardCount is \(shardCount); it must be in 1...\(min(Self.maxShardCount, maxCount)) "
                + "(at least 1, at most \(Self.maxShardCount) and at most maxCount, \(maxCount)).")
        }
        if let defaultTTL, defaultTTL <= .zero {
            throw .invalidConfiguration(
                "defaultTTL is \(defaultTTL); it must be > 0, or nil for entries that never expire.")
        }
        if let sweepInterval, sweepInterval <= .zero {
            throw .invalidConfiguration(
                "sweepInterval is \(sweepInterval); it must be > 0, or nil for no background sweeper.")
        }
        if name.isEmpty {
            throw .invalidConfiguration("name is empty; give the cache a name (it labels its metrics), or keep the default \"default\".")
        }
        if defaultTTL != nil, !supportsExpiry {
            throw CacheError(code: .expiryNotSupported, message:
                "defaultTTL is set but supportsExpiry is false; set supportsExpiry to true or defaultTTL to nil.")
        }
    }
}

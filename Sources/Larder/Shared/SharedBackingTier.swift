/// The shared tier under a ``Cache`` (Redis), as the cache sees it: reads, writes and removals
/// that complete through a callback, and a sink through which the tier changes memory.
///
/// Every memory change that follows from the server (a fill's value, a write's local copy, an
/// invalidation, a loss of contact) is made by the tier through the sink on its own thread, in
/// the order the server's bytes arrived: a reply and the invalidations around it can then never
/// be applied out of order. Completions run after the sink's change.
@usableFromInline
protocol SharedBackingTier<Key, Value>: Sendable {
    associatedtype Key: Hashable & Sendable
    associatedtype Value: Sendable

    /// Connects the tier to the cache's memory; called once, by the cache's initializer.
    func attach(_ sink: SharedTierSink<Key, Value>)
    /// Reads `key`; a found value is installed through the sink (with `snapshot`, the
    /// shard's fill snapshot taken before the read) before `completion` gets it.
    func load(_ key: Key, snapshot: UInt64, completion: @escaping @Sendable (Result<Value?, CacheError>) -> Void)
    /// Reads several keys in one round trip (pipelined); each found value is installed as by
    /// `load`. `snapshots[i]` belongs to `keys[i]`; the results come in the same order.
    func loadMany(_ keys: [Key], snapshots: [UInt64],
                  completion: @escaping @Sendable (Result<[Result<Value?, CacheError>], CacheError>) -> Void)
    /// Writes `value` (deadline in the cache clock's monotonic nanoseconds, `nil`: none);
    /// once the server acknowledged it, the local copy is installed through the sink.
    func store(_ value: Value, forKey key: Key, deadline: UInt64?, weight: UInt64, snapshot: UInt64,
               completion: @escaping @Sendable (Result<Void, CacheError>) -> Void)
    /// Deletes `key` on the server.
    func remove(_ key: Key, completion: @escaping @Sendable (Result<Void, CacheError>) -> Void)
    /// Deletes every key under the tier's prefix on the server.
    func removeAll(completion: @escaping @Sendable (Result<Void, CacheError>) -> Void)
    /// What reads and writes do while the server cannot be reached.
    var whenUnavailable: SharedTierConfiguration.WhenUnavailable { get }
    /// The staleness bound, in nanoseconds: how long a local write may live while unreachable.
    var maxStalenessNanoseconds: UInt64 { get }
    /// The tier's counters and connection state.
    var statistics: SharedTierStatistics { get }
    /// Completes when a connection is ready (at once when one is), or with an error when
    /// none is within `timeout`.
    func waitUntilConnected(timeout: Duration, completion: @escaping @Sendable (Result<Void, CacheError>) -> Void)
    /// Counts keys restored from disk and read again from the server.
    func noteRevalidated(_ count: Int)
    /// Closes the connection and stops reconnecting; blocks until done.
    func close()
    /// `close()` without waiting (from a deinitializer, which may run on the tier's own thread).
    func closeSoon()
}

/// What the shared tier may do to the cache's memory (all on the tier's thread).
@usableFromInline
struct SharedTierSink<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// Installs a value the server holds (a fill or an acknowledged write) unless a removal
    /// since `snapshot` forbids it. `weight` nil: measure it.
    var install: @Sendable (_ key: Key, _ value: Value, _ deadline: UInt64?, _ weight: UInt64?, _ snapshot: UInt64) -> Void
    /// Drops `key` from memory (an invalidation), so that no fill in flight for it is installed.
    var invalidate: @Sendable (_ key: Key) -> Void
    /// Drops every shared entry (a lost connection, a reconnection, a flush), in O(1).
    var dropAll: @Sendable () -> Void
    /// The cache clock's monotonic time in nanoseconds.
    var now: @Sendable () -> UInt64
    /// Decodes and installs a batch of fills (see ``SharedFills``), in the cache's specialized
    /// code; nil (or a nil result: the cache is gone) leaves it to the tier, one key at a time.
    @usableFromInline var fill: SharedFills.Install<Key, Value>?

    @usableFromInline
    init(install: @escaping @Sendable (Key, Value, UInt64?, UInt64?, UInt64) -> Void,
         invalidate: @escaping @Sendable (Key) -> Void, dropAll: @escaping @Sendable () -> Void,
         now: @escaping @Sendable () -> UInt64, fill: SharedFills.Install<Key, Value>? = nil) {
        self.install = install
        self.invalidate = invalidate
        self.dropAll = dropAll
        self.now = now
        self.fill = fill
    }
}

/// Counters of a cache's shared tier.
public struct SharedTierStatistics: Sendable, Equatable {
    /// Whether a connection is ready now.
    public var connected: Bool = false
    /// Connections made (the first, and every reconnection).
    public var connections: Int = 0
    /// Connections lost (closed, broken, timed out).
    public var connectionLosses: Int = 0
    /// Reads sent to the server (concurrent misses of one key share one), and how many found a value.
    public var reads: Int = 0
    public var readHits: Int = 0
    /// Writes and deletes acknowledged by the server.
    public var writes: Int = 0
    public var deletes: Int = 0
    /// Keys invalidated by the server (each key of each invalidation message).
    public var invalidations: Int = 0
    /// Times every shared entry was dropped at once (a loss, a reconnection, a flush of the server).
    public var fullDrops: Int = 0
    /// Calls that found the server unreachable (failed or degraded to memory).
    public var unavailable: Int = 0
    /// Keys restored from the durable tier at start whose values were read again from the
    /// server (only those answers enter memory).
    public var revalidated: Int = 0
    /// The last connection error, when the server is unreachable.
    public var lastError: String? = nil

    public init() {}
}

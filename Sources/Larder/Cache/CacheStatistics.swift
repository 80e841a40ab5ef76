/// A snapshot of a ``Cache``'s counters, read without stopping other threads.
///
/// Counters are read one after another while other threads may keep working,
/// so a snapshot taken during traffic is approximate across fields, but
/// `totalRequests` is always exactly `hits + misses`.
public struct CacheStatistics: Sendable, Equatable, Codable {
    /// Reads that found a live entry (including entries promoted from a lower tier).
    public var hits: Int
    /// Reads that found no live entry (an expired entry counts as a miss).
    public var misses: Int
    /// Entries removed to make room: for `maxCount`, the byte budget, or memory
    /// pressure (these last ones are also counted in ``pressureEvictions``).
    public var evictions: Int
    /// Expired entries removed, by the sweeper or when a call touched them.
    public var expiredRemovals: Int
    /// Live entries (``Cache/count``).
    public var currentSize: Int
    /// The summed weight of the entries in bytes (``Cache/totalBytes``).
    public var totalBytes: Int
    /// The byte budget in force: the smaller of `maxBytes` and the memory
    /// governor's pressure budget, or `nil` when neither is set.
    public var effectiveByteBudget: Int?
    /// Evictions forced by the memory governor lowering the budget.
    public var pressureEvictions: Int

    /// Evictions that made room for bytes (`maxBytes`) rather than for a slot
    /// (`maxCount`); pressure evictions are not among them. The evictions for
    /// `maxCount` are `evictions - byteEvictions - pressureEvictions`.
    public var byteEvictions: Int

    /// `hits + misses`.
    public var totalRequests: Int { hits + misses }

    /// `hits / totalRequests`, or 0 when there were no requests.
    public var hitRate: Double {
        let total = totalRequests
        return total == 0 ? 0 : Double(hits) / Double(total)
    }

    /// Creates a snapshot with the given counters.
    public init(hits: Int = 0, misses: Int = 0, evictions: Int = 0, expiredRemovals: Int = 0,
                currentSize: Int = 0, totalBytes: Int = 0, effectiveByteBudget: Int? = nil,
                pressureEvictions: Int = 0, byteEvictions: Int = 0) {
        self.hits = hits
        self.misses = misses
        self.evictions = evictions
        self.expiredRemovals = expiredRemovals
        self.currentSize = currentSize
        self.totalBytes = totalBytes
        self.effectiveByteBudget = effectiveByteBudget
        self.pressureEvictions = pressureEvictions
        self.byteEvictions = byteEvictions
    }
}

/// How a ``MemoryGovernor`` samples and how much room it keeps below the limit.
public struct MemoryGovernorConfiguration: Sendable, Equatable {
    /// The room kept free below a limit.
    public enum Margin: Sendable, Equatable {
        /// A fixed number of bytes below the limit (`0 ..< limit`).
        case bytes(Int)
        /// A fraction of the limit (`0.0 ..< 1.0`); `.fraction(0.1)` keeps usage under
        /// 90% of the limit.
        case fraction(Double)

        /// The margin in bytes for a given limit.
        func bytes(forLimit limit: Int) -> Int {
            switch self {
            case .bytes(let bytes): return bytes
            case .fraction(let fraction): return Int(Double(limit) * fraction)
            }
        }
    }

    /// How often the background thread samples the signals. Default 1 second. Each sample
    /// refreshes jemalloc's statistics epoch (about 10 µs) and reads a few cgroup files.
    public var samplingInterval: Duration
    /// The room kept below each limit: the governor evicts when usage comes within the
    /// margin of a limit, and raises budgets again only once usage is at least two
    /// margins below it. Default `.fraction(0.10)`. A byte margin larger than half of a
    /// limit found at run time (the cgroup's, or the system's available memory) counts as
    /// half of it there, so that a small container is not emptied at every tick.
    public var margin: Margin
    /// A limit for this process's heap (jemalloc `stats.resident`), for hosts without a
    /// cgroup limit or services that want a tighter one. nil (default): only the cgroup's
    /// `memory.max`/`memory.high`, or the system's `MemAvailable`, bound the process.
    public var processLimit: Int?
    /// The most entries evicted by one call into a cache (each call holds a shard lock
    /// for at most a bounded batch); the governor calls again until the excess is gone.
    /// Default 256.
    public var batchSize: Int
    /// Budgets are not raised while the cgroup's `memory.pressure` `some avg10` is at or
    /// above this percentage. Default 10.
    public var relaxPressureThreshold: Double
    /// After pressure evictions, return this thread's cached blocks and every arena's
    /// unused dirty pages to the system (`thread.tcache.flush`, `arena.<all>.purge`), so
    /// resident memory falls at once rather than after jemalloc's decay delay. Default true.
    public var releasesMemoryAfterEviction: Bool

    /// Creates a configuration; ``MemoryGovernor/init(configuration:sources:logger:onTick:)``
    /// validates it.
    public init(
        samplingInterval: Duration = .seconds(1),
        margin: Margin = .fraction(0.10),
        processLimit: Int? = nil,
        batchSize: Int = 256,
        relaxPressureThreshold: Double = 10,
        releasesMemoryAfterEviction: Bool = true
    ) {
        self.samplingInterval = samplingInterval
        self.margin = margin
        self.processLimit = processLimit
        self.batchSize = batchSize
        self.relaxPressureThreshold = relaxPressureThreshold
        self.releasesMemoryAfterEviction = releasesMemoryAfterEviction
    }

    /// Checks every field, naming the field, its allowed range and what to change.
    func validate() throws(CacheError) {
        func invalid(_ message: String) -> CacheError {
            CacheError(code: .invalidConfiguration, message: message)
        }
        if samplingInterval <= .zero || samplingInterval > .seconds(3600) {
            throw invalid("MemoryGovernorConfiguration.samplingInterval is \(samplingInterval); "
                + "it must be greater than zero and at most one hour (for example .seconds(1)).")
        }
        switch margin {
        case .bytes(let bytes):
            if bytes < 0 {
                throw invalid("MemoryGovernorConfiguration.margin is .bytes(\(bytes)); "
                    + "a byte margin must be 0 or more.")
            }
            if let limit = processLimit, bytes >= limit {
                throw invalid("MemoryGovernorConfiguration.margin (.bytes(\(bytes))) must be smaller than "
                    + "processLimit (\(limit)); lower the margin or raise the limit.")
            }
        case .fraction(let fraction):
            if !(fraction >= 0 && fraction < 1) {
                throw invalid("MemoryGovernorConfiguration.margin is .fraction(\(fraction)); "
                    + "a fractional margin must be in 0.0 ..< 1.0 (for example .fraction(0.1) for 10%).")
            }
        }
        if let limit = processLimit, limit <= 0 {
            throw invalid("MemoryGovernorConfiguration.processLimit is \(limit); "
                + "it must be a positive number of bytes, or nil for no process limit.")
        }
        if batchSize < 1 || batchSize > 1_000_000 {
            throw invalid("MemoryGovernorConfiguration.batchSize is \(batchSize); "
                + "it must be in 1 ... 1_000_000 entries per eviction call (for example 256).")
        }
        if !(relaxPressureThreshold >= 0 && relaxPressureThreshold <= 100) {
            throw invalid("MemoryGovernorConfiguration.relaxPressureThreshold is \(relaxPressureThreshold); "
                + "it must be a percentage in 0 ... 100.")
        }
    }
}

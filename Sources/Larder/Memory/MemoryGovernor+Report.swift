extension MemoryGovernor {
    /// What one tick saw and did.
    public struct TickReport: Sendable, Equatable {
        /// What the governor did.
        public enum Action: Sendable, Equatable {
            /// Nothing to do: no pressure and no lowered budget.
            case none
            /// Lowered budgets and evicted entries.
            case evicted
            /// Pressure was found but the caches held nothing to evict.
            case nothingToEvict
            /// Kept lowered budgets: not yet far enough below the limits.
            case held
            /// Raised lowered budgets by a step.
            case relaxed
            /// Raised budgets past the limit, which lifts them.
            case lifted
        }

        /// The merged sample of all sources.
        public var sample: MemorySample
        /// The limit closest to being exceeded, if any limit is known.
        public var limitBytes: Int?
        /// The usage compared with ``limitBytes``: for the cgroup's limit, its working set
        /// (``MemorySample/cgroupWorkingSetBytes``), not the raw usage in ``sample``.
        public var usageBytes: Int?
        /// The margin kept below ``limitBytes``.
        public var marginBytes: Int
        /// Bytes over (limit − margin) before this tick acted; 0 when under.
        public var excessBytes: Int
        /// Entries this tick evicted.
        public var evictedEntries: Int
        /// Bytes (entry weights) this tick evicted.
        public var evictedBytes: Int
        /// The registered caches' total bytes after the tick.
        public var cachedBytes: Int
        /// What the tick did.
        public var action: Action
    }

    /// Counters over the governor's life.
    public struct Statistics: Sendable, Equatable {
        /// Ticks run, from the thread and from ``MemoryGovernor/tick()``.
        public var ticks = 0
        /// Ticks that found usage within the margin of a limit.
        public var pressureTicks = 0
        /// Entries evicted under pressure, over all caches.
        public var evictedEntries = 0
        /// Bytes (entry weights) evicted under pressure, over all caches.
        public var evictedBytes = 0
    }
}

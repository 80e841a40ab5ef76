/// One reading of the memory signals a ``MemoryGovernor`` acts on. Every field is
/// optional: a source fills what it can read and leaves the rest nil.
public struct MemorySample: Sendable, Equatable {
    /// Bytes in live heap allocations (jemalloc `stats.allocated`).
    public var allocatedBytes: Int?
    /// Bytes of heap pages resident in memory (jemalloc `stats.resident`): the process's
    /// heap footprint as the kernel sees it.
    public var residentBytes: Int?
    /// The cgroup's charged memory (v2 `memory.current`, v1 `memory.usage_in_bytes`),
    /// which includes page cache and every process in the cgroup.
    public var cgroupCurrentBytes: Int?
    /// The inactive file pages charged to the cgroup (`memory.stat` v2 `inactive_file`,
    /// v1 `total_inactive_file`, else `inactive_file`): page cache the kernel reclaims
    /// first, such as the mapped pages of a durable tier's `data.mdb` not touched lately.
    /// Nil when `memory.stat` is missing or lacks the field. It is read together with
    /// ``cgroupCurrentBytes``, so the two always come from the same source.
    public var cgroupInactiveFileBytes: Int?
    /// The cgroup's working set as the kubelet computes it: ``cgroupCurrentBytes`` less
    /// ``cgroupInactiveFileBytes``, at least 0; the whole of ``cgroupCurrentBytes`` when
    /// the inactive file figure is unknown. This is the usage a ``MemoryGovernor``
    /// compares with the cgroup's limit. Nil when the usage is unknown.
    public var cgroupWorkingSetBytes: Int? {
        guard let current = cgroupCurrentBytes else { return nil }
        return max(0, current - (cgroupInactiveFileBytes ?? 0))
    }
    /// The cgroup's hard limit (v2 `memory.max`, the lowest along the cgroup's ancestors;
    /// v1 `memory.stat` `hierarchical_memory_limit`); nil when unlimited or unknown.
    public var cgroupMaxBytes: Int?
    /// The cgroup's throttling limit (v2 `memory.high`, lowest along the ancestors); nil
    /// when unlimited or unknown, and always nil on cgroup v1, which has no equivalent.
    public var cgroupHighBytes: Int?
    /// The share of the last 10 seconds in which some task of the cgroup stalled on
    /// memory, in percent (v2 `memory.pressure`, `some avg10`; on a hybrid host read
    /// through v1, the unified cgroup's); nil on a pure cgroup v1 host.
    public var pressureSomeAvg10: Double?
    /// Memory the system could give without swapping (`/proc/meminfo` `MemAvailable`),
    /// read only when the cgroup sets no limit.
    public var availableBytes: Int?

    /// Creates a sample; fields left nil are unknown.
    public init(
        allocatedBytes: Int? = nil, residentBytes: Int? = nil,
        cgroupCurrentBytes: Int? = nil, cgroupInactiveFileBytes: Int? = nil,
        cgroupMaxBytes: Int? = nil, cgroupHighBytes: Int? = nil,
        pressureSomeAvg10: Double? = nil, availableBytes: Int? = nil
    ) {
        self.allocatedBytes = allocatedBytes
        self.residentBytes = residentBytes
        self.cgroupCurrentBytes = cgroupCurrentBytes
        self.cgroupInactiveFileBytes = cgroupInactiveFileBytes
        self.cgroupMaxBytes = cgroupMaxBytes
        self.cgroupHighBytes = cgroupHighBytes
        self.pressureSomeAvg10 = pressureSomeAvg10
        self.availableBytes = availableBytes
    }

    /// Fills this sample's missing fields from `other` (the first source to report a
    /// field wins). The cgroup usage and its inactive file pages are one pair, taken
    /// together from the first source that reports the usage, so a working set is never
    /// computed from two sources' readings.
    mutating func fillMissing(from other: MemorySample) {
        allocatedBytes = allocatedBytes ?? other.allocatedBytes
        residentBytes = residentBytes ?? other.residentBytes
        if cgroupCurrentBytes == nil {
            cgroupCurrentBytes = other.cgroupCurrentBytes
            cgroupInactiveFileBytes = other.cgroupInactiveFileBytes
        }
        cgroupMaxBytes = cgroupMaxBytes ?? other.cgroupMaxBytes
        cgroupHighBytes = cgroupHighBytes ?? other.cgroupHighBytes
        pressureSomeAvg10 = pressureSomeAvg10 ?? other.pressureSomeAvg10
        availableBytes = availableBytes ?? other.availableBytes
    }
}

/// The process allocator's view: refreshes jemalloc's statistics `epoch`, then reads
/// `stats.allocated` and `stats.resident`.
public struct JemallocSignalSource: MemorySignalSource {
    /// Creates the source; jemalloc's controls are resolved once per process.
    public init() {}

    /// Advances the statistics epoch and reads `stats.allocated` and `stats.resident`
    /// (nil fields when jemalloc's controls are unavailable).
    public func sample() -> MemorySample {
        guard let stats = JemallocStatistics.shared else { return MemorySample() }
        do {
            try stats.refresh()
            return MemorySample(allocatedBytes: try stats.allocated(), residentBytes: try stats.resident())
        } catch {
            return MemorySample()
        }
    }
}

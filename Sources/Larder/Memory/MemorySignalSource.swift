/// Something a ``MemoryGovernor`` samples at each tick: the process allocator, the
/// cgroup, the system, or a test's scripted figures.
///
/// `sample()` runs on the governor's thread (or the caller of
/// ``MemoryGovernor/tick()``), never on a cache operation, so it may read files and
/// make system calls. It reports what it cannot read as nil rather than failing.
public protocol MemorySignalSource: Sendable {
    /// Reads the signals now; unreadable fields are nil.
    func sample() -> MemorySample
}

import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The governor's view of a cache. `Cache` conforms; every call is made outside the
/// cache's locks, from the governor's thread or the caller of ``MemoryGovernor/tick()``.
protocol MemoryGovernedCache: AnyObject, Sendable {
    /// The bytes the cache's entries weigh now.
    var totalBytes: Int { get }
    /// Sets (nil lifts) the pressure budget; the effective budget is
    /// min(maxBytes, pressure budget).
    func setPressureBudget(_ bytes: Int?)
    /// Evicts least-recent entries toward the effective budget, at most `maxEntries`.
    func evictTowardBudget(maxEntries: Int) -> (entries: Int, bytes: Int)
}

/// Keeps a process out of the out-of-memory killer's way by shrinking its caches before
/// the kernel has to.
///
/// At every tick the governor samples its ``MemorySignalSource``s and compares usage
/// with each limit it knows:
/// - the configured ``MemoryGovernorConfiguration/processLimit`` against the heap's
///   resident bytes (jemalloc `stats.resident`);
/// - the cgroup's limit (v2 `memory.max`/`memory.high`, the lower; v1
///   `hierarchical_memory_limit`) against its working set as the kubelet computes it:
///   usage (`memory.current`, v1 `memory.usage_in_bytes`) less the inactive file pages
///   of `memory.stat`, which the kernel reclaims before it would kill;
/// - without a cgroup limit, the system's `MemAvailable`: usage may grow by what is
///   available.
///
/// When usage is within the margin of a limit, the governor lowers the registered caches'
/// effective byte budgets by the excess (shared in proportion to what each cache holds)
/// and evicts their least-recent entries in batches of
/// ``MemoryGovernorConfiguration/batchSize`` until the excess is gone, all within the
/// tick; then it returns freed pages to the system. When usage is back at least two
/// margins below every limit and the cgroup reports little memory pressure, it raises the
/// budgets again stepwise (by half the spare room per tick) and lifts them once they
/// pass the limit.
///
/// Ticks run on a background thread started by ``start()`` at the configured interval,
/// and stop on ``stop()`` or when the governor is released. ``tick()`` runs one tick
/// on the caller's thread (tests, or services with their own scheduler). Actions are
/// logged at `info`; caches count pressure evictions and report their effective budget
/// in their statistics.
public final class MemoryGovernor: Sendable {

    struct Registration {
        weak var cache: (any MemoryGovernedCache)?
        let id: ObjectIdentifier
        var pressureBudget: Int?
    }

    struct State {
        var registrations: [Registration] = []
        var statistics = Statistics()
    }

    /// The validated configuration.
    public let configuration: MemoryGovernorConfiguration
    private let sources: [any MemorySignalSource]
    private let logger: Logger?
    private let onTick: (@Sendable (TickReport) -> Void)?
    /// Held for a whole tick, so ticks from the thread and from ``tick()`` never overlap.
    private let tickLock = Locked(0)
    /// Held only to read or change the registrations and counters, never while a cache
    /// logs or runs its eviction hook (which may read ``statistics`` or register a cache).
    private let state = Locked(State())
    private let runner = PeriodicRunner()

    /// The signal sources used when none are given: jemalloc, then the cgroup (with the
    /// system's `MemAvailable` as fallback).
    public static var defaultSources: [any MemorySignalSource] {
        [JemallocSignalSource(), CgroupSignalSource()]
    }

    /// Creates a governor; call ``start()`` to run it on its own thread.
    ///
    /// - Parameters:
    ///   - configuration: interval, margin, optional process limit, batch size.
    ///   - sources: where samples come from; earlier sources win for a field both report.
    ///   - logger: receives pressure actions at `info`.
    ///   - onTick: called after every tick (on the ticking thread, outside the governor's
    ///     lock), for metrics or tests that wait for the background thread.
    /// - Throws: ``CacheError`` (`invalidConfiguration`) naming the field to change.
    public init(
        configuration: MemoryGovernorConfiguration = .init(),
        sources: [any MemorySignalSource] = MemoryGovernor.defaultSources,
        logger: Logger? = nil,
        onTick: (@Sendable (TickReport) -> Void)? = nil
    ) throws(CacheError) {
        try configuration.validate()
        if sources.isEmpty {
            throw CacheError(code: .invalidConfiguration,
                             message: "MemoryGovernor needs at least one signal source; pass MemoryGovernor.defaultSources or your own.")
        }
        self.configuration = configuration
        self.sources = sources
        self.logger = logger
        self.onTick = onTick
    }

    deinit {
        runner.stop()
    }

    /// Counters over the governor's life.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Puts a cache under this governor. The governor holds it weakly: a released cache
    /// simply drops out. Registering a cache twice has no further effect.
    func register(governed cache: any MemoryGovernedCache) {
        let id = ObjectIdentifier(cache)
        state.withLock { state in
            state.registrations.removeAll { $0.cache == nil }
            guard !state.registrations.contains(where: { $0.id == id }) else { return }
            state.registrations.append(Registration(cache: cache, id: id, pressureBudget: nil))
        }
    }

    /// Releases a cache from this governor and lifts any pressure budget it set on it.
    func unregister(governed cache: any MemoryGovernedCache) {
        let id = ObjectIdentifier(cache)
        let removed = state.withLock { state -> Bool in
            let before = state.registrations.count
            state.registrations.removeAll { $0.id == id || $0.cache == nil }
            return state.registrations.count < before
        }
        if removed { cache.setPressureBudget(nil) }
    }

    // MARK: - Background thread

    /// Starts ticking every ``MemoryGovernorConfiguration/samplingInterval`` on a
    /// background thread (the first tick runs at once). Calling it again has no effect.
    public func start() {
        start(onThreadExit: nil)
    }

    /// ``start()`` with a hook the thread calls as it ends (for tests).
    func start(onThreadExit: (@Sendable () -> Void)?) {
        let weakSelf = WeakGovernor(self)
        runner.start(interval: configuration.samplingInterval, tickAtStart: true, onExit: onThreadExit) {
            // The strong reference lives only for one tick, so releasing the governor
            // between ticks ends the thread.
            guard let governor = weakSelf.value else { return false }
            governor.tick()
            return true
        }
    }

    /// Stops the background thread, waiting for a tick in progress to finish. Budgets
    /// already lowered stay as they are.
    public func stop() {
        runner.stop()
    }

    // MARK: - Tick

    /// Samples the sources and acts once: evicts toward a lowered budget when usage is
    /// within the margin of a limit, raises lowered budgets when it is well below.
    @discardableResult
    public func tick() -> TickReport {
        let report = tickLock.withLock { _ in tickSerialized() }
        onTick?(report)
        return report
    }

    private func tickSerialized() -> TickReport {
        // Sampled before the state lock (it reads files); `tickLock` keeps samples in order.
        let sample = sampleSources()
        var (report, messages, plan) = state.withLock { state in
            tickLocked(&state, sample: sample)
        }
        // The caches act outside the state lock: they log and call their eviction hooks.
        for step in plan {
            step.cache.setPressureBudget(step.budget)
            if step.evict, let budget = step.budget {
                while true {
                    let (entries, bytes) = step.cache.evictTowardBudget(maxEntries: configuration.batchSize)
                    report.evictedEntries += entries
                    report.evictedBytes += bytes
                    if entries == 0 || step.cache.totalBytes <= budget { break }
                }
            }
            // Unregistered meanwhile (unregister drops the registration, then lifts the
            // budget): lift the budget this step set too, or it stays for good.
            let id = ObjectIdentifier(step.cache)
            if !state.withLock({ $0.registrations.contains { $0.id == id } }) { step.cache.setPressureBudget(nil) }
        }
        if report.action == .evicted {
            if report.evictedEntries > 0 && configuration.releasesMemoryAfterEviction {
                releaseFreedMemory()
            }
            state.withLock { state in
                state.statistics.evictedEntries += report.evictedEntries
                state.statistics.evictedBytes += report.evictedBytes
            }
            if !messages.isEmpty {
                messages[messages.count - 1].1["evictedEntries"] = "\(report.evictedEntries)"
                messages[messages.count - 1].1["evictedBytes"] = "\(report.evictedBytes)"
            }
        }
        if !plan.isEmpty {
            report.cachedBytes = state.withLock { $0.registrations.reduce(0) { $0 + ($1.cache?.totalBytes ?? 0) } }
        }
        if let logger {
            for (message, metadata) in messages { logger.info(message, metadata: metadata) }
        }
        return report
    }

    private func sampleSources() -> MemorySample {
        var sample = MemorySample()
        for source in sources { sample.fillMissing(from: source.sample()) }
        return sample
    }

    typealias LogLine = (Logger.Message, Logger.Metadata)

    /// The evicted values were released on this thread: hand its cached blocks back to
    /// the arenas and the arenas' unused pages back to the kernel, so resident memory
    /// (what cgroup limits and the OOM killer see) falls now.
    private func releaseFreedMemory() {
        guard let stats = JemallocStatistics.shared else { return }
        try? stats.flushThreadCache()
        try? stats.releaseUnusedPages()
    }
}

/// The governor's pointer for its own thread: weak, so the thread never keeps it alive.
private final class WeakGovernor: Sendable {
    // `weak let` is not available in Swift 6.0 mode; the reference is set once, in init.
    nonisolated(unsafe) weak var value: MemoryGovernor?
    init(_ value: MemoryGovernor) { self.value = value }
}

import Foundation
import Dispatch
import Logging
import Synchronization
import Testing
@testable import Larder

/// A stand-in cache: LRU order, one weight per entry, a pressure budget.
final class FakeGovernedCache: MemoryGovernedCache, @unchecked Sendable {
    private let lock = TestLock(())
    private(set) var entries: [(key: Int, bytes: Int)] = []  // oldest first
    private(set) var budget: Int?
    private(set) var budgetHistory: [Int?] = []
    private(set) var evictedKeys: [Int] = []
    private(set) var largestBatch = 0
    private(set) var evictCalls = 0

    init(entries count: Int, bytesEach: Int) {
        entries = (0..<count).map { ($0, bytesEach) }
    }

    var totalBytes: Int { lock.withLock { _ in entries.reduce(0) { $0 + $1.bytes } } }

    func setPressureBudget(_ bytes: Int?) {
        lock.withLock { _ in
            budget = bytes
            budgetHistory.append(bytes)
        }
    }

    func evictTowardBudget(maxEntries: Int) -> (entries: Int, bytes: Int) {
        lock.withLock { _ in
            evictCalls += 1
            var total = entries.reduce(0) { $0 + $1.bytes }
            var count = 0, bytes = 0
            while let limit = budget, total > limit, count < maxEntries, !entries.isEmpty {
                let victim = entries.removeFirst()
                evictedKeys.append(victim.key)
                total -= victim.bytes
                bytes += victim.bytes
                count += 1
            }
            largestBatch = max(largestBatch, count)
            return (count, bytes)
        }
    }
}

@Suite("Memory governor")
struct MemoryGovernorTests {
    let logs = CapturedLogs()

    private func governor(_ source: ScriptedMemorySource, margin: MemoryGovernorConfiguration.Margin = .fraction(0.1),
                          processLimit: Int? = nil, batchSize: Int = 100) throws -> MemoryGovernor {
        try MemoryGovernor(
            configuration: .init(margin: margin, processLimit: processLimit, batchSize: batchSize,
                                 releasesMemoryAfterEviction: false),
            sources: [source],
            logger: logs.logger)
    }

    @Test func invalidConfigurationsThrowClearErrors() {
        func message(_ configuration: MemoryGovernorConfiguration) -> String? {
            do {
                _ = try MemoryGovernor(configuration: configuration, sources: [ScriptedMemorySource(.init())])
                return nil
            } catch {
                #expect(error.code == .invalidConfiguration)
                return error.message
            }
        }
        #expect(message(.init(samplingInterval: .zero))?.contains("samplingInterval") == true)
        #expect(message(.init(margin: .fraction(1.0)))?.contains("0.0 ..< 1.0") == true)
        #expect(message(.init(margin: .fraction(.nan)))?.contains("margin") == true)
        #expect(message(.init(margin: .bytes(-1)))?.contains("margin") == true)
        #expect(message(.init(margin: .bytes(100), processLimit: 100))?.contains("processLimit") == true)
        #expect(message(.init(processLimit: 0))?.contains("processLimit") == true)
        #expect(message(.init(batchSize: 0))?.contains("batchSize") == true)
        #expect(message(.init(relaxPressureThreshold: 101))?.contains("relaxPressureThreshold") == true)
        #expect(message(.init()) == nil)
        #expect(throws: CacheError.self) { try MemoryGovernor(sources: []) }
    }

    /// The process is 5% over its limit: one tick evicts at least the excess (plus the
    /// margin), oldest first, in bounded batches.
    @Test func anEvictionHookMayCallTheGovernor() throws {
        let limit = 100_000_000
        let source = ScriptedMemorySource(MemorySample(residentBytes: limit * 105 / 100))
        let governor = try governor(source, margin: .bytes(1_000_000), processLimit: limit, batchSize: 100)
        let seen = Atomic<Int>(0)
        // The hook reads the governor's statistics and registers its own cache again
        // (no effect): both take the governor's lock, which the tick must not hold.
        let holder = TestLock<Cache<Int, Int>?>(nil)
        let cache = try Cache<Int, Int>(configuration: .init(maxCount: 1_000, sweepInterval: nil), tier: nil,
                                        hooks: CacheHooks(onEvict: { _ in
            _ = governor.statistics
            if let cache = holder.withLock({ $0 }) { governor.register(cache) }
            seen.add(1, ordering: .relaxed)
        }))
        holder.withLock { $0 = cache }
        for key in 0..<1_000 { try cache.setValue(key, forKey: key, ttl: nil, cost: 100_000) }  // 100 MB held
        governor.register(cache)
        let report = TestLock<MemoryGovernor.TickReport?>(nil)
        let thread = TestThread {
            let r = governor.tick()
            report.withLock { $0 = r }
        }
        // A deadlock never returns; the bound only keeps a failing run from hanging.
        try #require(thread.join(within: .seconds(60)), "the tick deadlocked in the eviction hook")
        let evicted = try #require(report.withLock { $0 }).evictedEntries
        #expect(evicted > 0)
        #expect(seen.load(ordering: .relaxed) == evicted)
        #expect(governor.statistics.evictedEntries == evicted)
        holder.withLock { $0 = nil }
    }

    /// Cache A's eviction hook releases cache B from the governor while the tick carries
    /// out its plan (which lowers B's budget after A's): B must end with no budget.
    @Test func anUnregisterOverlappingATickLeavesNoBudgetBehind() throws {
        let limit = 100_000_000
        let source = ScriptedMemorySource(MemorySample(residentBytes: limit * 105 / 100))
        let governor = try governor(source, margin: .bytes(1_000_000), processLimit: limit, batchSize: 100)
        let b = try Cache<Int, Int>(configuration: .init(maxCount: 1_000, sweepInterval: nil))
        let once = Atomic<Bool>(false)
        let a = try Cache<Int, Int>(configuration: .init(maxCount: 1_000, sweepInterval: nil), tier: nil,
                                    hooks: CacheHooks(onEvict: { _ in
            if !once.exchange(true, ordering: .relaxed) { governor.unregister(b) }
        }))
        for key in 0..<500 {
            try a.setValue(key, forKey: key, ttl: nil, cost: 100_000)
            try b.setValue(key, forKey: key, ttl: nil, cost: 100_000)
        }
        governor.register(a)
        governor.register(b)
        governor.tick()
        let fired = once.load(ordering: .relaxed)
        #expect(fired)
        #expect(b.statistics.effectiveByteBudget == nil,
                "B was released (its budget lifted), yet carries \(String(describing: b.statistics.effectiveByteBudget))")
    }

    @Test func oneTickEvictsTheExcessOldestFirst() throws {
        let limit = 100_000_000
        let source = ScriptedMemorySource(MemorySample(residentBytes: limit * 105 / 100))
        let cache = FakeGovernedCache(entries: 10_000, bytesEach: 4_000)  // 40 MB held
        let governor = try governor(source, margin: .bytes(1_000_000), processLimit: limit, batchSize: 100)
        governor.register(governed: cache)

        let report = governor.tick()
        let excess = limit * 5 / 100 + 1_000_000
        #expect(report.action == .evicted)
        #expect(report.excessBytes == excess)
        #expect(report.evictedBytes >= excess)
        #expect(report.evictedBytes < excess + 4_000 + 1)  // no more than one entry beyond
        #expect(cache.totalBytes <= 40_000_000 - excess)
        #expect(cache.evictedKeys == Array(0..<cache.evictedKeys.count))  // oldest first
        #expect(cache.largestBatch <= 100)
        #expect(cache.evictCalls > 1)
        #expect(cache.budget == 40_000_000 - excess)
        #expect(governor.statistics.evictedBytes == report.evictedBytes)
        #expect(governor.statistics.pressureTicks == 1)
        #expect(logs.contains(.info, "evicted"))
    }

    @Test func reliefRaisesTheBudgetStepwiseThenLiftsIt() throws {
        let limit = 100_000_000
        let source = ScriptedMemorySource(MemorySample(residentBytes: limit * 105 / 100))
        let cache = FakeGovernedCache(entries: 10_000, bytesEach: 4_000)
        let governor = try governor(source, processLimit: limit)
        governor.register(governed: cache)
        governor.tick()
        let lowered = try #require(cache.budget)

        // Between one and two margins below the limit: hold.
        source.set(MemorySample(residentBytes: limit * 85 / 100))
        #expect(governor.tick().action == .held)
        #expect(cache.budget == lowered)

        // Well below: the budget climbs each tick, then is lifted.
        source.set(MemorySample(residentBytes: limit / 2))
        var budgets: [Int] = [lowered]
        var lastAction = MemoryGovernor.TickReport.Action.none
        for _ in 0..<50 {
            lastAction = governor.tick().action
            guard let budget = cache.budget else { break }
            budgets.append(budget)
        }
        #expect(lastAction == .lifted)
        #expect(cache.budget == nil)
        #expect(budgets.count >= 3)  // stepwise, not all at once
        #expect(zip(budgets, budgets.dropFirst()).allSatisfy { $0 < $1 })
        // With nothing lowered and no pressure there is nothing to do.
        #expect(governor.tick().action == .none)
    }

    @Test func memoryPressureStallsHoldTheBudget() throws {
        let limit = 100_000_000
        let source = ScriptedMemorySource(MemorySample(residentBytes: limit, pressureSomeAvg10: 30))
        let cache = FakeGovernedCache(entries: 1_000, bytesEach: 40_000)
        let governor = try governor(source, processLimit: limit)
        governor.register(governed: cache)
        governor.tick()
        let lowered = cache.budget
        source.set(MemorySample(residentBytes: limit / 2, pressureSomeAvg10: 30))
        #expect(governor.tick().action == .held)
        #expect(cache.budget == lowered)
        source.set(MemorySample(residentBytes: limit / 2, pressureSomeAvg10: 1))
        #expect(governor.tick().action != .held)
    }

    @Test func cgroupLimitIsTheLowerOfMaxAndHigh() throws {
        let source = ScriptedMemorySource(MemorySample(
            residentBytes: 10, cgroupCurrentBytes: 950_000, cgroupMaxBytes: 2_000_000, cgroupHighBytes: 1_000_000))
        let cache = FakeGovernedCache(entries: 1_000, bytesEach: 1_000)
        let governor = try governor(source, margin: .bytes(0))
        governor.register(governed: cache)
        #expect(governor.tick().action == .none)
        source.set(MemorySample(cgroupCurrentBytes: 1_050_000, cgroupMaxBytes: 2_000_000, cgroupHighBytes: 1_000_000))
        let report = governor.tick()
        #expect(report.limitBytes == 1_000_000)
        #expect(report.excessBytes == 50_000)
        #expect(report.evictedBytes == 50_000)
    }

    /// A byte margin sized for a big host, in a container whose cgroup limit is smaller
    /// than the margin: capped at half that limit, not "evict everything".
    @Test func aByteMarginLargerThanTheCgroupLimitIsCappedAtHalfOfIt() throws {
        let source = ScriptedMemorySource(MemorySample(cgroupCurrentBytes: 300_000, cgroupMaxBytes: 1_000_000))
        let cache = FakeGovernedCache(entries: 200, bytesEach: 1_000)
        let governor = try governor(source, margin: .bytes(4_000_000))
        governor.register(governed: cache)
        #expect(governor.tick().action == .none)
        #expect(cache.entries.count == 200)
        source.set(MemorySample(cgroupCurrentBytes: 550_000, cgroupMaxBytes: 1_000_000))
        let report = governor.tick()
        #expect(report.marginBytes == 500_000)
        #expect(report.excessBytes == 50_000)
        #expect(report.evictedBytes == 50_000)
    }

    @Test func memAvailableBoundsAProcessWithoutLimits() throws {
        let source = ScriptedMemorySource(MemorySample(residentBytes: 900_000, availableBytes: 50_000))
        let cache = FakeGovernedCache(entries: 500, bytesEach: 1_000)
        let governor = try governor(source, margin: .bytes(100_000))
        governor.register(governed: cache)
        let report = governor.tick()
        #expect(report.limitBytes == 950_000)
        #expect(report.excessBytes == 50_000)
        #expect(report.evictedBytes == 50_000)
    }

    @Test func excessIsSharedInProportionToWhatEachCacheHolds() throws {
        let source = ScriptedMemorySource(MemorySample(residentBytes: 1_300_000))
        let big = FakeGovernedCache(entries: 300, bytesEach: 1_000)
        let small = FakeGovernedCache(entries: 100, bytesEach: 1_000)
        let governor = try governor(source, margin: .bytes(0), processLimit: 1_200_000)
        governor.register(governed: big)
        governor.register(governed: small)
        governor.register(governed: big)  // no double registration
        let report = governor.tick()
        #expect(report.evictedBytes == 100_000)
        #expect(big.totalBytes == 225_000)
        #expect(small.totalBytes == 75_000)
        governor.unregister(governed: small)
        #expect(small.budget == nil)
    }

    @Test func pressureWithEmptyCachesIsReported() throws {
        let source = ScriptedMemorySource(MemorySample(residentBytes: 2_000))
        let governor = try governor(source, margin: .bytes(0), processLimit: 1_000)
        let empty = FakeGovernedCache(entries: 0, bytesEach: 0)
        governor.register(governed: empty)
        #expect(governor.tick().action == .nothingToEvict)
        // With no limit known at all, the governor does nothing.
        let blind = try self.governor(ScriptedMemorySource(MemorySample()))
        #expect(blind.tick().action == .none)
    }

    @Test func backgroundThreadTicksUntilStopped() throws {
        let source = ScriptedMemorySource(MemorySample(residentBytes: 2_000_000))
        let cache = FakeGovernedCache(entries: 100, bytesEach: 1_000)
        let ticked = DispatchSemaphore(value: 0)
        let governor = try MemoryGovernor(
            configuration: .init(samplingInterval: .milliseconds(1), margin: .bytes(0), processLimit: 1_950_000,
                                 releasesMemoryAfterEviction: false),
            sources: [source],
            onTick: { _ in ticked.signal() })
        governor.register(governed: cache)
        governor.start()
        governor.start()  // idempotent
        for _ in 0..<3 { #expect(ticked.wait(timeout: .now() + .seconds(30)) == .success) }
        governor.stop()
        let after = source.samples.load(ordering: .relaxed)
        #expect(after >= 3)
        #expect(cache.totalBytes <= 50_000)
        // Stopped: a manual tick is the only further sample.
        governor.tick()
        #expect(source.samples.load(ordering: .relaxed) == after + 1)
    }

    @Test func releasingTheGovernorEndsItsThread() throws {
        let source = ScriptedMemorySource(MemorySample())
        let ticked = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
        weak var weakGovernor: MemoryGovernor?
        do {
            let governor = try MemoryGovernor(
                configuration: .init(samplingInterval: .milliseconds(1)), sources: [source],
                onTick: { _ in ticked.signal() })
            weakGovernor = governor
            governor.start(onThreadExit: { exited.signal() })
            #expect(ticked.wait(timeout: .now() + .seconds(30)) == .success)
        }
        // The thread holds the governor only during a tick, so dropping the last outside
        // reference ends it. (The timeout only bounds a failure.)
        #expect(exited.wait(timeout: .now() + .seconds(30)) == .success)
        #expect(weakGovernor == nil)
    }

    @Test func stopEndsTheThread() throws {
        let exited = DispatchSemaphore(value: 0)
        let governor = try MemoryGovernor(configuration: .init(samplingInterval: .seconds(3600)),
                                          sources: [ScriptedMemorySource(MemorySample())])
        governor.start(onThreadExit: { exited.signal() })
        governor.stop()  // wakes the hour-long wait and joins
        #expect(exited.wait(timeout: .now()) == .success)
    }
}

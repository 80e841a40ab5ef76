import Logging

/// The governor's policy: which limits apply to a sample, and what one tick does about
/// them. Decided under the state lock; carried out by the caches after it is dropped.
extension MemoryGovernor {
    /// The limit a usage is compared against.
    struct Bound {
        var name: String
        var usage: Int
        var limit: Int
        var margin: Int
        /// For the cgroup: the raw usage and the inactive file pages left out of ``usage``
        /// (nil when unknown), logged beside it.
        var rawUsage: Int? = nil
        var inactiveFile: Int? = nil
        /// Bytes over (limit − margin); negative when there is room.
        var excess: Int { usage - (limit - margin) }
    }

    /// A change the tick decided on for one cache, carried out after the state lock is dropped.
    struct PlanStep {
        let cache: any MemoryGovernedCache
        let budget: Int?
        let evict: Bool
    }

    func bounds(for sample: MemorySample) -> [Bound] {
        var bounds: [Bound] = []
        let processUsage = sample.residentBytes ?? sample.allocatedBytes
        if let limit = configuration.processLimit, let usage = processUsage {
            bounds.append(Bound(name: "process limit", usage: usage, limit: limit,
                                margin: configuration.margin.bytes(forLimit: limit)))
        }
        // A byte margin is checked against processLimit when configured, but the cgroup's
        // and the system's limits are only known now: one as large as such a limit would
        // evict everything at every tick, so it is capped at half of it.
        func discoveredMargin(_ limit: Int) -> Int { min(configuration.margin.bytes(forLimit: limit), limit / 2) }
        let cgroupLimit = [sample.cgroupMaxBytes, sample.cgroupHighBytes].compactMap { $0 }.min()
        // The working set (usage less inactive file pages, which the kernel reclaims before
        // it would kill), as the kubelet measures it: a mapped data.mdb does not count.
        if let limit = cgroupLimit, let usage = sample.cgroupWorkingSetBytes {
            bounds.append(Bound(name: "cgroup working set", usage: usage, limit: limit,
                                margin: discoveredMargin(limit), rawUsage: sample.cgroupCurrentBytes,
                                inactiveFile: sample.cgroupInactiveFileBytes))
        } else if cgroupLimit == nil, let available = sample.availableBytes, let usage = processUsage {
            let (limit, overflow) = usage.addingReportingOverflow(available)
            if !overflow {
                bounds.append(Bound(name: "system MemAvailable", usage: usage, limit: limit,
                                    margin: discoveredMargin(limit)))
            }
        }
        return bounds
    }

    func tickLocked(_ state: inout State, sample: MemorySample) -> (TickReport, [LogLine], [PlanStep]) {
        let bounds = bounds(for: sample)
        state.registrations.removeAll { $0.cache == nil }
        state.statistics.ticks += 1

        let binding = bounds.max { $0.excess < $1.excess }
        let excess = max(0, binding?.excess ?? 0)
        var report = TickReport(
            sample: sample, limitBytes: binding?.limit, usageBytes: binding?.usage,
            marginBytes: binding?.margin ?? 0, excessBytes: excess,
            evictedEntries: 0, evictedBytes: 0, cachedBytes: 0, action: .none)
        var log: [LogLine] = []
        var plan: [PlanStep] = []
        let caches = state.registrations.map { $0.cache }

        if let binding, excess > 0 {
            state.statistics.pressureTicks += 1
            let totals = caches.map { $0?.totalBytes ?? 0 }
            let held = totals.reduce(0, +)
            if held == 0 {
                report.action = .nothingToEvict
                log.append(("Larder memory governor: near the limit, but the caches hold nothing to evict",
                            metadata(binding, excess: excess)))
            } else {
                for index in state.registrations.indices {
                    guard let cache = caches[index], totals[index] > 0 else { continue }
                    // Each cache gives up its share of the excess, rounded up.
                    let cut = Int((Double(excess) * Double(totals[index]) / Double(held)).rounded(.up))
                    let target = max(0, totals[index] - cut)
                    let budget = min(state.registrations[index].pressureBudget ?? .max, target)
                    state.registrations[index].pressureBudget = budget
                    plan.append(PlanStep(cache: cache, budget: budget, evict: true))
                }
                report.action = .evicted
                // The evicted counts join the metadata once the plan has run (the last line).
                var meta = metadata(binding, excess: excess)
                meta["cacheBudgets"] = "\(state.registrations.map { $0.pressureBudget.map(String.init) ?? "none" })"
                log.append(("Larder memory governor: lowered cache budgets and evicted under memory pressure", meta))
            }
        } else if !bounds.isEmpty, state.registrations.contains(where: { $0.pressureBudget != nil }) {
            // Room is how far usage is below (limit − margin) for the tightest limit.
            let room = bounds.map { -$0.excess }.min() ?? 0
            let needed = bounds.map(\.margin).max() ?? 0
            let calm = (sample.pressureSomeAvg10 ?? 0) < configuration.relaxPressureThreshold
            if room >= needed && calm {
                let lowest = bounds.map(\.limit).min() ?? .max
                let budgeted = state.registrations.filter { $0.pressureBudget != nil }.count
                let step = max(1, room / 2 / max(1, budgeted))
                var lifted = 0
                for index in state.registrations.indices {
                    guard let budget = state.registrations[index].pressureBudget else { continue }
                    var raised: Int? = budget.addingReportingOverflow(step).partialValue
                    if raised! >= lowest || raised! < budget { raised = nil; lifted += 1 }
                    state.registrations[index].pressureBudget = raised
                    if let cache = caches[index] { plan.append(PlanStep(cache: cache, budget: raised, evict: false)) }
                }
                report.action = lifted == budgeted ? .lifted : .relaxed
                var meta = metadata(binding!, excess: 0)
                meta["step"] = "\(step)"
                meta["cacheBudgets"] = "\(state.registrations.map { $0.pressureBudget.map(String.init) ?? "none" })"
                log.append((report.action == .lifted
                            ? "Larder memory governor: pressure passed, lifted cache budgets"
                            : "Larder memory governor: pressure easing, raised cache budgets", meta))
            } else {
                report.action = .held
            }
        }
        report.cachedBytes = caches.reduce(0) { $0 + ($1?.totalBytes ?? 0) }
        return (report, log, plan)
    }

    func metadata(_ bound: Bound, excess: Int) -> Logger.Metadata {
        var meta: Logger.Metadata = [
            "signal": "\(bound.name)",
            "usage": "\(bound.usage)",
            "limit": "\(bound.limit)",
            "margin": "\(bound.margin)",
            "excess": "\(excess)",
        ]
        if let raw = bound.rawUsage { meta["cgroupUsage"] = "\(raw)" }
        if let inactive = bound.inactiveFile { meta["inactiveFile"] = "\(inactive)" }
        return meta
    }
}

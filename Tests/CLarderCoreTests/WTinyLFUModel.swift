import CLarderCore

/// A plain model of the core's W-TinyLFU (larder_policy_wtinylfu.c,
/// larder_wtinylfu_evict.c, larder_wtinylfu_counts.c and larder_policy_window.c): three key lists, the regions' counts, weights
/// and limits, the sketch, the eviction round and the window's regrets, written
/// for clarity rather than speed. Keys are small integers; the driver owns
/// their hashes and weights and passes them in.
struct WTinyLFUModel {
    static let window = 0, probation = 1, protected = 2

    enum Phase: Equatable { case none, moved, newcomer, window, windowOn, done }

    let capacity: UInt32
    let adapts: Bool
    var maxWeight: UInt64 = .max
    var lists: [KeyList]
    var regions = [ModelRegion](repeating: ModelRegion(), count: 3)
    var regionOf: [Int]
    var hashOf: [UInt64]
    var weightOf: [UInt64]
    /// Hits counted in a resident entry since it was inserted or aged (its 4 bits).
    var countOf: [UInt32]
    /// The sketch's estimate a resident carries from its insert (bits 52-55
    /// of its weight word), aged with the sketch.
    var estimateOf: [UInt32]
    /// The core's slot of each resident: aging and clearing go in slot order.
    var slotOf: [UInt32]
    var count: UInt32 = 0
    var totalWeight: UInt64 = 0
    var sketch: ModelSketch
    var rng: ModelXorshift
    var counting = false
    var rebalancePending = false
    var windowPPM: UInt32 = 10_000
    /// Window regrets' running share of the recent regrets, of 65,536.
    var windowRegretShare: UInt32 = 32_768
    /// Recent departures by side (0: the window, 1: main): each slot's record,
    /// the fingerprint and stamp that the core packs into a word.
    var departures: [[(key: UInt64, stamp: UInt32)?]]
    let departureSlots: UInt32
    var windowDepartures: UInt32 = 0
    var mainDepartures: UInt32 = 0
    /// The side the named victim is recorded on: 0 the window, 1 main, nil
    /// not at all (declined by the admission margin alone).
    var pendingSide: Int? = 0
    // The eviction round.
    var phase = Phase.none
    var candidate: Int?
    var pending: Int?
    var pendingCandidate: Int?
    var pendingPhase = Phase.none

    init(capacity: UInt32, keyCount: Int, adapts: Bool) {
        self.capacity = capacity
        self.adapts = adapts
        departureSlots = max(capacity / 8, 8)
        departures = [[(key: UInt64, stamp: UInt32)?]](
            repeating: [(key: UInt64, stamp: UInt32)?](repeating: nil, count: Int(departureSlots)), count: 2)
        lists = [KeyList](repeating: KeyList(keyCount: keyCount), count: 3)
        regionOf = [Int](repeating: -1, count: keyCount)
        hashOf = [UInt64](repeating: 0, count: keyCount)
        weightOf = [UInt64](repeating: 0, count: keyCount)
        countOf = [UInt32](repeating: 0, count: keyCount)
        estimateOf = [UInt32](repeating: 0, count: keyCount)
        slotOf = [UInt32](repeating: 0, count: keyCount)
        sketch = ModelSketch(capacity: capacity)
        rng = ModelXorshift(state: 0x9E37_79B9_7F4A_7C15 ^ UInt64(capacity))
        size()
    }

    // MARK: Regions and limits (larder_window_size, larder_split)

    static func split(_ total: UInt64, _ windowPPM: UInt32) -> (window: UInt64, protected: UInt64) {
        let window0 = total - modelPart(total, 1_000_000 - 10_000)
        let protected0 = modelPart(total - window0, 800_000)
        let window = max(1, total - modelPart(total, 1_000_000 - windowPPM))
        return (window, window0 + protected0 > window ? window0 + protected0 - window : 0)
    }

    mutating func size() {
        let counts = Self.split(UInt64(capacity), windowPPM)
        regions[Self.window].maxCount = UInt32(counts.window)
        regions[Self.protected].maxCount = UInt32(counts.protected)
        regions[Self.probation].maxCount = capacity
        regions[Self.probation].maxWeight = .max
        if maxWeight == .max {
            regions[Self.window].maxWeight = .max
            regions[Self.protected].maxWeight = .max
        } else {
            let weights = Self.split(maxWeight, windowPPM)
            regions[Self.window].maxWeight = weights.window
            regions[Self.protected].maxWeight = weights.protected
        }
    }

    mutating func endRound() {
        phase = .none
        candidate = nil
        pending = nil
    }

    private mutating func link(_ key: Int, to region: Int, atBack: Bool) {
        if atBack { lists[region].pushBack(key) } else { lists[region].pushFront(key) }
        regionOf[key] = region
        regions[region].count += 1
        regions[region].weight += weightOf[key]
    }

    private mutating func unlink(_ key: Int) {
        let region = regionOf[key]
        lists[region].remove(key)
        regions[region].count -= 1
        regions[region].weight -= weightOf[key]
    }

    private mutating func move(_ key: Int, to region: Int, atBack: Bool = false) {
        unlink(key)
        link(key, to: region, atBack: atBack)
    }

    /// Moves the window's least recent to probation's front while the window,
    /// with `count` entries of `weight` more, would be over; the first moved.
    private mutating func windowOverflow(count: UInt32, weight: UInt64) -> Int? {
        var first: Int?
        while regions[Self.window].over(adding: count, weight: weight), let key = lists[Self.window].back {
            move(key, to: Self.probation)
            windowDepartures &+= 1
            if first == nil { first = key }
        }
        return first
    }

    private mutating func protectedOverflow() {
        while regions[Self.protected].over(), let key = lists[Self.protected].back {
            move(key, to: Self.probation)
        }
    }

    // MARK: Frequencies (larder_policy_wtinylfu.c)

    /// The residents, in the core's slot order.
    private var residentsBySlot: [Int] {
        regionOf.indices.filter { regionOf[$0] >= 0 }.sorted { slotOf[$0] < slotOf[$1] }
    }

    func frequencyOf(_ key: Int) -> UInt32 { min(15, sketch.frequency(hashOf[key]) + countOf[key]) }

    /// A window candidate's frequency: its carried estimate plus its count.
    func carriedFrequencyOf(_ key: Int) -> UInt32 { min(15, estimateOf[key] + countOf[key]) }

    private mutating func release(_ key: Int) {
        let count = countOf[key]
        guard count > 0 else { return }
        let idle = UInt64(count - sketch.add(hashOf[key], count))
        sketch.size = sketch.size > idle ? sketch.size - idle : 0
    }

    private mutating func age() {
        guard sketch.size >= sketch.sample else { return }
        let residents = residentsBySlot
        for key in residents {
            let carried = carriedFrequencyOf(key)
            release(key)
            countOf[key] = 0
            estimateOf[key] = carried
        }
        repeat {
            let lost = sketch.halve() >> 2
            sketch.size = sketch.size >> 1 > lost ? (sketch.size >> 1) - lost : 0
            for key in residents { estimateOf[key] >>= 1 }
        } while sketch.size >= sketch.sample
    }

    private mutating func countRequest() {
        sketch.size += 1
        if sketch.size >= sketch.sample { age() }
    }

    // MARK: Operations

    mutating func insert(_ key: Int, hash: UInt64, weight: UInt64, atBack: Bool, slot: UInt32) {
        hashOf[key] = hash
        weightOf[key] = weight
        countOf[key] = 0
        slotOf[key] = slot
        endRound()
        defer {
            count += 1
            totalWeight += weight
        }
        if atBack {
            link(key, to: Self.probation, atBack: true)
            estimateOf[key] = sketch.frequency(hash)
            return
        }
        link(key, to: weight <= regions[Self.window].maxWeight ? Self.window : Self.probation, atBack: false)
        _ = windowOverflow(count: 0, weight: 0)
        if !counting && (count + 1 >= capacity / 2 || (maxWeight != .max && totalWeight + weight >= maxWeight / 2)) {
            counting = true
        }
        let added = counting && sketch.increment(hash)
        estimateOf[key] = sketch.frequency(hash)
        if added { countRequest() }
        if maxWeight != .max && count + 1 > sketch.population {
            sketch.setPopulation(count + 1)
            age()
        }
        if rebalancePending { rebalance() }
        miss(hash)
    }

    mutating func touch(_ key: Int) {
        let region = regionOf[key]
        if counting && countOf[key] < 15 {
            countOf[key] += 1
            countRequest()
        }
        endRound()
        if region == Self.probation && regions[Self.protected].maxCount >= 1
            && weightOf[key] <= regions[Self.protected].maxWeight {
            move(key, to: Self.protected)
            protectedOverflow()
            return
        }
        if lists[region].front != key { move(key, to: region) }
    }

    mutating func remove(_ key: Int) {
        release(key)
        countOf[key] = 0
        if key == pending {
            if let pendingSide { record(hashOf[key], side: pendingSide) }
            candidate = pendingCandidate
            phase = pendingPhase
            pending = nil
        } else {
            pending = nil
            if key == candidate { candidate = lists[regionOf[key]].towardFront(key) }
        }
        unlink(key)
        regionOf[key] = -1
        count -= 1
        totalWeight -= weightOf[key]
    }

    mutating func setWeight(_ key: Int, _ weight: UInt64) {
        regions[regionOf[key]].weight = regions[regionOf[key]].weight - weightOf[key] + weight
        totalWeight = totalWeight - weightOf[key] + weight
        weightOf[key] = weight
    }

    mutating func clear() {
        for key in residentsBySlot { release(key) }
        for key in lists.flatMap({ $0.keys() }) {
            regionOf[key] = -1
            countOf[key] = 0
        }
        lists = [KeyList](repeating: KeyList(keyCount: regionOf.count), count: 3)
        for k in 0..<3 {
            regions[k].count = 0
            regions[k].weight = 0
        }
        count = 0
        totalWeight = 0
        rebalancePending = false
        endRound()
    }

    mutating func setMaximum(_ maximum: UInt64) {
        maxWeight = maximum
        sketch.setPopulation(maximum == .max ? capacity : max(count, 1))
        age()
        size()
        rebalance()
    }

    enum Admission { case declined, admitted, notYet }

    /// Caffeine's admit, with a lead of two needed against a victim asked for
    /// at most once; `.notYet` when only that margin declined.
    private mutating func admit(candidate c: UInt32, victim v: UInt32) -> Admission {
        if c > v + (v <= 1 ? 1 : 0) { return .admitted }
        if c >= 6 { return rng.next() & 127 == 0 ? .admitted : .declined }
        return c > v ? .notYet : .declined
    }

    private mutating func name(_ victim: Int, side: Int?, next: Int?, phase: Phase) -> ModelVictim {
        pending = victim
        pendingSide = side
        pendingCandidate = next
        pendingPhase = phase
        return .key(victim)
    }

    private mutating func decline(_ hash: UInt64, side: Int?) -> ModelVictim {
        endRound()
        if counting && sketch.increment(hash) { countRequest() }
        miss(hash)
        if let side { record(hash, side: side) }
        return .rejected
    }

    /// larder_wtinylfu_victim: `newcomer` is the new entry's (hash, weight), or nil.
    mutating func victim(newcomer: (hash: UInt64, weight: UInt64)?) -> ModelVictim {
        if let pending { return .key(pending) }
        if phase == .none || phase == .newcomer {
            phase = .moved
            candidate = nil
        }
        let inWindow = newcomer.map { $0.weight <= regions[Self.window].maxWeight } ?? false
        let moved = windowOverflow(count: inWindow ? 1 : 0, weight: inWindow ? newcomer!.weight : 0)
        if let moved, phase != .moved || candidate == nil {
            phase = .moved
            candidate = moved
        }
        if phase == .moved && candidate == nil { phase = newcomer != nil && !inWindow ? .newcomer : .window }
        if phase == .window {
            candidate = lists[Self.window].back
            phase = .windowOn
        }
        if phase == .windowOn && candidate == nil { phase = .done }
        let judgingNewcomer = phase == .newcomer
        let candidate = judgingNewcomer ? nil : self.candidate
        var phase = self.phase

        guard let victim = lists[Self.probation].back ?? lists[Self.protected].back ?? lists[Self.window].back else {
            endRound()
            return newcomer.map { decline($0.hash, side: 0) } ?? .rejected
        }
        if !judgingNewcomer && candidate == nil { return name(victim, side: 1, next: nil, phase: phase) }
        if candidate == victim { return name(victim, side: 0, next: nil, phase: phase == .moved ? .moved : .done) }
        let candidateFrequency = judgingNewcomer ? sketch.frequency(newcomer!.hash) : carriedFrequencyOf(candidate!)
        let candidateWeight = judgingNewcomer ? newcomer!.weight : weightOf[candidate!]
        let decision = candidateWeight <= maxWeight ? admit(candidate: candidateFrequency, victim: frequencyOf(victim)) : .declined
        let loserSide: Int? = decision == .notYet ? nil : 0
        if judgingNewcomer {
            return decision == .admitted ? name(victim, side: 1, next: nil, phase: .window) : decline(newcomer!.hash, side: loserSide)
        }
        let next = lists[regionOf[candidate!]].towardFront(candidate!)
        if phase == .windowOn && next == nil { phase = .done }
        let admitted = decision == .admitted
        return name(admitted ? victim : candidate!, side: admitted ? 1 : loserSide, next: next, phase: phase)
    }

    // MARK: The climber (larder_policy_climber.c)

    mutating func rebalance() {
        var moves = 0
        phase = .none
        candidate = nil
        pending = nil
        while moves < 1000, regions[Self.window].over(), let key = lists[Self.window].back {
            move(key, to: Self.probation)
            moves += 1
        }
        func takes(_ key: Int?) -> Bool {
            key.map { !regions[Self.window].over(adding: 1, weight: weightOf[$0]) } ?? false
        }
        while moves < 1000 {
            var key = lists[Self.probation].back
            if !takes(key) { key = lists[Self.protected].back }
            guard takes(key) else { break }
            move(key!, to: Self.window)
            moves += 1
        }
        while moves < 1000, regions[Self.protected].over(), let key = lists[Self.protected].back {
            move(key, to: Self.probation)
            moves += 1
        }
        rebalancePending = moves == 1000
    }

    private func departureSlot(_ hash: UInt64) -> Int {
        Int(((hash & 0xFFFF_FFFF) * UInt64(departureSlots)) >> 32)
    }

    mutating func record(_ hash: UInt64, side: Int) {
        if side == 1 { mainDepartures &+= 1 }
        departures[side][departureSlot(hash)] = (hash >> 33 | 1, side == 1 ? mainDepartures : windowDepartures)
    }

    mutating func miss(_ hash: UInt64) {
        let horizon = max(sketch.population / 8, 4)
        var regrets = [false, false]
        for side in 0..<2 {
            guard let r = departures[side][departureSlot(hash)], r.key == hash >> 33 | 1 else { continue }
            departures[side][departureSlot(hash)] = nil
            regrets[side] = (side == 1 ? mainDepartures : windowDepartures) &- r.stamp < horizon
        }
        guard adapts, regrets[0] != regrets[1] else { return }
        let share = Int32(windowRegretShare)
        windowRegretShare = UInt32(share + (((regrets[0] ? 65_535 : 0) - share) >> 5))
        guard !regrets[0] || windowRegretShare > 32_768 else { return }
        let step = max(1_000_000 / sketch.population, 1)
        let target = regrets[0] ? min(windowPPM + step, 990_000) : windowPPM > 10_000 + step ? windowPPM - step : 10_000
        if target == windowPPM { return }
        windowPPM = target
        size()
        rebalance()
    }

    // MARK: Order

    /// Most to least valuable: protected, window, probation, each front to back.
    func order() -> [Int] {
        lists[Self.protected].keys() + lists[Self.window].keys() + lists[Self.probation].keys()
    }

    var leastValuable: Int? { lists[Self.probation].back ?? lists[Self.window].back ?? lists[Self.protected].back }
    var mostValuable: Int? { lists[Self.protected].front ?? lists[Self.window].front ?? lists[Self.probation].front }
}

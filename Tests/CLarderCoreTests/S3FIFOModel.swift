import CLarderCore

/// A plain model of the core's S3-FIFO (larder_policy_s3fifo.c): a small and
/// a main FIFO of keys, a 2-bit counter per key, the ghost, and the victim
/// named last.
struct S3FIFOModel {
    static let small = 0, main = 1

    let capacity: UInt32
    var maxWeight: UInt64 = .max
    var lists: [KeyList]
    var regions = [ModelRegion](repeating: ModelRegion(), count: 2)
    var queueOf: [Int]
    var frequency: [UInt8]
    var hashOf: [UInt64]
    var weightOf: [UInt64]
    var count: UInt32 = 0
    var totalWeight: UInt64 = 0
    var ghost: ModelGhost
    var pending: Int?
    var pendingGhost = false

    init(capacity: UInt32, keyCount: Int) {
        self.capacity = capacity
        lists = [KeyList](repeating: KeyList(keyCount: keyCount), count: 2)
        queueOf = [Int](repeating: -1, count: keyCount)
        frequency = [UInt8](repeating: 0, count: keyCount)
        hashOf = [UInt64](repeating: 0, count: keyCount)
        weightOf = [UInt64](repeating: 0, count: keyCount)
        ghost = ModelGhost(capacity: capacity, maxRecords: capacity - max(1, capacity / 10))
        size()
    }

    mutating func size() {
        let small = max(1, capacity / 10)
        regions[Self.small].maxCount = small
        regions[Self.main].maxCount = capacity - small
        if maxWeight == .max {
            regions[Self.small].maxWeight = .max
            regions[Self.main].maxWeight = .max
        } else {
            let smallWeight = max(1, maxWeight / 10)
            regions[Self.small].maxWeight = smallWeight
            regions[Self.main].maxWeight = maxWeight > smallWeight ? maxWeight - smallWeight : 0
        }
        pending = nil
    }

    private mutating func account(_ key: Int, _ queue: Int, _ sign: Int) {
        if sign > 0 {
            regions[queue].count += 1
            regions[queue].weight += weightOf[key]
        } else {
            regions[queue].count -= 1
            regions[queue].weight -= weightOf[key]
        }
    }

    mutating func insert(_ key: Int, hash: UInt64, weight: UInt64, atBack: Bool) {
        hashOf[key] = hash
        weightOf[key] = weight
        frequency[key] = 0
        let queue = !atBack && ghost.take(hash) ? Self.main : Self.small
        if atBack { lists[queue].pushBack(key) } else { lists[queue].pushFront(key) }
        queueOf[key] = queue
        account(key, queue, 1)
        count += 1
        totalWeight += weight
        pending = nil
    }

    mutating func touch(_ key: Int) {
        if frequency[key] < 3 { frequency[key] += 1 }
    }

    private func ghostLimit() -> UInt32 {
        var limit = ghost.maxRecords
        if maxWeight != .max && count > 0 {
            let mean = totalWeight / UInt64(count)
            if mean > 0 && regions[Self.main].maxWeight / mean < UInt64(limit) {
                limit = UInt32(regions[Self.main].maxWeight / mean)
            }
        }
        return limit
    }

    mutating func remove(_ key: Int) {
        if key == pending && pendingGhost { ghost.add(hashOf[key], limit: ghostLimit()) }
        pending = nil
        lists[queueOf[key]].remove(key)
        account(key, queueOf[key], -1)
        queueOf[key] = -1
        count -= 1
        totalWeight -= weightOf[key]
    }

    mutating func setWeight(_ key: Int, _ weight: UInt64) {
        regions[queueOf[key]].weight = regions[queueOf[key]].weight - weightOf[key] + weight
        totalWeight = totalWeight - weightOf[key] + weight
        weightOf[key] = weight
    }

    mutating func clear() {
        for key in lists.flatMap({ $0.keys() }) { queueOf[key] = -1 }
        lists = [KeyList](repeating: KeyList(keyCount: queueOf.count), count: 2)
        for k in 0..<2 {
            regions[k].count = 0
            regions[k].weight = 0
        }
        count = 0
        totalWeight = 0
        pending = nil
        pendingGhost = false
    }

    mutating func setMaximum(_ maximum: UInt64) {
        maxWeight = maximum
        size()
    }

    private mutating func toMainFront(_ key: Int) {
        lists[queueOf[key]].remove(key)
        lists[Self.main].pushFront(key)
    }

    private mutating func mainVictim() -> Int {
        while true {
            let t = lists[Self.main].back!
            if frequency[t] == 0 { return t }
            frequency[t] -= 1
            toMainFront(t)
        }
    }

    mutating func victim() -> ModelVictim {
        if let pending { return .key(pending) }
        let small = Self.small, main = Self.main
        while regions[small].count > 0
            && (regions[small].count >= regions[small].maxCount || regions[small].weight >= regions[small].maxWeight
                || regions[main].count == 0) {
            let t = lists[small].back!
            if frequency[t] == 0 {
                pending = t
                pendingGhost = true
                return .key(t)
            }
            frequency[t] = 0
            toMainFront(t)
            account(t, small, -1)
            queueOf[t] = main
            account(t, main, 1)
            if regions[main].over() { break }
        }
        guard regions[main].count > 0 else { return .rejected }
        let t = mainVictim()
        pending = t
        pendingGhost = false
        return .key(t)
    }

    /// Most to least valuable: main, then small, each newest first.
    func order() -> [Int] { lists[Self.main].keys() + lists[Self.small].keys() }
    var leastValuable: Int? { lists[Self.small].back ?? lists[Self.main].back }
    var mostValuable: Int? { lists[Self.main].front ?? lists[Self.small].front }
}

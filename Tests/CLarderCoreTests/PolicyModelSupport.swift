import CLarderCore

/// Pieces the policy models share: an ordered list of keys, and plain-Swift
/// versions of the C core's frequency sketch and ghost, bit for bit (the
/// models must choose the same victims as the core, collisions included).

/// A doubly linked list over small integer keys with a front (newest) and a
/// back (oldest): O(1) push, remove and neighbour queries.
struct KeyList {
    private var newer: [Int]
    private var older: [Int]
    private(set) var front: Int?
    private(set) var back: Int?
    private(set) var count = 0

    init(keyCount: Int) {
        newer = [Int](repeating: -1, count: keyCount)
        older = [Int](repeating: -1, count: keyCount)
    }

    mutating func pushFront(_ key: Int) {
        newer[key] = -1
        older[key] = front ?? -1
        if let front { newer[front] = key } else { back = key }
        front = key
        count += 1
    }

    mutating func pushBack(_ key: Int) {
        older[key] = -1
        newer[key] = back ?? -1
        if let back { older[back] = key } else { front = key }
        back = key
        count += 1
    }

    mutating func remove(_ key: Int) {
        let n = newer[key], o = older[key]
        if n >= 0 { older[n] = o } else { front = o >= 0 ? o : nil }
        if o >= 0 { newer[o] = n } else { back = n >= 0 ? n : nil }
        count -= 1
    }

    /// The next key toward the front (newer), or nil at the front.
    func towardFront(_ key: Int) -> Int? { newer[key] >= 0 ? newer[key] : nil }

    /// Front to back.
    func keys() -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(count)
        var key = front ?? -1
        while key >= 0 {
            result.append(key)
            key = older[key]
        }
        return result
    }
}

/// A region's population and limits (larder_region).
struct ModelRegion {
    var count: UInt32 = 0
    var weight: UInt64 = 0
    var maxCount: UInt32 = 0
    var maxWeight: UInt64 = .max

    /// larder_region_over: over either limit with `count` entries of `weight` more.
    func over(adding count: UInt32 = 0, weight: UInt64 = 0) -> Bool {
        UInt64(self.count) + UInt64(count) > UInt64(maxCount) || weight > maxWeight || self.weight > maxWeight - weight
    }
}

/// larder_part: `ppm` parts per million of `total`, rounded down.
func modelPart(_ total: UInt64, _ ppm: UInt32) -> UInt64 {
    total / 1_000_000 * UInt64(ppm) + total % 1_000_000 * UInt64(ppm) / 1_000_000
}

/// larder_sketch.c: a 4-bit count-min sketch in 64-byte blocks; its owner
/// keeps `size` and ages it (WTinyLFUModel.age).
struct ModelSketch {
    var table: [UInt64]
    let blocks: UInt32
    private(set) var population: UInt32 = 1
    private(set) var sample: UInt64 = 10
    var size: UInt64 = 0

    static func blocks(forCapacity capacity: UInt32) -> UInt32 { max(1, UInt32(UInt64(capacity) * 8 / 64)) }

    init(capacity: UInt32) {
        blocks = Self.blocks(forCapacity: capacity)
        table = [UInt64](repeating: 0, count: Int(blocks) * 8)
        setPopulation(capacity)
    }

    mutating func setPopulation(_ population: UInt32) {
        self.population = max(1, population)
        sample = 10 * UInt64(self.population)
    }

    private static func mix(_ hash: UInt64) -> UInt64 {
        let h = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 27)
    }

    /// The block and the counter selector of a hash.
    private func place(_ hash: UInt64) -> (block: Int, selector: UInt32) {
        let mixed = Self.mix(hash)
        var x = UInt32(truncatingIfNeeded: mixed) &* 0x3184_8BAB
        x ^= x >> 14
        return (Int(((mixed >> 32) &* UInt64(blocks)) >> 32), x)
    }

    /// Counter `i` (0-3) of a hash: its word and bit shift.
    @inline(__always)
    private static func counter(_ i: Int, _ block: Int, _ selector: UInt32) -> (word: Int, shift: UInt64) {
        let h = selector >> (UInt32(i) << 3)
        return (block * 8 + Int(h & 1) + (i << 1), UInt64((h >> 1) & 15) << 2)
    }

    func frequency(_ hash: UInt64) -> UInt32 {
        let (block, selector) = place(hash)
        var frequency: UInt32 = 15
        for i in 0..<4 {
            let (word, shift) = Self.counter(i, block, selector)
            frequency = min(frequency, UInt32((table[word] >> shift) & 15))
        }
        return frequency
    }

    /// Whether a counter moved.
    mutating func increment(_ hash: UInt64) -> Bool {
        let (block, selector) = place(hash)
        var added = false
        for i in 0..<4 {
            let (word, shift) = Self.counter(i, block, selector)
            if (table[word] >> shift) & 15 != 15 {
                table[word] &+= 1 << shift
                added = true
            }
        }
        return added
    }

    /// Adds `count` to each of the hash's counters, saturating; returns how
    /// many of them moved the smallest.
    mutating func add(_ hash: UInt64, _ count: UInt32) -> UInt32 {
        let (block, selector) = place(hash)
        var smallest: UInt32 = 15
        for i in 0..<4 {
            let (word, shift) = Self.counter(i, block, selector)
            let current = UInt32((table[word] >> shift) & 15)
            table[word] &+= UInt64(min(count, 15 - current)) << shift
            smallest = min(smallest, current)
        }
        return min(count, 15 - smallest)
    }

    /// Halves every counter; returns how many were odd.
    mutating func halve() -> UInt64 {
        var odd: UInt64 = 0
        for i in table.indices {
            odd += UInt64((table[i] & 0x1111_1111_1111_1111).nonzeroBitCount)
            table[i] = (table[i] >> 1) & 0x7777_7777_7777_7777
        }
        return odd
    }
}

/// larder_ghost.c, bit for bit: stamped 20-bit fingerprints in buckets of 15
/// places and a cursor (16 words, two per slot); a record lives while its age
/// in stamps is below the window of the latest limit; an addition writes the
/// place under its bucket's cursor and moves the cursor on, first sweeping the
/// bucket when its last sweep is 1,024 stamps old or more (emptying it at
/// 3,072); a lookup finds nothing in a bucket last swept 3,072 stamps ago or
/// more, and elsewhere empties the first live copy it finds.
struct ModelGhost {
    static let stampBits: UInt32 = 12
    static let stampMask: UInt32 = (1 << stampBits) - 1
    /// Words per bucket; the last holds the cursor.
    static let words = 16
    static let places = 15
    static let placeBits: UInt32 = 4
    static let placeMask: UInt32 = (1 << placeBits) - 1
    static let epochMask: UInt32 = UInt32.max >> placeBits
    static let sweepAge: UInt32 = 1_024
    static let staleAge: UInt32 = 3_072

    let maxRecords: UInt32
    private(set) var table: [UInt32]
    private let buckets: Int
    private let unit: UInt32
    private var unitLeft: UInt32
    private var epoch: UInt32 = 0
    private var now: UInt32 { epoch & Self.stampMask }
    private var window: UInt32 = 0

    init(capacity: UInt32, maxRecords: UInt32) {
        self.maxRecords = maxRecords
        buckets = maxRecords == 0 ? 0 : max(1, Int(2 * UInt64(capacity) / UInt64(Self.words)))
        table = [UInt32](repeating: 0, count: buckets * Self.words)
        unit = maxRecords > 1024 ? (maxRecords + 1023) / 1024 : 1
        unitLeft = unit
    }

    static func mix(_ hash: UInt64) -> UInt64 {
        var z = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func fingerprint(_ mixed: UInt64) -> UInt32 {
        let f = UInt32(truncatingIfNeeded: mixed >> 44)
        return f != 0 ? f : 1
    }

    /// The first place of the bucket of `hash`.
    func bucketStart(_ hash: UInt64) -> Int {
        let low = UInt64(UInt32(truncatingIfNeeded: Self.mix(hash)))
        return Int((low &* UInt64(buckets)) >> 32) * Self.words
    }

    private func age(_ word: UInt32) -> UInt32 { (now &- word) & Self.stampMask }
    private func alive(_ word: UInt32) -> Bool { word != 0 && age(word) < window }
    private func sinceSweep(_ start: Int) -> UInt32 { (epoch &- (table[start + Self.places] >> Self.placeBits)) & Self.epochMask }

    mutating func take(_ hash: UInt64) -> Bool {
        guard maxRecords > 0 else { return false }
        let f = Self.fingerprint(Self.mix(hash)), start = bucketStart(hash)
        guard sinceSweep(start) < Self.staleAge else { return false }
        for i in start..<(start + Self.places) where table[i] >> Self.stampBits == f && alive(table[i]) {
            table[i] = 0
            return true
        }
        return false
    }

    mutating func add(_ hash: UInt64, limit: UInt32) {
        guard maxRecords > 0 else { return }
        let limit = min(limit, maxRecords)
        window = UInt32((UInt64(limit) + UInt64(unit) - 1) / UInt64(unit))
        unitLeft -= 1
        if unitLeft == 0 {
            unitLeft = unit
            epoch = (epoch + 1) & Self.epochMask
        }
        guard limit > 0 else { return }
        let start = bucketStart(hash), cursor = start + Self.places
        let since = sinceSweep(start)
        if since >= Self.sweepAge {
            for i in start..<(start + Self.places) where since >= Self.staleAge || !alive(table[i]) { table[i] = 0 }
            table[cursor] = (table[cursor] & Self.placeMask) | epoch << Self.placeBits
        }
        let place = table[cursor] & Self.placeMask
        table[start + Int(place)] = Self.fingerprint(Self.mix(hash)) << Self.stampBits | now
        table[cursor] = (table[cursor] & ~Self.placeMask) | (place + 1 == UInt32(Self.places) ? 0 : place + 1)
    }
}

/// The core's xorshift64 (larder_xorshift).
struct ModelXorshift {
    var state: UInt64

    mutating func next() -> UInt64 {
        var x = state
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        state = x
        return x
    }
}

/// What a policy answers when asked for a victim.
enum ModelVictim: Equatable {
    case key(Int)
    /// The newcomer is declined, or nothing is left to evict.
    case rejected
}

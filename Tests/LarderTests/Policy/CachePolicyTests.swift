import Testing
@testable import Larder

/// The eviction policies through the Cache: what each one keeps, and every
/// operation under each with the cores checked after every step.
@Suite("Cache: eviction policies")
struct CachePolicyTests {
    func cache(_ policy: EvictionPolicy, maxCount: Int, maxBytes: Int? = nil,
               clock: ManualCacheClock = ManualCacheClock()) throws -> Cache<Int, Int> {
        try Cache<Int, Int>(configuration: .init(maxCount: maxCount, maxBytes: maxBytes, sweepInterval: nil,
                                                 policy: policy), clock: clock)
    }

    @Test("W-TinyLFU keeps a popular set through a scan that flushes LRU")
    func tinyLFUResistsAScan() throws {
        func survivors(_ policy: EvictionPolicy) throws -> Int {
            let cache = try cache(policy, maxCount: 100)
            for _ in 0..<20 {
                for key in 0..<80 { if cache.value(forKey: key) == nil { try cache.setValue(key, forKey: key) } }
            }
            for key in 1_000..<1_500 { try cache.setValue(key, forKey: key) }  // one-off keys
            #expect(cache.checkInvariants() == 0)
            return (0..<80).filter { cache.contains($0) }.count
        }
        #expect(try survivors(.lru) == 0)
        #expect(try survivors(.tinyLFU) >= 70, "the popular keys stay")
        #expect(try survivors(.s3FIFO) >= 70, "hit keys are in main; one-off keys leave through small")
    }

    @Test("W-TinyLFU declines a heavy newcomer rarer than its victim: the set succeeds, memory does not keep it")
    func tinyLFURejectionIsAnEviction() throws {
        func keepsHeavyNewcomer(_ policy: EvictionPolicy) throws -> (kept: Bool, evictions: Int) {
            let cache = try cache(policy, maxCount: 100, maxBytes: 100 * 200)
            for _ in 0..<20 {
                for key in 0..<100 {
                    if cache.value(forKey: key) == nil { try cache.setValue(key, forKey: key, ttl: nil, cost: 190) }
                }
            }
            let before = cache.statistics.evictions
            // Heavier than the window (1 % of the bytes at first): it is the admission candidate itself.
            try cache.setValue(1, forKey: 5_000, ttl: nil, cost: 1_000)
            #expect(cache.checkInvariants() == 0)
            #expect(cache.totalBytes <= 100 * 200)
            return (cache.contains(5_000), cache.statistics.evictions - before)
        }
        #expect(try keepsHeavyNewcomer(.lru).kept)
        let tinyLFU = try keepsHeavyNewcomer(.tinyLFU)
        #expect(!tinyLFU.kept, "a key asked for once does not displace keys asked for 20 times")
        #expect(tinyLFU.evictions >= 1, "the declined newcomer counts as evicted")
    }

    @Test("every operation under each policy keeps the core consistent and the limits kept",
          arguments: EvictionPolicy.all)
    func randomOperations(policy: EvictionPolicy) throws {
        let clock = ManualCacheClock()
        let cache = try cache(policy, maxCount: 64, maxBytes: 64 * 150, clock: clock)
        var random = SplitMix64(seed: 0x504F_4C49)
        for step in 0..<20_000 {
            let key = Int(random.next() % 200)
            switch random.next() % 100 {
            case 0..<40:
                if let value = cache.value(forKey: key) { #expect(value == key, "step \(step)") }
            case 40..<75:
                let ttl: Duration? = random.next() % 3 == 0 ? .milliseconds(Int64(1 + random.next() % 20)) : nil
                do {
                    try cache.setValue(key, forKey: key, ttl: ttl, cost: 1 + Int(random.next() % 400))
                } catch {
                    #expect(error.code == .valueTooLarge, "step \(step): \(error)")  // under a pressure budget
                }
            case 75..<85:
                cache.removeValue(forKey: key)
            case 85..<92:
                clock.advance(by: .milliseconds(Int64(random.next() % 5)))
                cache.sweepExpired()
            case 92..<97:
                cache.setPressureBudget(random.next() % 2 == 0 ? nil : Int(random.next() % 4_000))
                cache.evictTowardBudget(maxEntries: 1_000)
            case 97..<99:
                _ = try cache.value(forKey: key) { key }
            default:
                cache.removeAll()
                #expect(cache.count == 0, "step \(step)")
            }
            let code = cache.checkInvariants()
            #expect(code == 0, "larder_core_check failed (\(code)) at step \(step)")
            if code != 0 { return }
            #expect(cache.count <= 64)
            #expect(cache.totalBytes <= cache.effectiveByteBudget ?? .max || cache.count == 0)
        }
        #expect(cache.statistics.evictions > 0)
    }

    @Test("a policy named in settings is found by name; an unknown one is a thrown error listing the known ones")
    func policiesByName() throws {
        #expect(try EvictionPolicy(name: "tinyLFU") == .tinyLFU)
        #expect(try EvictionPolicy(name: "S3-FIFO") == .s3FIFO)
        #expect(try EvictionPolicy(name: "LRU") == .lru)
        #expect { _ = try EvictionPolicy(name: "arc") } throws: { error in
            (error as? CacheError)?.code == .invalidConfiguration && "\(error)".contains("\"lru\"")
        }
        #expect(CacheConfiguration(maxCount: 1).policy == .lru)
    }

    @Test("the restart order from the disk tier is restored under each policy", arguments: EvictionPolicy.all)
    func persistenceWorksUnderEachPolicy(policy: EvictionPolicy) throws {
        let dir = TemporaryDirectory()
        let logs = CapturedLogs()
        func open(_ maxCount: Int) throws -> Cache<String, String> {
            try Cache<String, String>(configuration: .init(maxCount: maxCount, sweepInterval: nil, policy: policy),
                                      persistence: .lmdb(directory: dir.path, maxBytes: 64 << 20, durability: .synchronous),
                                      logger: logs.logger)
        }
        do {
            let cache = try open(10)
            for i in 0..<10 { try cache.setValue("v\(i)", forKey: "k\(i)") }
            #expect(cache.value(forKey: "k2") == "v2")
            cache.close()
        }
        let reopened = try open(3)
        #expect(reopened.count == 3)
        #expect(reopened.contains("k2") && reopened.contains("k9") && reopened.contains("k8"),
                "the three most recent accesses on disk come back")
        #expect(reopened.checkInvariants() == 0)
    }
}

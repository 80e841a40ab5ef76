import Synchronization
import Testing
@testable import Larder

/// Keys whose hashing is counted (only the miss-hint tests use them).
private let hashCalls = Atomic<Int>(0)

private struct CountedKey: Hashable, Sendable {
    var id: Int
    func hash(into hasher: inout Hasher) {
        hashCalls.add(1, ordering: .relaxed)
        hasher.combine(id)
    }
}

/// The same bytes as CountedKey, hashed differently.
private struct SaltedKey: Hashable, Sendable {
    var id: Int
    func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(0x5A17)
    }
}

@Suite("The miss hint: a set after a miss of the same key does not hash it again", .serialized)
struct CacheMissHintTests {
    @Test("get-miss then set of the same key hashes once; of another key, twice")
    func setAfterMissReusesTheHash() throws {
        let cache = try Cache<CountedKey, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        hashCalls.store(0, ordering: .relaxed)
        #expect(cache.value(forKey: CountedKey(id: 7)) == nil)
        try cache.setValue(70, forKey: CountedKey(id: 7))
        #expect(hashCalls.load(ordering: .relaxed) == 1)
        // Stored under the right hash: found by a lookup that hashes afresh.
        #expect(cache.value(forKey: CountedKey(id: 7)) == 70)
        #expect(hashCalls.load(ordering: .relaxed) == 2)

        hashCalls.store(0, ordering: .relaxed)
        #expect(cache.value(forKey: CountedKey(id: 8)) == nil)
        try cache.setValue(90, forKey: CountedKey(id: 9))
        #expect(hashCalls.load(ordering: .relaxed) == 2)
        #expect(cache.value(forKey: CountedKey(id: 9)) == 90)
        #expect(cache.value(forKey: CountedKey(id: 8)) == nil)
        #expect(cache.checkInvariants() == 0)
    }

    @Test("a hint left by another key type with the same bytes is not used")
    func hintIsPerKeyType() throws {
        let counted = try Cache<CountedKey, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        let salted = try Cache<SaltedKey, Int>(configuration: .init(maxCount: 10, sweepInterval: nil))
        #expect(counted.value(forKey: CountedKey(id: 5)) == nil)  // leaves CountedKey(5)'s hash
        try salted.setValue(50, forKey: SaltedKey(id: 5))         // same bytes, other type
        #expect(salted.value(forKey: SaltedKey(id: 5)) == 50)
        #expect(salted.checkInvariants() == 0)
    }

    @Test("keys that are not trivial types never use the hint")
    func nonTrivialKeysHashAsUsual() throws {
        #expect(!Cache<String, Int>.keyFitsMissHint)
        #expect(!Cache<[UInt8], Int>.keyFitsMissHint)
        #expect(Cache<Int, String>.keyFitsMissHint)
    }
}

import Larder

// The one file that connects the benchmark to Larder's `Cache`. Every suite
// reaches Larder through `LarderBox` (generic) or `LarderPeer` (Int -> Int).

/// True while the rows labelled Cache come from a stand-in (before the Cache existed).
let larderIsStandIn = false

/// Larder's cache as the suites drive it: get, set, close.
///
/// The configuration is the default a user gets (expiry supported, a sweeper
/// every second) but for `maxCount`, `shardCount` and, in the memory suite,
/// `supportsExpiry`.
final class LarderBox<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    let cache: Cache<Key, Value>

    /// - Parameters:
    ///   - capacity: `maxCount`, over all shards.
    ///   - shards: `shardCount`; 1 keeps exact global LRU order; `nil`, the configuration's default.
    ///   - supportsExpiry: the configuration's `supportsExpiry`.
    ///   - policy: the eviction policy (the configuration's default when omitted).
    init(capacity: Int, shards: Int?, supportsExpiry: Bool = true, policy: BenchPolicy = .configurationDefault) {
        do {
            let shardCount = shards ?? CacheConfiguration(maxCount: capacity).shardCount
            var configuration = CacheConfiguration(maxCount: capacity, shardCount: shardCount, supportsExpiry: supportsExpiry)
            policy.apply(&configuration)
            cache = try Cache(configuration: configuration)
        } catch {
            fatalError("Bench: Cache(maxCount: \(capacity), shardCount: \(shards.map(String.init) ?? "default")) refused: \(error)")
        }
    }

    @inline(__always) func get(_ key: Key) -> Value? { cache.value(forKey: key) }

    @inline(__always) func set(_ key: Key, _ value: Value) {
        do {
            try cache.setValue(value, forKey: key)
        } catch {
            fatalError("Bench: setValue failed: \(error)")
        }
    }

    /// The bytes the cache accounts for its entries (`Cache.totalBytes`).
    var totalBytes: Int { cache.totalBytes }

    func close() { cache.close() }
}

/// An eviction policy as the suites name and configure it.
struct BenchPolicy: Sendable {
    let policy: EvictionPolicy
    /// The configuration's name for it.
    var name: String { policy.name }
    /// Whether a configuration that names no policy gets this one.
    var isDefault: Bool { policy == CacheConfiguration(maxCount: 1).policy }
    func apply(_ configuration: inout CacheConfiguration) { configuration.policy = policy }

    /// What a configuration that names no policy runs.
    static var configurationDefault: BenchPolicy { BenchPolicy(policy: CacheConfiguration(maxCount: 1).policy) }
    /// Every policy the cache offers, the default first.
    static var all: [BenchPolicy] {
        let offered = EvictionPolicy.all.map { BenchPolicy(policy: $0) }
        return offered.filter(\.isDefault) + offered.filter { !$0.isDefault }
    }
    /// The offered ones plus W-TinyLFU with a fixed 1 % window (Caffeine 2.6's), for comparisons.
    static var withFixedWindow: [BenchPolicy] { all + [BenchPolicy(policy: .fixedWindowTinyLFU)] }
}

/// Larder's `Cache<Int, Int>` as an `IntCachePeer`.
final class LarderPeer: IntCachePeer {
    let box: LarderBox<Int, Int>

    /// "Larder Cache(1)", with the policy's name when it is not the default.
    static func label(shards: Int, policy: EvictionPolicy? = nil) -> String {
        let named = policy.map { $0 == BenchPolicy.configurationDefault.policy ? "" : " \($0.name)" } ?? ""
        return "Larder Cache(\(shards))" + named + (larderIsStandIn ? " (stand-in)" : "")
    }

    /// - Parameter shards: `shardCount`; `nil`, the configuration's default.
    init(capacity: Int, shards: Int?, policy: EvictionPolicy? = nil) {
        box = LarderBox(capacity: capacity, shards: shards,
                        policy: policy.map { BenchPolicy(policy: $0) } ?? .configurationDefault)
    }

    @inline(__always) func get(_ key: Int) -> Int? { box.get(key) }
    @inline(__always) func set(_ key: Int, _ value: Int) { box.set(key, value) }
    func close() { box.close() }
}

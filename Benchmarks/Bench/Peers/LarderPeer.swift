import Foundation
import Larder

// The one file that connects the benchmark to Larder's `Cache`. Every suite
// reaches Larder through `LarderBox` (generic) or `LarderPeer` (Int -> Int).
// STAND-IN: until the Cache lands on main, a sharded, locked textbook LRU
// answers for it and every Larder row is labelled "(stand-in)".

/// True while the rows labelled Cache come from the stand-in.
let larderIsStandIn = true

/// Larder's cache as the suites drive it: get, set, close.
final class LarderBox<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    private let shards: [TextbookLRU<Key, Value>]
    private let locks: [NSLock]
    private let mask: Int

    /// - Parameters:
    ///   - capacity: `maxCount`, over all shards.
    ///   - shards: a power of two; 1 keeps exact global LRU order.
    ///   - supportsExpiry: the configuration's `supportsExpiry`.
    init(capacity: Int, shards: Int, supportsExpiry: Bool = true) {
        precondition(shards > 0 && shards & (shards - 1) == 0, "shards must be a power of two")
        let perShard = max(1, (capacity + shards - 1) / shards)
        self.shards = (0..<shards).map { _ in TextbookLRU<Key, Value>(capacity: perShard) }
        locks = (0..<shards).map { _ in NSLock() }
        mask = shards - 1
    }

    @inline(__always) private func shard(_ key: Key) -> Int { key.hashValue & mask }

    @inline(__always) func get(_ key: Key) -> Value? {
        let i = shard(key)
        locks[i].lock()
        defer { locks[i].unlock() }
        return shards[i].get(key)
    }

    @inline(__always) func set(_ key: Key, _ value: Value) {
        let i = shard(key)
        locks[i].lock()
        defer { locks[i].unlock() }
        shards[i].set(key, value)
    }

    func close() {}
}

/// Larder's `Cache<Int, Int>` as an `IntCachePeer`.
final class LarderPeer: IntCachePeer {
    let box: LarderBox<Int, Int>

    static func label(shards: Int) -> String {
        "Larder Cache(\(shards))" + (larderIsStandIn ? " (stand-in)" : "")
    }

    init(capacity: Int, shards: Int) {
        box = LarderBox(capacity: capacity, shards: shards)
    }

    @inline(__always) func get(_ key: Int) -> Int? { box.get(key) }
    @inline(__always) func set(_ key: Int, _ value: Int) { box.set(key, value) }
    func close() { box.close() }
}

import OrderedCollections

/// An LRU over swift-collections' `OrderedDictionary`: a hit moves the entry to
/// the end, eviction removes the first. Both are O(count) array shifts with
/// index fix-ups, which is why this peer runs a shorter slice of each sequence.
final class OrderedDictionaryLRU<Key: Hashable, Value> {
    private var storage: OrderedDictionary<Key, Value> = [:]
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        storage.reserveCapacity(capacity)
    }

    func get(_ key: Key) -> Value? {
        guard let index = storage.index(forKey: key) else { return nil }
        let value = storage.values[index]
        if index != storage.count - 1 {
            storage.remove(at: index)
            storage[key] = value
        }
        return value
    }

    func set(_ key: Key, _ value: Value) {
        if let index = storage.index(forKey: key) {
            storage.remove(at: index)
        } else if storage.count >= capacity {
            storage.removeFirst()
        }
        storage[key] = value
    }

    var count: Int { storage.count }
}

extension OrderedDictionaryLRU: IntCachePeer where Key == Int, Value == Int {}

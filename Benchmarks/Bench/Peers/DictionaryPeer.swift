/// The floor: a plain `Dictionary` that looks up and inserts while under
/// capacity, with no recency order and no eviction (a full one drops inserts).
final class DictionaryPeer: IntCachePeer {
    private var storage: [Int: Int]
    private let capacity: Int

    init(capacity: Int, unbounded: Bool = false) {
        self.capacity = unbounded ? Int.max : capacity
        storage = Dictionary(minimumCapacity: capacity)
    }

    @inline(__always) func get(_ key: Int) -> Int? { storage[key] }

    @inline(__always) func set(_ key: Int, _ value: Int) {
        if storage.count < capacity {
            storage[key] = value
        } else if storage[key] != nil {
            storage[key] = value
        }
    }
}

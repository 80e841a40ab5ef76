/// What the seed solutions write: a `Dictionary` from key to a class node, and
/// the nodes in a doubly linked list between two sentinels, most recent first.
final class TextbookLRU<Key: Hashable, Value> {
    final class Node {
        var key: Key?
        var value: Value?
        var prev: Node?
        var next: Node?
        init(key: Key?, value: Value?) {
            self.key = key
            self.value = value
        }
    }

    private let capacity: Int
    private var map: [Key: Node] = [:]
    private let head = Node(key: nil, value: nil)
    private let tail = Node(key: nil, value: nil)

    init(capacity: Int) {
        self.capacity = capacity
        head.next = tail
        tail.prev = head
    }

    deinit {
        // Break the strong prev/next cycle one node at a time: releasing a long
        // list recursively would overflow the stack.
        var node = head.next
        head.next = nil
        while let current = node {
            node = current.next
            current.next = nil
            current.prev = nil
        }
    }

    private func unlink(_ node: Node) {
        node.prev?.next = node.next
        node.next?.prev = node.prev
    }

    private func addFront(_ node: Node) {
        node.next = head.next
        node.prev = head
        head.next?.prev = node
        head.next = node
    }

    func get(_ key: Key) -> Value? {
        guard let node = map[key] else { return nil }
        unlink(node)
        addFront(node)
        return node.value
    }

    func set(_ key: Key, _ value: Value) {
        if let node = map[key] {
            node.value = value
            unlink(node)
            addFront(node)
            return
        }
        if map.count >= capacity, let last = tail.prev, last !== head {
            unlink(last)
            map.removeValue(forKey: last.key!)
        }
        let node = Node(key: key, value: value)
        map[key] = node
        addFront(node)
    }

    var count: Int { map.count }
}

extension TextbookLRU: IntCachePeer where Key == Int, Value == Int {}

/// An `Int` -> `Int` cache under test. Every peer sees the same pre-generated
/// key sequence; suites call peers through generic functions specialized for
/// each concrete type (see `PeerKind.visit`), so no dynamic dispatch is timed.
protocol IntCachePeer: AnyObject {
    /// The value for `key`; a hit marks it most recent where the peer keeps an order.
    func get(_ key: Int) -> Int?
    /// Inserts or updates; evicts when the peer is full.
    func set(_ key: Int, _ value: Int)
    /// Stops anything the peer runs in the background.
    func close()
}

extension IntCachePeer {
    func close() {}
}

/// The peers a suite can run, in table order.
enum PeerKind: String, CaseIterable, Codable, Sendable {
    case dictionary, textbook, ordered, nscache, larder1, larderDefault, larderTinyLFU, larderS3FIFO

    var label: String {
        switch self {
        case .dictionary: "Dictionary (floor)"
        case .textbook: "textbook LRU"
        case .ordered: "OrderedDictionary LRU"
        case .nscache: "NSCache"
        case .larder1: LarderPeer.label(shards: 1)
        case .larderDefault: "Larder Cache (default configuration)" + (larderIsStandIn ? " (stand-in)" : "")
        case .larderTinyLFU: LarderPeer.label(shards: 1, policy: .tinyLFU)
        case .larderS3FIFO: LarderPeer.label(shards: 1, policy: .s3FIFO)
        }
    }

    /// Whether the mixed runs warm this peer by replaying the warm-up rather
    /// than loading the LRU's contents (`IntCachePeer.warmUpForMixed`): the
    /// peers whose policy is not LRU and whose order the warm-up shapes.
    var warmsUpByReplay: Bool { self == .larderTinyLFU || self == .larderS3FIFO }

    /// The short name used in ratio lines.
    var shortName: String {
        switch self {
        case .dictionary: "Dictionary"
        case .textbook: "textbook LRU"
        case .ordered: "OrderedDictionary LRU"
        case .nscache: "NSCache"
        case .larder1: "Cache(1)"
        case .larderDefault: "default Cache"
        case .larderTinyLFU: "Cache(1) tinyLFU"
        case .larderS3FIFO: "Cache(1) s3FIFO"
        }
    }

    /// Builds an empty peer of this kind and hands it to `visitor` with its
    /// concrete type. `unbounded` makes the Dictionary floor insert past capacity.
    func visit<V: PeerVisitor>(capacity: Int, unbounded: Bool = false, _ visitor: V) -> V.Result {
        switch self {
        case .dictionary:
            return visitor.visit(DictionaryPeer(capacity: capacity, unbounded: unbounded))
        case .textbook:
            return visitor.visit(TextbookLRU<Int, Int>(capacity: capacity))
        case .ordered:
            return visitor.visit(OrderedDictionaryLRU<Int, Int>(capacity: capacity))
        case .nscache:
            return visitor.visit(NSCachePeer(capacity: capacity))
        case .larder1:
            return visitor.visit(LarderPeer(capacity: capacity, shards: 1))
        case .larderDefault:
            return visitor.visit(LarderPeer(capacity: capacity, shards: nil))
        case .larderTinyLFU:
            return visitor.visit(LarderPeer(capacity: capacity, shards: 1, policy: .tinyLFU))
        case .larderS3FIFO:
            return visitor.visit(LarderPeer(capacity: capacity, shards: 1, policy: .s3FIFO))
        }
    }
}

/// A generic operation over a peer; `PeerKind.visit` calls it with the concrete type.
protocol PeerVisitor {
    associatedtype Result
    func visit<P: IntCachePeer>(_ peer: P) -> Result
}

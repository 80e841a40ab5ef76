import RESP3

/// Redis Cluster's key space: which hash slot a key is in, and which node owns each slot.
///
/// A key's slot is CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384. The hash tag is
/// what lies between the first `{` and the first `}` after it, when that is not empty: keys that
/// share a tag share a slot, so they live on one node. The map comes from `CLUSTER SLOTS`; a
/// `MOVED` or `ASK` reply says a slot has another owner (see ``ClusterRedirect``).
struct ClusterSlotMap: Sendable, Equatable {
    static let slotCount = 16384

    /// One node: its address and, when the map says, its id.
    struct Node: Sendable, Hashable, CustomStringConvertible {
        var host: String
        var port: Int
        var id: String?
        var description: String { "\(host):\(port)" }
    }

    /// The primaries, in the order the map first names them.
    private(set) var primaries: [Node] = []
    /// Each primary's replicas, by primary index.
    private(set) var replicas: [[Node]] = []
    /// The primary index owning each slot.
    private var owners: [UInt16]

    /// The node that owns `slot`.
    func primary(forSlot slot: Int) -> Node { primaries[Int(owners[slot])] }

    /// The index in ``primaries`` of the node that owns `slot` (cheaper to group by than the node).
    func primaryIndex(forSlot slot: Int) -> Int { Int(owners[slot]) }

    /// The map from a `CLUSTER SLOTS` reply obtained from `source`.
    ///
    /// - Throws: ``CacheError/Code/sharedTierRejected`` naming `source` when the reply is an
    ///   error (a node not in cluster mode says so), is not a slot map, or leaves slots
    ///   uncovered (the message lists them).
    init(slotsReply reply: RESP3Value, from source: String) throws(CacheError) {
        owners = [UInt16](repeating: .max, count: Self.slotCount)
        if let text = reply.errorMessage {
            throw CacheError(code: .sharedTierRejected, message:
                "\(source) refused CLUSTER SLOTS: \(text). Seed the cache with nodes of a Redis Cluster "
                + "(redis-server --cluster-enabled yes), or configure a single server instead.")
        }
        switch reply {
        case .array(let ranges):
            var indexes: [Address: Int] = [:]  // one lookup per range, not a scan of the primaries
            for range in ranges {
                guard case .array(let parts) = range, parts.count >= 3,
                      case .integer(let first) = parts[0], case .integer(let last) = parts[1],
                      first >= 0, last < Int64(Self.slotCount), first <= last,
                      let primary = Self.node(parts[2]) else {
                    throw Self.malformed(range, from: source)
                }
                let index = indexOf(primary, in: &indexes)
                // More primaries than slots is no slot map (and their indexes would overflow the
                // owners' 16 bits, a trap at the 65,536th).
                guard index < Self.slotCount else { throw Self.malformed(range, from: source) }
                for slot in Int(first)...Int(last) { owners[slot] = UInt16(index) }
                for replica in parts.dropFirst(3) {
                    guard let node = Self.node(replica) else { throw Self.malformed(range, from: source) }
                    if !replicas[index].contains(node) { replicas[index].append(node) }
                }
            }
        default:
            throw Self.malformed(reply, from: source)
        }
        let uncovered = Self.ranges(of: owners.indices.filter { owners[$0] == .max })
        guard uncovered.isEmpty else {
            throw CacheError(code: .sharedTierRejected, message:
                "the cluster as \(source) sees it leaves slots \(uncovered) without a node; every slot must be "
                + "served before the cache can route keys. Fix the cluster (redis-cli --cluster fix) and retry.")
        }
    }

    /// What tells primaries apart (a node's id may be missing).
    private struct Address: Hashable {
        var host: String
        var port: Int
    }

    private mutating func indexOf(_ node: Node, in indexes: inout [Address: Int]) -> Int {
        let address = Address(host: node.host, port: node.port)
        if let index = indexes[address] { return index }
        primaries.append(node)
        replicas.append([])
        indexes[address] = primaries.count - 1
        return primaries.count - 1
    }

    /// `[host, port, id, ...]` (newer servers add a map of extra fields).
    private static func node(_ value: RESP3Value) -> Node? {
        guard case .array(let fields) = value, fields.count >= 2, let host = fields[0].string,
              case .integer(let port) = fields[1], (1...65535).contains(port) else { return nil }
        return Node(host: host, port: Int(port), id: fields.count > 2 ? fields[2].string : nil)
    }

    private static func malformed(_ value: RESP3Value, from source: String) -> CacheError {
        CacheError(code: .sharedTierRejected, message:
            "\(source) answered CLUSTER SLOTS with something that is not a slot map: \(String(describing: value).prefix(200))")
    }

    /// `[3, 4, 5, 9]` as "3-5, 9".
    static func ranges(of slots: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        while index < slots.count {
            var end = index
            while end + 1 < slots.count, slots[end + 1] == slots[end] + 1 { end += 1 }
            parts.append(end == index ? "\(slots[index])" : "\(slots[index])-\(slots[end])")
            index = end + 1
        }
        return parts.joined(separator: ", ")
    }

    // MARK: Slots

    /// The hash slot of a key's bytes (its hash tag's, when it has one).
    static func slot(of key: [UInt8]) -> Int {
        key.withUnsafeBufferPointer { bytes in
            var hashed = bytes[...]
            if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
               let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
                hashed = bytes[(open + 1)..<close]
            }
            return Int(crc16(hashed) & 0x3FFF)
        }
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as Redis Cluster uses it.
    /// Bitwise rather than table-driven: a table is 512 bytes for a few ns per key, and keys
    /// are hashed once per command.
    static func crc16(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}

/// A reply that sends a command elsewhere: `MOVED` (the slot has a new owner: update the map and
/// retry there) or `ASK` (the slot is migrating: send `ASKING` and the command once to the target).
enum ClusterRedirect: Sendable, Equatable {
    case moved(slot: Int, to: ClusterSlotMap.Node)
    case ask(slot: Int, to: ClusterSlotMap.Node)

    /// The redirect an error reply carries, or nil for any other reply.
    init?(_ reply: RESP3Value) {
        guard case .simpleError(let message) = reply else { return nil }
        let words = message.split(separator: " ")
        guard words.count == 3, let slot = Int(words[1]), (0..<ClusterSlotMap.slotCount).contains(slot),
              let colon = words[2].lastIndex(of: ":"), let port = Int(words[2][words[2].index(after: colon)...]) else {
            return nil
        }
        let node = ClusterSlotMap.Node(host: String(words[2][..<colon]), port: port, id: nil)
        switch words[0] {
        case "MOVED": self = .moved(slot: slot, to: node)
        case "ASK": self = .ask(slot: slot, to: node)
        default: return nil
        }
    }
}

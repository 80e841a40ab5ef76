import Testing

@testable import Larder

/// A caller type keyed by content, tagged with its type name.
private struct Point: CallKeyConvertible {
    var x: Int
    var y: Int
    var callKeyValue: CallKey.Value { .custom(type: "Point", value: [.int(x), .int(y)]) }
}

/// A type with no CallKeyConvertible conformance, for the `Any` path.
private struct Unkeyable {}

private func decode(_ bytes: [UInt8]) throws -> CallKey {
    try bytes.withUnsafeBytes { try CallKey(bytes: $0) }
}

private func decodeError(_ bytes: [UInt8]) -> CacheError? {
    do {
        _ = try decode(bytes)
        return nil
    } catch let error as CacheError {
        return error
    } catch {
        return nil
    }
}

private func hash<T: Hashable>(_ value: T) -> Int {
    var hasher = Hasher()
    hasher.combine(value)
    return hasher.finalize()
}

/// A varied set of keys, pairwise different.
private let distinctKeys: [CallKey] = [
    CallKey(),
    CallKey(1),
    CallKey(1.0),
    CallKey(true),
    CallKey(Int8(1)),
    CallKey(Int64(1)),
    CallKey(UInt(1)),
    CallKey(Float(1)),
    CallKey("1"),
    CallKey("1", "23"),
    CallKey("12", "3"),
    CallKey("123"),
    CallKey([1, 2]),
    CallKey("[1, 2]"),
    CallKey(1, 2),
    CallKey([1], [2]),
    CallKey([[1], [2]]),
    CallKey(Set([1, 2])),
    CallKey(["1": 2]),
    CallKey([1: 2]),
    CallKey(Optional<Int>.none),
    CallKey(named: ["a": 1]),
    CallKey(named: ["a": 1.0]),
    CallKey(1, named: ["a": 1]),
    CallKey(named: ["a": 1, "b": 2]),
    CallKey(named: ["a": 2, "b": 1]),
    CallKey(Point(x: 1, y: 2)),
    CallKey(Point(x: 2, y: 1)),
    CallKey(0.0),
    CallKey(-0.0),
    CallKey(Double.nan),
    CallKey("\u{E9}"),  // é, one scalar
    CallKey("e\u{301}"),  // e + combining acute
    CallKey(""),
    CallKey([String]()),
    CallKey(Set<Int>()),
]

@Suite("CallKey")
struct MemoCallKeyTests {
    @Test("named values compare, hash and encode alike in any order")
    func namedOrderDoesNotMatter() throws {
        let orders: [[(String, CallKey.Value)]] = [
            [("limit", 10), ("sort", "name"), ("desc", true)],
            [("desc", true), ("limit", 10), ("sort", "name")],
            [("sort", "name"), ("desc", true), ("limit", 10)],
        ]
        let keys = try orders.map { try CallKey(positional: [1, "x"], namedPairs: $0) }
        let typed = CallKey(1, "x", named: ["sort": "name", "desc": true, "limit": 10])
        for key in keys {
            #expect(key == typed)
            #expect(hash(key) == hash(typed))
            #expect(key.encodedBytes == typed.encodedBytes)
        }
        #expect(typed["limit"] == .int(10))
        #expect(typed["missing"] == nil)
        #expect(typed.named.map(\.name) == ["desc", "limit", "sort"])
    }

    @Test("a named value differs from the same value given positionally or under another name")
    func namedIsNotPositional() {
        #expect(CallKey(1) != CallKey(named: ["0": 1]))
        #expect(CallKey(named: ["a": 1]) != CallKey(named: ["b": 1]))
        #expect(CallKey(named: ["a": 1]) != CallKey(named: ["a": 1, "b": 2]))
    }

    @Test("a name given twice is a thrown error that names it")
    func duplicateNamesRejected() {
        #expect {
            try CallKey(positional: [], namedPairs: [("a", 1), ("b", 2), ("a", 3)])
        } throws: { error in
            let error = error as? CacheError
            return error?.code == .encodingFailed && error?.message.contains("\"a\"") == true
        }
    }

    @Test("values that stringify alike are distinct keys with distinct bytes")
    func stringifyCollisionsAreDistinct() {
        #expect(CallKey("1", "23") != CallKey("12", "3"))
        #expect(CallKey([1, 2]) != CallKey("[1, 2]"))
        #expect(CallKey(1) != CallKey(1.0))
        #expect(CallKey(1) != CallKey(true))
        #expect(CallKey(1.0) != CallKey(true))
        #expect(CallKey(1) != CallKey("1"))
        #expect(CallKey(1) != CallKey(Int64(1)))
        for (i, a) in distinctKeys.enumerated() {
            for (j, b) in distinctKeys.enumerated() where i != j {
                #expect(a != b, "\(a) vs \(b)")
                #expect(a.encodedBytes != b.encodedBytes, "\(a) vs \(b)")
            }
        }
    }

    @Test("equality and byte equality agree, and equal keys hash alike")
    func equalityMatchesBytes() throws {
        let rebuilt = try distinctKeys.map { try decode($0.encodedBytes) }
        for (a, b) in zip(distinctKeys, rebuilt) {
            #expect(a == b, "\(a) did not survive a round trip")
            #expect(hash(a) == hash(b))
            #expect(a.encodedBytes == b.encodedBytes)
        }
    }

    @Test("floating point keys by bit pattern: NaN hits, -0.0 is not 0.0")
    func floatingPointByBits() {
        #expect(CallKey(Double.nan) == CallKey(Double.nan))
        #expect(hash(CallKey(Double.nan)) == hash(CallKey(Double.nan)))
        #expect(CallKey(Float.nan) == CallKey(Float.nan))
        #expect(CallKey(-0.0) != CallKey(0.0))
    }

    @Test("strings key by UTF-8 bytes")
    func stringsByBytes() {
        // Swift's String == treats these as equal; a function reading .utf8 does not.
        #expect("\u{E9}" == "e\u{301}")
        #expect(CallKey("\u{E9}") != CallKey("e\u{301}"))
    }

    @Test("nested arrays, sets and dictionaries are keyed by content")
    func nestedCollections() throws {
        // Same content, different capacities: Swift iterates these in different orders.
        var small = Set<Int>()
        var large = Set<Int>(minimumCapacity: 1_000)
        for i in 0..<64 { small.insert(i) }
        for i in (0..<64).reversed() { large.insert(i) }
        try #require(Array(small) != Array(large), "the sets happen to iterate alike; the test proves nothing")
        #expect(CallKey(small) == CallKey(large))
        #expect(CallKey(small).encodedBytes == CallKey(large).encodedBytes)

        var dictionaryA = [String: [Int]]()
        var dictionaryB = [String: [Int]](minimumCapacity: 1_000)
        for i in 0..<64 { dictionaryA["k\(i)"] = [i, i + 1] }
        for i in (0..<64).reversed() { dictionaryB["k\(i)"] = [i, i + 1] }
        try #require(Array(dictionaryA.keys) != Array(dictionaryB.keys))
        #expect(CallKey(dictionaryA) == CallKey(dictionaryB))
        #expect(CallKey(dictionaryA).encodedBytes == CallKey(dictionaryB).encodedBytes)

        let nested: [[String: Set<Int>]] = [["a": [1, 2, 3]], ["b": []]]
        let same: [[String: Set<Int>]] = [["a": [3, 2, 1]], ["b": []]]
        let other: [[String: Set<Int>]] = [["a": [1, 2]], ["b": [3]]]
        #expect(CallKey(nested) == CallKey(same))
        #expect(CallKey(nested).encodedBytes == CallKey(same).encodedBytes)
        #expect(CallKey(nested) != CallKey(other))
        // Arrays keep order.
        #expect(CallKey([1, 2]) != CallKey([2, 1]))
        #expect(try decode(CallKey(nested).encodedBytes) == CallKey(nested))
    }

    @Test("caller types key by their tagged content")
    func customTypes() {
        #expect(CallKey(Point(x: 1, y: 2)) == CallKey(Point(x: 1, y: 2)))
        #expect(CallKey(Point(x: 1, y: 2)) != CallKey([1, 2]))
        #expect(CallKey(Point(x: 1, y: 2)).description == "(Point([1, 2]))")
    }

    @Test("arguments that arrive as Any convert like typed ones")
    func convertingAny() throws {
        let fromAny = try CallKey(
            converting: [1, "a", [1, "x"] as [Any], Optional<Int>.none as Any, Optional(2.5) as Any, Set([1, 2])],
            named: ["opts": ["depth": 2, "tags": ["x"]] as [String: Any]])
        let typed = CallKey(
            1, "a", [CallKey.Value.int(1), .string("x")], Optional<Int>.none, 2.5, Set([1, 2]),
            named: ["opts": ["depth": .int(2), "tags": ["x"]] as [String: CallKey.Value]])
        #expect(fromAny == typed)
        #expect(fromAny.encodedBytes == typed.encodedBytes)
    }

    @Test("an unkeyable value arriving as Any is a thrown error naming where it is")
    func unkeyableAnyRejected() {
        #expect {
            try CallKey(converting: [1, "a", Unkeyable()])
        } throws: { error in
            let error = error as? CacheError
            return error?.code == .encodingFailed
                && error?.message.contains("positional argument 2") == true
                && error?.message.contains("Unkeyable") == true
                && error?.message.contains("CallKeyConvertible") == true
        }
        #expect {
            try CallKey(converting: [], named: ["filter": [1, Unkeyable()] as [Any]])
        } throws: { error in
            (error as? CacheError)?.message.contains("named argument \"filter\"[1]") == true
        }
        #expect(throws: CacheError.self) { try CallKey.Value(converting: ["k": Unkeyable()]) }
    }

    @Test("the byte form is pinned: the same bytes in every process and release")
    func goldenBytes() {
        let key = CallKey(1, "ab", named: ["z": true, "y": [Int8(-1)]])
        let expected: [UInt8] = [
            1,  // format version
            2,  // two positional
            2, 1, 0, 0, 0, 0, 0, 0, 0,  // Int 1, 8 bytes little-endian
            14, 2, 0x61, 0x62,  // String "ab"
            2,  // two named, sorted by name
            1, 0x79, 15, 1, 3, 0xFF,  // "y": [Int8(-1)]
            1, 0x7A, 1, 1,  // "z": true
        ]
        #expect(key.encodedBytes == expected)
    }

    @Test("damaged bytes are rejected with storeDamaged, never trusted")
    func damagedBytesRejected() {
        let good = CallKey(1, "ab", Set([1, 2, 3]), [1: "x", 2: "y"], named: ["a": [1.5], "b": nil]).encodedBytes
        // Every proper prefix is truncated.
        for length in 0..<good.count {
            #expect(decodeError(Array(good.prefix(length)))?.code == .storeDamaged, "prefix \(length)")
        }
        #expect(decodeError(good + [0])?.code == .storeDamaged)  // trailing byte
        #expect(decodeError([2, 0, 0])?.code == .storeDamaged)  // unknown version
        #expect(decodeError([1, 1, 99, 0])?.code == .storeDamaged)  // unknown tag
        #expect(decodeError([1, 1, 1, 2, 0])?.code == .storeDamaged)  // Bool byte 2
        #expect(decodeError([1, 0x80, 0x00, 0])?.code == .storeDamaged)  // non-minimal count
        #expect(decodeError([1, 1, 14, 1, 0xFF, 0])?.code == .storeDamaged)  // invalid UTF-8
        #expect(decodeError([1, 1, 15, 0xFF, 0xFF, 0xFF, 0x0F, 0])?.code == .storeDamaged)  // count > bytes left
        // Set elements (UInt8, tag 8) out of order, and repeated; then in order.
        #expect(decodeError([1, 1, 16, 2, 8, 2, 8, 1, 0])?.code == .storeDamaged)
        #expect(decodeError([1, 1, 16, 2, 8, 1, 8, 1, 0])?.code == .storeDamaged)
        #expect((try? decode([1, 1, 16, 2, 8, 1, 8, 2, 0])) == CallKey(Set([UInt8(1), 2])))
        // Named arguments out of order, and repeated.
        #expect(decodeError([1, 0, 2, 1, 0x62, 0, 1, 0x61, 0])?.code == .storeDamaged)
        #expect(decodeError([1, 0, 2, 1, 0x61, 0, 1, 0x61, 0])?.code == .storeDamaged)
        // Nesting deeper than the limit: arrays of one array of ... .
        let deep: [UInt8] = [1, 1] + Array(repeating: [15, 1], count: 300).flatMap { $0 } + [0, 0]
        #expect(decodeError(deep)?.code == .storeDamaged)
    }

    @Test("description shows each value's type where its literal would not")
    func descriptionShowsTypes() {
        #expect(CallKey(1, 1.0, true, Int8(1), "1", named: ["f": Float(1)]).description
            == #"(1, 1.0, true, Int8(1), "1", f: Float(1.0))"#)
    }
}

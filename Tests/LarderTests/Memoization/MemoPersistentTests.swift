import Synchronization
import Testing

@testable import Larder

/// Counts a function's runs; a class, so escaping closures can share it.
private final class RunCounter: Sendable {
    private let runs = Atomic<Int>(0)
    func increment() { runs.add(1, ordering: .relaxed) }
    var count: Int { runs.load(ordering: .relaxed) }
}

@Suite("PersistentMemoized")
struct MemoPersistentTests {
    /// Opens a persistent memo of a function that renders its arguments and counts its runs.
    private func open(
        _ directory: String, function: String, computations: RunCounter
    ) throws -> PersistentMemoized<String, Int, [String: CallKey.Value], [UInt8], Never> {
        try PersistentMemoized(
            function: function,
            configuration: .init(maxCount: 100, sweepInterval: nil),
            persistence: .lmdb(directory: directory, maxBytes: 1 << 20)
        ) { (name: String, width: Int, options: [String: CallKey.Value]) in
            computations.increment()
            return Array("\(name)@\(width)\(CallKey(positional: [], named: options))".utf8)
        }
    }

    @Test("results survive a reopen without calling the function again")
    func survivesReopen() throws {
        let directory = TemporaryDirectory("memo")
        let path = directory.path
        let computations = RunCounter()
        let first: [UInt8]
        do {
            let render = try open(path, function: "render.v1", computations: computations)
            first = render("a", 256, ["format": "png", "quality": 90])
            _ = render("b", 128, [:])
            _ = render("a", 256, ["quality": 90, "format": "png"])  // same call, named order differs
            #expect(computations.count == 2)
            render.close()
        }
        do {
            let render = try open(path, function: "render.v1", computations: computations)
            #expect(render("a", 256, ["format": "png", "quality": 90]) == first)
            _ = render("b", 128, [:])
            #expect(computations.count == 2, "the reopened memo recomputed")
            _ = render("a", 512, ["format": "png", "quality": 90])  // new arguments compute
            #expect(computations.count == 3)
            render.close()
        }
    }

    @Test("two function identities never share entries")
    func functionIdentitySeparates() throws {
        let directory = TemporaryDirectory("memo")
        let path = directory.path
        let computations = RunCounter()
        do {
            let v1 = try open(path, function: "render.v1", computations: computations)
            _ = v1("a", 256, [:])
            v1.close()
        }
        do {
            let v2 = try open(path, function: "render.v2", computations: computations)
            _ = v2("a", 256, [:])
            #expect(computations.count == 2)
            #expect(v2.key("a", 256, [:]) != PersistentMemoizationKey(
                function: "render.v1", arguments: CallKey("a", 256, [String: CallKey.Value]())))
            v2.close()
        }
    }

    @Test("argument types are part of the stored key")
    func argumentTypesAreKept() throws {
        let directory = TemporaryDirectory("memo")
        let path = directory.path
        let computations = RunCounter()
        do {
            let byInt = try PersistentMemoized(
                function: "half", configuration: .init(maxCount: 10, sweepInterval: nil),
                persistence: .lmdb(directory: path, maxBytes: 1 << 20)
            ) { (n: Int) in
                computations.increment()
                return "int \(n / 2)"
            }
            #expect(byInt(1) == "int 0")
            byInt.close()
        }
        do {
            // Same identity and same printed argument, different type: not the Int's entry.
            let byDouble = try PersistentMemoized(
                function: "half", configuration: .init(maxCount: 10, sweepInterval: nil),
                persistence: .lmdb(directory: path, maxBytes: 1 << 20)
            ) { (n: Double) in
                computations.increment()
                return "double \(n / 2)"
            }
            #expect(byDouble(1) == "double 0.5")
            #expect(computations.count == 2)
            byDouble.close()
        }
    }

    @Test("the stored key bytes round-trip and are rejected when damaged")
    func keyBytes() throws {
        let key = PersistentMemoizationKey(function: "f", arguments: CallKey(1, named: ["b": [1.5]]))
        let bytes = key.encodedBytes
        #expect(try PersistentMemoizationKey(encodedBytes: bytes) == key)
        #expect(bytes.prefix(3) == [1, 1, 0x66])  // version, identity length, "f"
        for length in 0..<bytes.count {
            #expect(throws: CacheError.self) { try PersistentMemoizationKey(encodedBytes: Array(bytes.prefix(length))) }
        }
    }

    @Test("an empty function identity is a thrown CacheError")
    func emptyIdentity() {
        let directory = TemporaryDirectory("memo")
        let path = directory.path
        #expect {
            try PersistentMemoized(
                function: "", configuration: .init(maxCount: 10),
                persistence: .lmdb(directory: path, maxBytes: 1 << 20)
            ) { (n: Int) in n }
        } throws: { error in
            (error as? CacheError)?.code == .invalidConfiguration
        }
    }
}

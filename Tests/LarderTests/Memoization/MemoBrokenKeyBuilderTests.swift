import Testing

@testable import Larder

// The three classic broken key builders from the seed problem (a memoizing LRU cache
// whose key generation is wrong for variable and named arguments), written as plain
// local functions, each next to CallKey keying the same calls correctly.

/// A memo table keyed by whatever `key` builds: what the seed's decorator does.
private final class MemoTable<Key: Hashable> {
    var entries: [Key: String] = [:]
    var computations = 0

    func call(key: Key, _ compute: () -> String) -> String {
        if let hit = entries[key] { return hit }
        computations += 1
        let value = compute()
        entries[key] = value
        return value
    }
}

/// The function being memoized: renders its arguments, so a wrong cache hit shows.
private func render(_ positional: [Any], _ named: [String: Any]) -> String {
    let names = named.keys.sorted().map { "\($0)=\(named[$0]!)" }
    return (positional.map { "\($0)" } + names).joined(separator: ",")
}

@Suite("Broken key builders versus CallKey")
struct MemoBrokenKeyBuilderTests {
    @Test("positional-only keys ignore named arguments and return another call's result")
    func positionalOnly() {
        // Broken: builds the key from positional arguments only, dropping **kwargs.
        func positionalOnlyKey(_ positional: [Any], _ named: [String: Any]) -> String {
            positional.map { "\($0)" }.joined(separator: "\u{1F}")
        }
        let broken = MemoTable<String>()
        let first = broken.call(key: positionalOnlyKey([5], ["verbose": true])) { render([5], ["verbose": true]) }
        let second = broken.call(key: positionalOnlyKey([5], ["verbose": false])) { render([5], ["verbose": false]) }
        #expect(first == "5,verbose=true")
        #expect(second == "5,verbose=true")  // wrong: the call said verbose=false
        #expect(broken.computations == 1)

        let right = MemoTable<CallKey>()
        let a = right.call(key: CallKey(5, named: ["verbose": true])) { render([5], ["verbose": true]) }
        let b = right.call(key: CallKey(5, named: ["verbose": false])) { render([5], ["verbose": false]) }
        #expect(a == "5,verbose=true")
        #expect(b == "5,verbose=false")
        #expect(right.computations == 2)
    }

    @Test("string-concatenated keys collide for different argument lists")
    func stringConcatenation() {
        // Broken: joins the arguments' text, losing where one ends and the next begins
        // and what type each was.
        func concatenatedKey(_ positional: [Any]) -> String {
            positional.map { "\($0)" }.joined()
        }
        #expect(concatenatedKey(["1", "23"]) == concatenatedKey(["12", "3"]))
        #expect(concatenatedKey([1]) == concatenatedKey(["1"]))

        let broken = MemoTable<String>()
        let first = broken.call(key: concatenatedKey(["1", "23"])) { render(["1", "23"], [:]) }
        let second = broken.call(key: concatenatedKey(["12", "3"])) { render(["12", "3"], [:]) }
        #expect(first == "1,23")
        #expect(second == "1,23")  // wrong: the call was ("12", "3")

        let right = MemoTable<CallKey>()
        #expect(right.call(key: CallKey("1", "23")) { render(["1", "23"], [:]) } == "1,23")
        #expect(right.call(key: CallKey("12", "3")) { render(["12", "3"], [:]) } == "12,3")
        #expect(CallKey(1) != CallKey("1"))
        #expect(right.computations == 2)
    }

    @Test("keys built from a container's identity or description go stale or collide")
    func unhashableContainer() {
        // Broken 1: a mutable reference container keyed by its identity (Python's id(),
        // the workaround when a list is unhashable). Mutating it keeps the key.
        final class Box {
            var items: [Int]
            init(_ items: [Int]) { self.items = items }
        }
        func identityKey(_ box: Box) -> ObjectIdentifier { ObjectIdentifier(box) }

        let box = Box([1, 2])
        let byIdentity = MemoTable<ObjectIdentifier>()
        let before = byIdentity.call(key: identityKey(box)) { render(box.items, [:]) }
        box.items.append(3)
        let after = byIdentity.call(key: identityKey(box)) { render(box.items, [:]) }
        #expect(before == "1,2")
        #expect(after == "1,2")  // stale: the box now holds [1, 2, 3]

        // Broken 2: an array keyed by its description, which a string can spell too.
        func descriptionKey(_ value: Any) -> String { "\(value)" }
        #expect(descriptionKey([1, 2]) == descriptionKey("[1, 2]"))
        let byDescription = MemoTable<String>()
        let array = byDescription.call(key: descriptionKey([1, 2])) { "array of 2" }
        let string = byDescription.call(key: descriptionKey("[1, 2]")) { "string of 6" }
        #expect(array == "array of 2")
        #expect(string == "array of 2")  // wrong: the argument was a String

        // Right: CallKey keys the content at call time, with its type.
        let right = MemoTable<CallKey>()
        let box2 = Box([1, 2])
        #expect(right.call(key: CallKey(box2.items)) { render(box2.items, [:]) } == "1,2")
        box2.items.append(3)
        #expect(right.call(key: CallKey(box2.items)) { render(box2.items, [:]) } == "1,2,3")
        #expect(right.call(key: CallKey([1, 2])) { "array of 2" } == "1,2")  // same content: a hit
        #expect(right.call(key: CallKey("[1, 2]")) { "string of 6" } == "string of 6")
        #expect(right.computations == 3)
    }
}

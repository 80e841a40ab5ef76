import Testing
@testable import Larder

@Suite("Shard memory")
struct ShardMemoryTests {
    // Several sizes, so that some shards' natural spacing is an even number of lines.
    @Test("the shards' cores lie in one block and their storage in another, in order, none overlapping",
          arguments: Array(stride(from: 50_000, to: 50_128, by: 16)))
    func shardsShareOneBlock(maxCount: Int) throws {
        let cache = try Cache<Int, String>(configuration: .init(maxCount: maxCount, shardCount: 16, sweepInterval: nil))
        let memory = cache.shards[0].memory
        #expect(cache.shards.allSatisfy { $0.memory === memory })
        #expect(memory.parts.count == 16)
        for (index, shard) in cache.shards.enumerated() {
            let part = memory.parts[index]
            #expect(UnsafeRawPointer(shard.entries) == UnsafeRawPointer(part.entries))
            #expect(Int(bitPattern: part.core) % 64 == 0 && Int(bitPattern: part.entries) % 64 == 0)
            if index > 0 {
                let previous = memory.parts[index - 1]
                let entryBytes = Int(cache.shards[index - 1].capacity) * MemoryLayout<SlotEntry<Int, String>>.stride
                #expect(previous.core + previous.coreBytes <= part.core)
                #expect(previous.entries + entryBytes <= part.entries)
                // An odd number of lines apart: consecutive core headers never share a cache set.
                #expect((part.core - previous.core) / 64 % 2 == 1)
            }
        }
        // The shards work as before: values round-trip and are released with the cache.
        for key in 0..<1_000 { try cache.setValue("v\(key)", forKey: key) }
        #expect((0..<1_000).allSatisfy { cache.value(forKey: $0) == "v\($0)" })
    }
}

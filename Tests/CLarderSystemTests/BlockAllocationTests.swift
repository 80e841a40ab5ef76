import CLarderSystem
import Foundation
import Testing

/// larder_block_alloc: the storage of a shard, huge-page backed when large.
@Suite struct BlockAllocationTests {
    /// The VmFlags of the mapping that holds `address`, from /proc/self/smaps.
    static func vmFlags(of address: UnsafeRawPointer) throws -> [Substring]? {
        // Read to the end: a /proc file reports size 0, and a sized read stops short.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        let target = UInt(bitPattern: address)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1]
            } else if inside, fields.first == "VmFlags:" {
                return Array(fields.dropFirst())
            }
        }
        return nil
    }

    /// Whether this kernel offers transparent huge pages to madvise.
    static var hugePagesAvailable: Bool {
        guard let mode = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)
        else { return false }
        return !mode.contains("[never]")
    }

    @Test func largeBlocksAreAlignedAndAdvisedForHugePages() throws {
        let bytes = 3 * Int(LARDER_HUGE_PAGE_BYTES) + 4096
        let block = try #require(larder_block_alloc(bytes, 8))
        defer { larder_block_free(block) }
        #expect(UInt(bitPattern: block) % UInt(LARDER_HUGE_PAGE_BYTES) == 0)
        memset(block, 0xAB, bytes)  // the whole block is usable
        #expect(block.load(fromByteOffset: bytes - 1, as: UInt8.self) == 0xAB)
        guard Self.hugePagesAvailable else { return }
        // "hg": the mapping carries MADV_HUGEPAGE (its own VMA: madvise split it off).
        let flags = try #require(try Self.vmFlags(of: block))
        #expect(flags.contains("hg"))
        // The tail past the last whole huge page is left alone.
        let tailFlags = try #require(try Self.vmFlags(of: block + 3 * Int(LARDER_HUGE_PAGE_BYTES)))
        #expect(!tailFlags.contains("hg"))
    }

    @Test func smallBlocksKeepTheirAlignment() throws {
        for alignment in [1, 8, 16, 64, 4096] {
            let block = try #require(larder_block_alloc(1000, alignment))
            #expect(UInt(bitPattern: block) % UInt(alignment) == 0)
            larder_block_free(block)
        }
        let empty = try #require(larder_block_alloc(0, 8))
        larder_block_free(empty)
        #expect(larder_block_alloc(1000, 24) == nil)  // not a power of two
        larder_block_free(nil)
    }
}

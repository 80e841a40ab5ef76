import Foundation
import Testing
@testable import Larder

/// Each weight is checked against what jemalloc's per-thread counters saw while the
/// value was built (net bytes still allocated), so the weigher is held to the allocator.
@Suite("Entry weigher", .disabled(if: !Jemalloc.servesMalloc, "another allocator (a sanitizer's) serves malloc"))
struct MemoryEntryWeigherTests {
    private func built<T>(_ body: () -> T) -> (value: T, allocated: Int) {
        // A first, unmeasured run pays the runtime's one-time costs (metadata and
        // conformance caches) so the measured run sees only the value's own buffers.
        _ = EntryWeigher.bytes(of: body())
        let (value, allocated) = EntryWeigher.measuring(body)
        return (value, allocated ?? -1)
    }

    private func utf8(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(97 + $0 % 26) }
    }

    @Test(arguments: [16, 17, 100, 1000, 4096, 100_000])
    func nativeStringWeighsItsStorage(count: Int) {
        let bytes = utf8(count)
        let (string, allocated) = built { String(decoding: bytes, as: UTF8.self) }
        #expect(string.utf8.count == count)
        #expect(allocated > count)
        #expect(EntryWeigher.bytes(of: string) == allocated)
        #expect(EntryWeigher.heapBytes(key: 1, value: string) == allocated)
    }

    @Test func grownStringWeighsItsCapacityNotItsCount() {
        let (string, allocated) = built { () -> String in
            var s = ""
            for _ in 0..<300 { s += "abcdefg" }
            return s
        }
        #expect(EntryWeigher.bytes(of: string) == allocated)
        #expect(allocated > 2100)
    }

    @Test func inlineAndLiteralStringsWeighNothing() {
        #expect(EntryWeigher.bytes(of: "short") == 0)
        #expect(EntryWeigher.bytes(of: "a literal that is far too long to be a small string") == 0)
        #expect(EntryWeigher.bytes(of: "") == 0)
    }

    @Test func substringChargesItsBase() {
        let (base, allocated) = built { String(decoding: utf8(500), as: UTF8.self) }
        let sub = base.dropFirst(100).prefix(10)
        #expect(EntryWeigher.bytes(of: sub) == allocated)
    }

    @Test(arguments: [1, 64, 1000, 65_536])
    func byteArrayWeighsItsBuffer(count: Int) {
        let (array, allocated) = built { [UInt8](repeating: 7, count: count) }
        #expect(EntryWeigher.bytes(of: array) == allocated)
        #expect(EntryWeigher.bytes(of: [UInt8]()) == 0)
    }

    @Test func reservedArrayWeighsItsCapacity() {
        let (array, allocated) = built { () -> [Double] in
            var a = [Double]()
            a.reserveCapacity(10_000)
            a.append(1)
            return a
        }
        #expect(EntryWeigher.bytes(of: array) == allocated)
        #expect(allocated >= 80_000)
    }

    @Test func arrayOfStringsCountsElements() {
        let parts = (0..<20).map { utf8(100 + $0 * 10) }
        let (array, allocated) = built { parts.map { String(decoding: $0, as: UTF8.self) } }
        #expect(EntryWeigher.bytes(of: array) == allocated)
    }

    @Test func largeArrayOfStringsIsEstimatedFromASample() {
        let (array, allocated) = built { (0..<1000).map { _ in String(decoding: utf8(200), as: UTF8.self) } }
        let weight = EntryWeigher.bytes(of: array)
        #expect(abs(weight - allocated) <= allocated / 100)
    }

    @Test(arguments: [15, 100, 4096, 20_000, 70_000])
    func dataWeighsStorageAndBytes(count: Int) {
        let source = [UInt8](repeating: 3, count: count)
        let (data, allocated) = built { Data(source) }
        #expect(data.count == count)
        #expect(EntryWeigher.bytes(of: data) == allocated)
        #expect(EntryWeigher.bytes(of: Data(source.prefix(14))) == 0)
        // Data(count:) reserves more than it counts; the weight follows the allocation.
        let (zeroed, zeroedAllocated) = built { Data(count: count) }
        #expect(zeroed.count == count)
        #expect(EntryWeigher.bytes(of: zeroed) == zeroedAllocated)
    }

    @Test func grownDataWeighsItsCapacity() {
        let chunk = [UInt8](repeating: 9, count: 1000)
        let (data, allocated) = built { () -> Data in
            var d = Data()
            for _ in 0..<37 { d.append(contentsOf: chunk) }
            return d
        }
        #expect(EntryWeigher.bytes(of: data) == allocated)
    }

    @Test func dataOverForeignBytesCountsOnlyItsStorageObject() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 10_000, alignment: 16)
        defer { buffer.deallocate() }
        let data = Data(bytesNoCopy: buffer, count: 10_000, deallocator: .none)
        let weight = EntryWeigher.bytes(of: data)
        #expect(weight > 0 && weight <= 256)
        // A slice shares (and keeps alive) its base's storage.
        let (base, allocated) = built { Data(count: 5000) }
        #expect(EntryWeigher.bytes(of: base[100..<200]) == allocated)
    }

    final class Plain {
        var a = 0, b = 0, c = 0, d = 0, e = 0
    }

    final class Holder: CacheCostReporting {
        let samples: [Int]
        init(_ n: Int) { samples = Array(repeating: 1, count: n) }
        var cacheCost: Int { CacheCost.heapBytes(of: samples) }
    }

    @Test func classInstanceWeighsItsAllocation() {
        let (object, allocated) = built { Plain() }
        #expect(EntryWeigher.bytes(of: object) == allocated)
        #expect(allocated == 64)  // 16-byte header + 5 words, jemalloc size class 64
        let asAny: Any = object
        #expect(EntryWeigher.bytes(of: asAny) == allocated)
    }

    @Test func reportingClassAddsItsCost() {
        let (object, allocated) = built { Holder(1000) }
        #expect(EntryWeigher.bytes(of: object) == allocated)
        #expect(allocated > 8000)
    }

    struct Page: CacheCostReporting {
        var title: String
        var body: [UInt8]
        var cacheCost: Int { CacheCost.heapBytes(of: title) + CacheCost.heapBytes(of: body) }
    }

    struct Opaque {
        var body: [UInt8]
    }

    @Test func structsWeighWhatTheyReport() {
        let body = [UInt8](repeating: 1, count: 3000)
        let (page, allocated) = built { Page(title: String(decoding: utf8(80), as: UTF8.self), body: body + [2]) }
        #expect(EntryWeigher.bytes(of: page) == allocated)
        // Without the protocol a struct is not reflected over.
        #expect(EntryWeigher.bytes(of: Opaque(body: body)) == 0)
        #expect(EntryWeigher.bytes(of: 42) == 0)
        #expect(EntryWeigher.bytes(of: (1, 2.0)) == 0)
    }

    @Test func optionalForwardsToItsWrappedValue() {
        let (string, allocated) = built { String(decoding: utf8(300), as: UTF8.self) }
        let some: String? = string
        let none: String? = nil
        #expect(EntryWeigher.bytes(of: some) == allocated)
        #expect(EntryWeigher.bytes(of: none) == 0)
    }

    @Test func keyAndValueAddUp() {
        let (key, keyBytes) = built { String(decoding: utf8(40), as: UTF8.self) }
        let (value, valueBytes) = built { [UInt8](repeating: 0, count: 500) }
        #expect(EntryWeigher.heapBytes(key: key, value: value) == keyBytes + valueBytes)
    }

    @Test func measuringReportsNetBytes() {
        let (_, temporary) = built { () -> Int in
            let scratch = [UInt8](repeating: 1, count: 50_000)
            return scratch.count
        }
        #expect(temporary == 0)
        let (kept, allocated) = built { [UInt8](repeating: 1, count: 50_000) }
        #expect(allocated >= kept.count)
    }
}

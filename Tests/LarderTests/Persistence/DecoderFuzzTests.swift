import CLMDB
import Foundation
import Testing
@testable import Larder

// Byte-decoder fuzzing: every decoder of stored bytes must reject damage with nil / a
// thrown error / a "damaged" count, never trap, and never cost far more than its input.
//
// Deterministic (FuzzRNG seeds). Iterations per decoder: LARDER_FUZZ_ITERATIONS
// (default 4_000, which keeps the whole suite well under 2 s in a debug build); run with
// e.g. LARDER_FUZZ_ITERATIONS=200000 for a deep run. A trap kills the test process: rerun
// with LARDER_FUZZ_TRACE=1 to print each (decoder, iteration, hex) before it is decoded.

/// The tests' seeded generator, with what the fuzzer draws.
typealias FuzzRNG = SplitMix64

extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ oneIn: Int) -> Bool { below(oneIn) == 0 }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

enum FuzzSupport {
    static let iterations: Int = {
        if let s = ProcessInfo.processInfo.environment["LARDER_FUZZ_ITERATIONS"], let n = Int(s), n > 0 { return n }
        return 4_000
    }()
    static let trace = ProcessInfo.processInfo.environment["LARDER_FUZZ_TRACE"] != nil

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// Values that break length and count fields.
    static let interesting32: [UInt32] = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF]
    static let interesting64: [UInt64] = [0, 1, 1 << 40, 1 << 62, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max]
    /// Over-long / huge LEB128 counts.
    static let lebBombs: [[UInt8]] = [
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // 2^64-1
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // 2^63
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x20],  // 2^40
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],  // too long
        [0x80, 0x00], [0x80], [0xFF, 0xFF, 0xFF, 0xFF, 0x07],
    ]

    /// One to four random mutations of `input`.
    static func mutate(_ input: [UInt8], _ rng: inout FuzzRNG) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(4)) {
            switch rng.below(11) {
            case 0 where !b.isEmpty:  // bit flip
                b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8))
            case 1 where !b.isEmpty:  // random byte
                b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 2 where !b.isEmpty:  // interesting byte
                b[rng.below(b.count)] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0F, 0x10, 0x11, 0x12][rng.below(9)]
            case 3:  // truncate
                b.removeLast(rng.below(b.count + 1))
            case 4:  // extend
                b += rng.bytes(1 + rng.below(8))
            case 5 where !b.isEmpty:  // delete one byte
                b.remove(at: rng.below(b.count))
            case 6:  // insert one byte
                b.insert(UInt8(truncatingIfNeeded: rng.next()), at: rng.below(b.count + 1))
            case 7 where b.count >= 4:  // u32 field set to a huge / negative-looking value
                let at = rng.below(b.count - 3)
                let v = interesting32[rng.below(interesting32.count)].littleEndian
                withUnsafeBytes(of: v) { for i in 0..<4 { b[at + i] = $0[i] } }
            case 8 where b.count >= 8:  // u64 field
                let at = rng.below(b.count - 7)
                let v = interesting64[rng.below(interesting64.count)].littleEndian
                withUnsafeBytes(of: v) { for i in 0..<8 { b[at + i] = $0[i] } }
            case 9:  // LEB128 bomb spliced in
                b.insert(contentsOf: lebBombs[rng.below(lebBombs.count)], at: rng.below(b.count + 1))
            case 10 where b.count >= 2:  // duplicate a chunk
                let from = rng.below(b.count), len = 1 + rng.below(min(16, b.count - from))
                let chunk: [UInt8] = Array(b[from..<(from + len)])
                b.insert(contentsOf: chunk, at: rng.below(b.count + 1))
            default:
                b.append(UInt8(truncatingIfNeeded: rng.next()))
            }
        }
        return b
    }

    /// Runs `decode` on `iterations` inputs: half random (0...64 bytes), half mutations of
    /// `corpus` (re-sealed by `reseal` half of the time, so checksums do not hide the rest).
    /// Returns how many inputs the decoder accepted.
    @discardableResult
    static func run(_ name: String, seed: UInt64, corpus: [[UInt8]], reseal: ((inout [UInt8], inout FuzzRNG) -> Void)? = nil,
                    iterations: Int = FuzzSupport.iterations, _ decode: ([UInt8]) -> Bool) -> Int {
        var rng = FuzzRNG(seed: seed)
        var accepted = 0
        for i in 0..<iterations {
            var input: [UInt8]
            if corpus.isEmpty || i % 2 == 0 {
                input = rng.bytes(rng.below(65))
            } else {
                input = mutate(corpus[rng.below(corpus.count)], &rng)
                if let reseal, rng.chance(2) { reseal(&input, &rng) }
            }
            if trace { print("fuzz \(name) #\(i) \(hex(input))") }
            if decode(input) { accepted += 1 }
        }
        print("fuzz \(name): \(iterations) inputs, \(accepted) accepted, no trap")
        return accepted
    }

    // MARK: Corpus builders

    static func randomValue(_ rng: inout FuzzRNG, depth: Int = 0) -> CallKey.Value {
        let leafOnly = depth >= 3
        switch rng.below(leafOnly ? 15 : 19) {
        case 0: return .none
        case 1: return .bool(rng.chance(2))
        case 2: return .int(Int(truncatingIfNeeded: rng.next()))
        case 3: return .int8(Int8(truncatingIfNeeded: rng.next()))
        case 4: return .int16(Int16(truncatingIfNeeded: rng.next()))
        case 5: return .int32(Int32(truncatingIfNeeded: rng.next()))
        case 6: return .int64(Int64(truncatingIfNeeded: rng.next()))
        case 7: return .uint(UInt(truncatingIfNeeded: rng.next()))
        case 8: return .uint8(UInt8(truncatingIfNeeded: rng.next()))
        case 9: return .uint16(UInt16(truncatingIfNeeded: rng.next()))
        case 10: return .uint32(UInt32(truncatingIfNeeded: rng.next()))
        case 11: return .uint64(rng.next())
        case 12: return .float(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        case 13: return .double(Double(bitPattern: rng.next()))
        case 14: return .string(["", "a", "é", "名前", "\u{1F600}", "x\u{0}y"][rng.below(6)])
        case 15: return .array((0..<rng.below(4)).map { _ in randomValue(&rng, depth: depth + 1) })
        case 16: return .set(Set((0..<rng.below(4)).map { _ in randomValue(&rng, depth: depth + 1) }))
        case 17:
            var d: [CallKey.Value: CallKey.Value] = [:]
            for _ in 0..<rng.below(4) { d[randomValue(&rng, depth: depth + 1)] = randomValue(&rng, depth: depth + 1) }
            return .dictionary(d)
        default: return .custom(type: ["T", "Point", ""][rng.below(3)], value: randomValue(&rng, depth: depth + 1))
        }
    }

    static func randomCallKey(_ rng: inout FuzzRNG) -> CallKey {
        var named: [String: CallKey.Value] = [:]
        for _ in 0..<rng.below(3) { named[["a", "b", "width", "é"][rng.below(4)]] = randomValue(&rng) }
        return CallKey(positional: (0..<rng.below(4)).map { _ in randomValue(&rng) }, named: named)
    }

    static func record(_ rng: inout FuzzRNG) -> (storageKey: [UInt8], record: [UInt8]) {
        let key = rng.chance(8) ? rng.bytes(256 + rng.below(40)) : rng.bytes(1 + rng.below(12))
        let value = rng.bytes(rng.below(24))
        let record = DiskRecord.make(key: key, deadline: rng.chance(2) ? rng.next() : nil, stamp: rng.next()) {
            $0.append(contentsOf: value)
        }
        return (StorageKey.make(key), record)
    }

    /// Recomputes both record checksums, so the length fields are what gets tested.
    static func resealRecord(_ b: inout [UInt8], _ rng: inout FuzzRNG) {
        guard b.count >= DiskRecord.headerSize else { return }
        b[0] = 0x4C; b[1] = 0x52; b[2] = 1
        if rng.chance(2) {  // key/value lengths: a random split of the real payload, or huge
            let payload = b.count - DiskRecord.headerSize
            let k = rng.chance(2) ? UInt32(rng.below(payload + 1)) : interesting32[rng.below(interesting32.count)]
            let v = rng.chance(2) ? UInt32(truncatingIfNeeded: payload &- Int(k)) : interesting32[rng.below(interesting32.count)]
            b.withUnsafeMutableBytes {
                $0.storeBytes(of: k.littleEndian, toByteOffset: 4, as: UInt32.self)
                $0.storeBytes(of: v.littleEndian, toByteOffset: 8, as: UInt32.self)
            }
        }
        b.withUnsafeMutableBytes { DiskRecord.seal($0) }
    }

    static let journalGeneration: UInt64 = 7

    /// JournalFile's frame checksum, restated (it is private there).
    static func frameChecksum(_ payload: UnsafeRawBufferPointer, length: Int, generation: UInt64, sequence: UInt64) -> UInt64 {
        let seed = UInt64(0x3146_4A4C as UInt32) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(length) ^ generation &* 0xC2B2_AE3D_27D4_EB4F ^ sequence
        return XXHash64.hash(payload, seed: seed)
    }

    /// Walks the frames as replay does and re-seals the first bad one (its declared length,
    /// possibly changed, clipped to the bytes there), so replay looks past its checksum.
    static func resealFrames(_ b: inout [UInt8], _ rng: inout FuzzRNG) {
        var at = 0, sequence: UInt64 = 0
        while b.count - at >= JournalFile.headerSize {
            b.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: UInt32(0x3146_4A4C).littleEndian, toByteOffset: at, as: UInt32.self)
                raw.storeBytes(of: journalGeneration.littleEndian, toByteOffset: at + 8, as: UInt64.self)
                raw.storeBytes(of: sequence.littleEndian, toByteOffset: at + 16, as: UInt64.self)
            }
            var length = Int(b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)) })
            if length > b.count - at - JournalFile.headerSize {
                if rng.chance(2) { return }  // leave an over-long length in place
                length = rng.below(b.count - at - JournalFile.headerSize + 1)
                b.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(length).littleEndian, toByteOffset: at + 4, as: UInt32.self) }
            }
            let start = at
            b.withUnsafeMutableBytes { raw in
                let payload = UnsafeRawBufferPointer(rebasing: raw[(start + 32)..<(start + 32 + length)])
                let sum = frameChecksum(payload, length: length, generation: journalGeneration, sequence: sequence)
                raw.storeBytes(of: sum.littleEndian, toByteOffset: start + 24, as: UInt64.self)
            }
            at += JournalFile.headerSize + length
            sequence += 1
        }
    }

    /// Sets a random u32 length field of a journal payload to an interesting value.
    static func damageJournalLengths(_ b: inout [UInt8], _ rng: inout FuzzRNG) {
        guard b.count >= 5 else { return }
        let at = 1 + rng.below(b.count - 4)
        let v = interesting32[rng.below(interesting32.count)]
        b.withUnsafeMutableBytes { $0.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self) }
    }
}

struct FuzzSample: Codable, Sendable, Hashable {
    var id: Int
    var name: String
    var tags: [String]?
    var ratio: Double?
    var children: [FuzzSample]
}

@Suite("Decoder fuzzing: damaged bytes are rejected, never trap")
struct DecoderFuzzTests {
    @Test func fixedWidthAndScalarByteCodables() {
        var rng = FuzzRNG(seed: 1)
        func corpus<T: ByteCodable & FixedWidthInteger>(_: T.Type) -> [[UInt8]] {
            (0..<8).map { _ in T(truncatingIfNeeded: rng.next()).encodedBytes } + [T.min.encodedBytes, T.max.encodedBytes]
        }
        func fuzz<T: ByteCodable & FixedWidthInteger>(_ t: T.Type, _ seed: UInt64) {
            FuzzSupport.run("\(T.self)", seed: seed, corpus: corpus(T.self)) { bytes in
                guard let v = try? T(encodedBytes: bytes) else { return false }
                #expect(v.encodedBytes == bytes)
                return true
            }
        }
        fuzz(Int.self, 10); fuzz(Int8.self, 11); fuzz(Int16.self, 12); fuzz(Int32.self, 13); fuzz(Int64.self, 14)
        fuzz(UInt.self, 15); fuzz(UInt8.self, 16); fuzz(UInt16.self, 17); fuzz(UInt32.self, 18); fuzz(UInt64.self, 19)
        FuzzSupport.run("Bool", seed: 20, corpus: [[0], [1]]) { (try? Bool(encodedBytes: $0)) != nil }
        FuzzSupport.run("Double", seed: 21, corpus: [Double.nan.encodedBytes, (-0.0).encodedBytes, 1.5.encodedBytes]) {
            guard let v = try? Double(encodedBytes: $0) else { return false }
            #expect(v.encodedBytes == $0)
            return true
        }
        FuzzSupport.run("Float", seed: 22, corpus: [Float.infinity.encodedBytes, Float(2).encodedBytes]) {
            (try? Float(encodedBytes: $0)) != nil
        }
        FuzzSupport.run("UUID", seed: 23, corpus: [UUID().encodedBytes]) { (try? UUID(encodedBytes: $0)) != nil }
    }

    @Test func bufferByteCodables() {
        let corpus: [[UInt8]] = ["", "abc", "é名\u{1F600}", "a\u{0}b"].map { Array($0.utf8) } + [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]
        FuzzSupport.run("String", seed: 30, corpus: corpus) { bytes in
            guard let s = try? String(encodedBytes: bytes) else { return false }
            #expect(s.encodedBytes == bytes)
            return true
        }
        FuzzSupport.run("[UInt8]", seed: 31, corpus: corpus) { (try? [UInt8](encodedBytes: $0)) == $0 }
        FuzzSupport.run("Data", seed: 32, corpus: corpus) { (try? Data(encodedBytes: $0)).map(Array.init) == $0 }
    }

    @Test func codableBytes() throws {
        let leaf = FuzzSample(id: 1, name: "a", tags: ["x", "y"], ratio: 0.5, children: [])
        let corpus = try [
            CodableBytes(leaf).bytes,
            CodableBytes(FuzzSample(id: -9, name: "é\"\\", tags: nil, ratio: nil, children: [leaf, leaf])).bytes,
            CodableBytes([1, 2, 3]).bytes, Array("{\"id\":1e400}".utf8),
        ]
        // JSON decoding is slow: a quarter of the iterations.
        FuzzSupport.run("CodableBytes<FuzzSample>", seed: 40, corpus: corpus, iterations: max(1, FuzzSupport.iterations / 4)) {
            (try? CodableBytes<FuzzSample>(encodedBytes: $0)) != nil
        }
        FuzzSupport.run("CodableBytes<[Int]>", seed: 41, corpus: corpus, iterations: max(1, FuzzSupport.iterations / 4)) {
            (try? CodableBytes<[Int]>(encodedBytes: $0)) != nil
        }
        FuzzSupport.run("CodableBytes<Int8?>", seed: 42, corpus: [Array("127".utf8), Array("null".utf8)], iterations: max(1, FuzzSupport.iterations / 4)) {
            (try? CodableBytes<Int8?>(encodedBytes: $0)) != nil
        }
        // Depth bombs: nested arrays and nested objects, far past any sane depth.
        let arrays = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(throws: CacheError.self) { _ = try CodableBytes<[Int]>(encodedBytes: arrays) }
        let objects = Array(String(repeating: "{\"id\":1,\"name\":\"\",\"children\":[", count: 20_000).utf8)
        #expect(throws: CacheError.self) { _ = try CodableBytes<FuzzSample>(encodedBytes: objects) }
        // Huge numbers do not trap in Int conversion.
        for text in ["[1e400]", "[9223372036854775808]", "[-9223372036854775809]", "[1.5]", "[\"\\ud800\"]"] {
            #expect(throws: CacheError.self) { _ = try CodableBytes<[Int]>(encodedBytes: Array(text.utf8)) }
        }
    }

    @Test func diskRecord() {
        var rng = FuzzRNG(seed: 50)
        let corpus = (0..<32).map { _ in FuzzSupport.record(&rng).record }
        FuzzSupport.run("DiskRecord", seed: 51, corpus: corpus, reseal: FuzzSupport.resealRecord) { bytes in
            let header = bytes.withUnsafeBytes { try? DiskRecord.header($0) }
            return bytes.withUnsafeBytes { raw in
                guard let view = try? DiskRecord.validate(raw) else { return false }
                #expect(header != nil)
                #expect(DiskRecord.headerSize + view.key.count + view.value.count == raw.count)
                return true
            }
        }
    }

    @Test func journalPayload() {
        var rng = FuzzRNG(seed: 60)
        var corpus: [[UInt8]] = []
        for _ in 0..<32 {
            let ops: [DiskStore.WriteOp] = (0..<(1 + rng.below(3))).map { _ in
                let (sk, rec) = FuzzSupport.record(&rng)
                return rng.chance(3) ? .delete(storageKey: sk) : .put(storageKey: sk, record: rec)
            }
            corpus.append(DiskStore.journalValue(ops)!)
        }
        FuzzSupport.run("DiskStore.journalOps", seed: 61, corpus: corpus, reseal: FuzzSupport.damageJournalLengths) { bytes in
            var ops: [DiskStore.WriteOp] = []
            let damaged = bytes.withUnsafeBytes { DiskStore.journalOps($0, into: &ops) }
            #expect(damaged >= 0 && ops.count <= bytes.count / 10 + 1)
            return damaged == 0
        }
    }

    @Test func journalFrames() {
        var rng = FuzzRNG(seed: 70)
        var corpus: [[UInt8]] = []
        for _ in 0..<32 {
            var file: [UInt8] = []
            for sequence in 0..<UInt64(1 + rng.below(3)) {
                file += JournalFile.frame(generation: FuzzSupport.journalGeneration, sequence: sequence, payload: rng.bytes(rng.below(40)))
            }
            file += [UInt8](repeating: 0, count: rng.below(64))
            corpus.append(file)
        }
        FuzzSupport.run("JournalFile.payloads", seed: 71, corpus: corpus, reseal: FuzzSupport.resealFrames) { bytes in
            let payloads = JournalFile.payloads(in: bytes[...], generation: FuzzSupport.journalGeneration)
            #expect(payloads.reduce(0) { $0 + $1.count + JournalFile.headerSize } <= bytes.count)
            // Slices not starting at 0 (the indices are slice-relative).
            let shifted = ([0xAA] + bytes)[1...]
            #expect(JournalFile.payloads(in: shifted, generation: FuzzSupport.journalGeneration) == payloads)
            return !payloads.isEmpty
        }
    }

    @Test func storageAndRecencyKeys() {
        FuzzSupport.run("StorageKey.stamp(ofRecencyKey:)", seed: 80, corpus: []) { bytes in
            let stamp = bytes.withUnsafeBytes { DiskStore.stamp(ofRecencyKey: $0) }
            let storage = StorageKey.make(bytes)
            #expect(storage.count == (bytes.count <= StorageKey.inlineLimit ? bytes.count + 1 : 17))
            let rkey = storage.withUnsafeBytes { StorageKey.recencyKey(stamp: stamp, storageKey: $0) }
            #expect(rkey.withUnsafeBytes { DiskStore.stamp(ofRecencyKey: $0) } == stamp)
            return bytes.count >= 8
        }
    }

    @Test func callKeyAndValue() {
        var rng = FuzzRNG(seed: 90)
        let keys = (0..<64).map { _ in FuzzSupport.randomCallKey(&rng) }
        let keyCorpus = keys.map(\.encodedBytes)
        let valueCorpus = (0..<64).map { _ in FuzzSupport.randomValue(&rng).encodedBytes }
        let memoCorpus = keys.prefix(16).map { PersistentMemoizationKey(function: "f.v2", arguments: $0).encodedBytes }
        // Valid encodings round-trip.
        for (key, bytes) in zip(keys, keyCorpus) { #expect((try? CallKey(encodedBytes: bytes))?.encodedBytes == bytes, "\(key)") }
        // Accepted inputs must be canonical: decode(bytes) re-encodes to bytes.
        FuzzSupport.run("CallKey", seed: 91, corpus: keyCorpus) { bytes in
            guard let key = try? CallKey(encodedBytes: bytes) else { return false }
            #expect(key.encodedBytes == bytes, "non-canonical CallKey accepted: \(FuzzSupport.hex(bytes))")
            return true
        }
        FuzzSupport.run("CallKey.Value", seed: 92, corpus: valueCorpus) { bytes in
            guard let value = try? CallKey.Value(encodedBytes: bytes) else { return false }
            #expect(value.encodedBytes == bytes, "non-canonical CallKey.Value accepted: \(FuzzSupport.hex(bytes))")
            return true
        }
        FuzzSupport.run("PersistentMemoizationKey", seed: 93, corpus: memoCorpus) { bytes in
            guard let key = try? PersistentMemoizationKey(encodedBytes: bytes) else { return false }
            #expect(key.encodedBytes == bytes)
            return true
        }
    }

    @Test func callKeyDepthBombs() {
        for tag: UInt8 in [15, 16, 18] {  // array, set, custom
            func bomb(_ depth: Int) -> [UInt8] {
                var b: [UInt8] = []
                for _ in 0..<depth { b += tag == 18 ? [18, 0] : [tag, 1] }
                return b + [0]
            }
            #expect((try? CallKey.Value(encodedBytes: bomb(255))) != nil)
            #expect(throws: CacheError.self) { _ = try CallKey.Value(encodedBytes: bomb(256)) }
            #expect(throws: CacheError.self) { _ = try CallKey.Value(encodedBytes: bomb(100_000)) }
            #expect(throws: CacheError.self) { _ = try CallKey(encodedBytes: [1, 1] + bomb(100_000) + [0]) }
        }
        // Dictionary nesting through values.
        var dict: [UInt8] = []
        for _ in 0..<100_000 { dict += [17, 1, 0] }
        #expect(throws: CacheError.self) { _ = try CallKey.Value(encodedBytes: dict) }
    }

    /// Counts of every level are bounded by the bytes left, but each nesting level reserves
    /// up to (bytes left) elements: an N-byte input reserves about 255 * N * stride bytes.
    static func reserveBomb(bytes total: Int, tag: UInt8 = 15) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<255 {
            out.append(tag)  // 15 array, 16 set, 17 dictionary
            // count = bytes left after this count
            var lebLength = 1
            while total - out.count - lebLength >= 1 << (7 * lebLength) { lebLength += 1 }
            CallKeyByteWriter.appendCount(total - out.count - lebLength, to: &out)
        }
        out += [UInt8](repeating: 0xFF, count: max(0, total - out.count))  // unknown tag: fails at the bottom
        return out
    }
}

/// Traps found by fuzzing and code reading, each in its own process.
@Suite("Decoder fuzzing: exit tests")
struct DecoderFuzzExitTests {
    /// A recency-index key shorter than 8 bytes (a damaged index) must be dropped, not trap in
    /// `rkey[8...]` (DiskStore.forEachMostRecent / evictOldest).
    @Test func shortRecencyKeyDoesNotTrapTheRestoreWalk() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            try DecoderFuzzExitTests.plantShortRecencyKey(walk: true)
        }
        DecoderFuzzExitTests.show(result)
    }

    @Test func shortRecencyKeyDoesNotTrapEviction() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            try DecoderFuzzExitTests.plantShortRecencyKey(walk: false)
        }
        DecoderFuzzExitTests.show(result)
    }

    /// Under an address-space limit, a 1 MiB nested-array CallKey must be rejected, not
    /// abort in `reserveCapacity` (255 levels each reserving ~1 Mi elements).
    /// (Not under a sanitizer: ASan's shadow memory alone needs more address space than the limit.)
    @Test(.disabled(if: !Jemalloc.servesMalloc, "a sanitizer reserves more address space than the limit"))
    func nestedReservationUnderAddressSpaceLimit() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            var limit = rlimit(rlim_cur: 4 << 30, rlim_max: 4 << 30)
            _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
            let input = DecoderFuzzTests.reserveBomb(bytes: 1 << 20)
            _ = try? CallKey.Value(encodedBytes: input)
        }
        DecoderFuzzExitTests.show(result)
    }

    /// The child's stderr (the trap message) when it failed.
    static func show(_ result: ExitTest.Result?) {
        guard let result, result.exitStatus != .exitCode(0) else { return }
        let text = String(decoding: result.standardErrorContent, as: UTF8.self)
        print("child stderr (\(result.exitStatus)):\n" + text.split(separator: "\n").prefix(12).joined(separator: "\n"))
    }

    static func plantShortRecencyKey(walk: Bool) throws {
        let dir = TemporaryDirectory()
        let clock = TestWallClock()
        let logs = CapturedLogs()
        let store = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 20), logger: logs.logger, wallClock: clock.read)
        let key: [UInt8] = Array("k".utf8)
        let record = DiskRecord.make(key: key, deadline: nil, stamp: store.nextStamp()) { $0.append(contentsOf: [1, 2, 3]) }
        try store.apply([.put(storageKey: StorageKey.make(key), record: record)])
        store.close()
        // Replace the record's recency key with a 1-byte one, keeping the count, so the
        // open does not rebuild the index.
        do {
            let env = try LMDBEnvironment(maxDatabases: 4, mapSize: 1 << 24)
            defer { env.close() }
            try env.open(directory: dir.path, flags: 0, mode: 0o600)
            let txn = try env.begin(readOnly: false)
            let recency = try txn.openDatabase("recency", create: false)
            try txn.empty(recency)
            // [0] sorts before every real key (eviction's MDB_FIRST) and is also the only key (the walk's MDB_LAST).
            let short: [UInt8] = [0]
            try short.withUnsafeBytes { try txn.put(recency, $0, UnsafeRawBufferPointer(start: nil, count: 0)) }
            try txn.commit()
        }
        let reopened = try DiskStore(options: .init(directory: dir.path, maxBytes: 1 << 20), logger: logs.logger, wallClock: clock.read)
        if walk {
            try reopened.forEachMostRecent { _, _, _ in .accepted }
        } else {
            // Over budget: evicts from the least recent recency key, the short one.
            let big = DiskRecord.make(key: Array("big".utf8), deadline: nil, stamp: reopened.nextStamp()) {
                $0.append(contentsOf: [UInt8](repeating: 7, count: 900_000))
            }
            let big2 = DiskRecord.make(key: Array("big2".utf8), deadline: nil, stamp: reopened.nextStamp()) {
                $0.append(contentsOf: [UInt8](repeating: 7, count: 900_000))
            }
            try reopened.apply([.put(storageKey: StorageKey.make(Array("big".utf8)), record: big)])
            try reopened.apply([.put(storageKey: StorageKey.make(Array("big2".utf8)), record: big2)])
        }
        reopened.close()
    }
}

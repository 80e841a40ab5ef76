// Group commit's journal frame: its layout (see `JournalFile`), building one, and finding
// the replayable frames in the file's bytes. Pure functions over bytes (fuzzed on their own).
extension JournalFile {
    static let headerSize = 32
    private static let magic: UInt32 = 0x3146_4A4C  // "LJF1"

    static func frameSize(payload: Int) -> Int { headerSize + payload }

    static func frame(generation: UInt64, sequence: UInt64, payload: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(headerSize + payload.count)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        append(magic)
        append(UInt32(payload.count))
        append(generation)
        append(sequence)
        append(payload.withUnsafeBytes { checksum($0, length: payload.count, generation: generation, sequence: sequence) })
        out.append(contentsOf: payload)
        return out
    }

    private static func checksum(_ payload: UnsafeRawBufferPointer, length: Int, generation: UInt64, sequence: UInt64) -> UInt64 {
        let seed = UInt64(magic) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(length) ^ generation &* 0xC2B2_AE3D_27D4_EB4F ^ sequence
        return XXHash64.hash(payload, seed: seed)
    }

    static func payloads(in bytes: ArraySlice<UInt8>, generation: UInt64) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var at = bytes.startIndex
        var sequence: UInt64 = 0
        bytes.withUnsafeBytes { raw in
            while raw.count - (at - bytes.startIndex) >= headerSize {
                let base = at - bytes.startIndex
                func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
                    T(littleEndian: raw.loadUnaligned(fromByteOffset: base + offset, as: T.self))
                }
                let length = Int(load(4, UInt32.self))
                guard load(0, UInt32.self) == magic, load(8, UInt64.self) == generation,
                      load(16, UInt64.self) == sequence, raw.count - base - headerSize >= length else { return }
                let payload = UnsafeRawBufferPointer(rebasing: raw[(base + headerSize)..<(base + headerSize + length)])
                guard checksum(payload, length: length, generation: generation, sequence: sequence) == load(24, UInt64.self) else { return }
                out.append([UInt8](payload))
                at += headerSize + length
                sequence += 1
            }
        }
        return out
    }
}

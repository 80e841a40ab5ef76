@testable import Larder

/// Journal files of a few frames carrying real journal records (the target's mode byte first),
/// and the re-sealing the target applies when its mode asks.
enum JournalFrameSeeds {
    static func all() -> [[UInt8]] {
        let record = DiskRecord.make(key: Array("k".utf8), deadline: nil, stamp: 3) { $0 += [1, 2] }
        let round = DiskStore.journalValue([.put(storageKey: StorageKey.make(Array("k".utf8)), record: record),
                                            .delete(storageKey: StorageKey.make(Array("gone".utf8)))])!
        let one = JournalFile.frame(generation: 7, sequence: 0, payload: round)
        let two = one + JournalFile.frame(generation: 7, sequence: 1, payload: [9, 9, 9])
        let stale = two + JournalFile.frame(generation: 6, sequence: 2, payload: round)  // an earlier file's tail
        let torn = Array(two.dropLast(2))
        let padded = one + [UInt8](repeating: 0, count: 40)  // a preallocated tail
        return [one, two, stale, torn, padded].flatMap { [[0] + $0, [1] + $0] }
    }

    /// Walks the frames as replay does and makes each one's magic, generation, sequence and
    /// checksum right; a declared length past the end is clipped to the bytes there, unless
    /// `keepOverlong`, when the walk stops at it.
    static func reseal(_ b: inout [UInt8], generation: UInt64, keepOverlong: Bool) {
        var at = 0, sequence: UInt64 = 0
        while b.count - at >= JournalFile.headerSize {
            var length = b.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))) }
            let room = b.count - at - JournalFile.headerSize
            if length > room {
                if keepOverlong { return }
                length = room
            }
            let frame = JournalFile.frame(generation: generation, sequence: sequence,
                                          payload: Array(b[(at + JournalFile.headerSize)..<(at + JournalFile.headerSize + length)]))
            b.replaceSubrange(at..<(at + frame.count), with: frame)
            at += frame.count
            sequence += 1
        }
    }
}

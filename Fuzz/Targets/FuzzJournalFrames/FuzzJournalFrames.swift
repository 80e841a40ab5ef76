import LarderFuzzSupport

@testable import Larder

// Journal frames (JournalFile.payloads): what opening a store replays from the group-commit
// journal a killed process left, torn writes and stale frames of an earlier generation included.
// The first byte picks whether the rest is read as it is or its frames are first re-sealed
// (JournalFrameSeeds.reseal), so that checksums do not hide the frame walk behind them.
//
// Checks: the frames found are exactly a prefix of the bytes (re-framing the payloads with their
// sequence numbers rebuilds it), the walk does not depend on where the slice starts, and each
// payload goes through the journal-record decoder as replay does without trapping.

let generation: UInt64 = 7

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(JournalFrameSeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournalFrames(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let mode = input.byte()
    var bytes = input.rest()
    if mode & 1 != 0 { JournalFrameSeeds.reseal(&bytes, generation: generation, keepOverlong: mode & 2 != 0) }

    let payloads = JournalFile.payloads(in: bytes[...], generation: generation)
    var rebuilt: [UInt8] = []
    for (sequence, payload) in payloads.enumerated() {
        rebuilt += JournalFile.frame(generation: generation, sequence: UInt64(sequence), payload: payload)
    }
    fuzzCheck(rebuilt.count <= bytes.count && bytes.starts(with: rebuilt),
              "the frames found are not the input's prefix: \(fuzzHex(bytes))")
    let shifted = ([0xAA, 0x55, 0x00] + bytes)[3...]
    fuzzCheck(JournalFile.payloads(in: shifted, generation: generation) == payloads, "the walk depends on the slice's start")
    for payload in payloads {
        var ops: [DiskStore.WriteOp] = []
        let damaged = payload.withUnsafeBytes { DiskStore.journalOps($0, into: &ops) }
        fuzzCheck(damaged >= 0 && ops.count <= payload.count / 10, "a payload of \(payload.count) bytes gave \(ops.count) ops")
    }
    return 0
}

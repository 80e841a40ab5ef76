import LarderFuzzSupport

@testable import Larder

// Journal records (DiskStore.journalOps): one group-commit round's puts and deletes, decoded when
// a journal is replayed; a frame's checksum passed, but the record inside may come from a
// different build or a bug. The first byte picks the input's form: raw bytes, or a description of
// a round (JournalOpsSeeds.round) that is encoded with the real encoder and then damaged at one
// byte, so that the decoder sees valid records with one fault each, not only noise.
//
// Checks: no more ops than the bytes can hold; every op decoded is well formed (a put's record
// validates under its storage key, a delete carries none); an undamaged record decodes to the
// round that was encoded; a record that decodes without damage re-encodes to its own bytes.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(JournalOpsSeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournalOps(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    if input.byte() & 1 == 0 {
        check(input.rest(), encoded: nil)
        return 0
    }
    let damage = (at: Int(input.byte()) | Int(input.byte()) << 8, xor: input.byte())
    let ops = JournalOpsSeeds.round(&input)
    guard var bytes = DiskStore.journalValue(ops) else { return 0 }
    if damage.xor != 0 { bytes[damage.at % bytes.count] ^= damage.xor }
    check(bytes, encoded: damage.xor == 0 ? ops : nil)
    return 0
}

func check(_ bytes: [UInt8], encoded: [DiskStore.WriteOp]?) {
    var ops: [DiskStore.WriteOp] = []
    let damaged = bytes.withUnsafeBytes { DiskStore.journalOps($0, into: &ops) }
    fuzzCheck(damaged >= 0 && ops.count <= bytes.count / 10, "\(bytes.count) bytes gave \(ops.count) ops")
    for op in ops {
        switch op {
        case .put(let storageKey, let record):
            let valid = record.withUnsafeBytes { raw in
                (try? DiskRecord.validate(raw)).map { StorageKey.make([UInt8]($0.key)) == storageKey } ?? false
            }
            fuzzCheck(valid, "a put decoded with a record that is not its key's")
        case .delete(let storageKey):
            fuzzCheck(!storageKey.isEmpty, "a delete of an empty storage key")
        default:
            fuzzCheck(false, "an op the journal does not carry: \(op)")
        }
    }
    if let encoded { fuzzCheck(damaged == 0 && DiskStore.journalValue(ops) == DiskStore.journalValue(encoded), "a round did not decode to itself: \(fuzzHex(bytes))") }
    if damaged == 0 { fuzzCheck(DiskStore.journalValue(ops) ?? [] == bytes, "a clean record re-encodes differently: \(fuzzHex(bytes))") }
}

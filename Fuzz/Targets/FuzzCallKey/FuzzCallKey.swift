import LarderFuzzSupport

@testable import Larder

// CallKey bytes: the keys of persistent memoization, as stored on disk and read back by the LMDB
// tier, where they may be damaged or written by another version. The first byte picks the decoder:
// CallKey, CallKey.Value or PersistentMemoizationKey.
//
// Checks: an accepted encoding is canonical (re-encoding the decoded key gives the same bytes, so
// one call never has two keys); nothing traps; no input makes the decoder allocate far beyond its
// size (libFuzzer's malloc limit turns such an allocation into a crash).

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(CallKeySeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCallKey(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let which = input.byte() % 3
    let bytes = input.rest()
    switch which {
    case 0:
        if let key = try? CallKey(encodedBytes: bytes) {
            fuzzCheck(key.encodedBytes == bytes, "non-canonical CallKey accepted: \(fuzzHex(bytes))")
        }
    case 1:
        if let value = try? CallKey.Value(encodedBytes: bytes) {
            fuzzCheck(value.encodedBytes == bytes, "non-canonical CallKey.Value accepted: \(fuzzHex(bytes))")
        }
    default:
        if let key = try? PersistentMemoizationKey(encodedBytes: bytes) {
            fuzzCheck(key.encodedBytes == bytes, "non-canonical PersistentMemoizationKey accepted: \(fuzzHex(bytes))")
        }
    }
    return 0
}

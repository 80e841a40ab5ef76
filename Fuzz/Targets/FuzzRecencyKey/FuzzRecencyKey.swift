import LarderFuzzSupport

@testable import Larder

// Recency-index keys (DiskStore.stamp(ofRecencyKey:), storageKey(ofRecencyKey:)): the keys the
// restore walk and eviction read from the `recency` database, an 8-byte big-endian stamp and a
// storage key, which a damaged index may cut short. And storage keys (StorageKey.make) of any
// cache key bytes, which recency keys are built around.
//
// Checks: a key too short for a stamp and a storage key yields none (never a slice past its end);
// one long enough splits into exactly its stamp and the rest, and recencyKey(stamp:storageKey:)
// rebuilds it; a storage key is the tagged key itself up to 255 bytes, a 17-byte digest beyond.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(RecencyKeySeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecencyKey(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let bytes = input.rest()
    bytes.withUnsafeBytes { raw in
        let stamp = DiskStore.stamp(ofRecencyKey: raw)
        let expected = bytes.count >= 8 ? bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } : 0
        fuzzCheck(stamp == expected, "stamp \(stamp) of \(fuzzHex(bytes))")
        guard let storage = DiskStore.storageKey(ofRecencyKey: raw) else {
            return fuzzCheck(bytes.count <= 8, "no storage key in \(bytes.count) bytes")
        }
        fuzzCheck(bytes.count > 8 && storage.elementsEqual(bytes[8...]), "storage key of \(fuzzHex(bytes))")
        fuzzCheck(StorageKey.recencyKey(stamp: stamp, storageKey: storage) == bytes, "recency key does not rebuild")
    }
    let storage = StorageKey.make(bytes)
    if bytes.count <= StorageKey.inlineLimit {
        fuzzCheck(storage == [0] + bytes, "inline storage key of \(bytes.count) bytes")
    } else {
        fuzzCheck(storage.count == 17 && storage[0] == 1 && StorageKey.make(bytes) == storage, "digest storage key")
    }
    return 0
}

import LarderFuzzSupport

@testable import Larder

// Stored records (DiskRecord): the bytes the disk tier reads back from LMDB, which a torn page,
// a bad disk or another program may have changed. The first byte picks whether the rest is
// decoded as it is or first re-sealed (magic, version and both checksums made right, the length
// fields optionally set from the input), so that the checksums do not hide the fields behind them.
//
// Checks: header and validate agree; an accepted record's lengths add up to its size; rebuilt from
// its fields it validates to the same fields (and to the same bytes when it was in canonical
// form); a new access stamp written in place keeps it valid.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(DiskRecordSeeds.all)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDiskRecord(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let mode = input.byte()
    let lengths = (input.byte(), input.byte())
    var bytes = input.rest()
    if mode & 1 != 0 { DiskRecordSeeds.reseal(&bytes, setLengths: mode & 2 != 0 ? lengths : nil) }
    checkRecord(bytes)
    return 0
}

func checkRecord(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        let header = try? DiskRecord.header(raw)
        let view: DiskRecord.View
        do throws(DiskRecord.Damage) {
            view = try DiskRecord.validate(raw)
        } catch {
            // A header that passed leaves only the payload to blame.
            if header != nil { fuzzCheck(error == .payloadChecksum, "valid header, then \(error)") }
            return
        }
        guard let header else { return fuzzCheck(false, "validate accepted what header rejected: \(fuzzHex(bytes))") }
        let key = [UInt8](view.key), value = [UInt8](view.value)
        fuzzCheck(header.keyLength == key.count && header.valueLength == value.count, "lengths differ from the view")
        fuzzCheck(header.deadline == view.deadline && header.stamp == view.stamp, "header and view differ")
        fuzzCheck(DiskRecord.headerSize + key.count + value.count == bytes.count, "lengths do not add up")
        fuzzCheck((view.deadline != nil) == (bytes[3] & 1 != 0), "deadline flag")
        checkRebuilt(bytes, key: key, value: value, deadline: view.deadline, stamp: view.stamp)
    }
}

func checkRebuilt(_ bytes: [UInt8], key: [UInt8], value: [UInt8], deadline: UInt64?, stamp: UInt64) {
    let rebuilt = DiskRecord.make(key: key, deadline: deadline, stamp: stamp) { $0 += value }
    rebuilt.withUnsafeBytes { raw in
        guard let again = try? DiskRecord.validate(raw) else { return fuzzCheck(false, "a rebuilt record does not validate") }
        fuzzCheck(again.deadline == deadline && again.stamp == stamp
                  && again.key.elementsEqual(key) && again.value.elementsEqual(value), "rebuilt record differs")
    }
    let canonical = bytes[3] & ~1 == 0 && bytes[12..<16].allSatisfy { $0 == 0 }
        && (deadline != nil || bytes[16..<24].allSatisfy { $0 == 0 })
    if canonical { fuzzCheck(rebuilt == bytes, "a canonical record re-encodes differently: \(fuzzHex(bytes))") }

    var stamped = bytes
    let newStamp = stamp &+ 0x9E37_79B9
    stamped.withUnsafeMutableBytes { DiskRecord.setStamp(newStamp, in: $0) }
    stamped.withUnsafeBytes { raw in
        let again = try? DiskRecord.validate(raw)
        fuzzCheck(again?.stamp == newStamp && again?.deadline == deadline, "a new stamp broke the record")
    }
}

import Foundation
import LarderFuzzSupport

@testable import Larder

// ByteCodable and CodableBytes: how the LMDB tier and the shared tier turn stored bytes back into
// keys and values. The first byte picks the type.
//
// Checks: fixed-width integers, Double, String, [UInt8] and Data decode only what they encode
// (re-encoding gives the input back); the rest (Bool, Float, UUID, JSON through CodableBytes,
// which nests without bound in its input) rejects what it cannot read without trapping.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    FuzzSeeds.writeIfAsked(ByteCodableSeeds.all)
    return 0
}

/// A Codable value with optional, nested and recursive fields, as a cached value might be.
struct Sample: Codable, Sendable, Hashable {
    var id: Int
    var name: String
    var tags: [String]?
    var ratio: Double?
    var children: [Sample]
}

func roundTrips<T: ByteCodable>(_: T.Type, _ bytes: [UInt8], encode: (T) -> [UInt8]) {
    guard let value = try? T(encodedBytes: bytes) else { return }
    fuzzCheck(encode(value) == bytes, "\(T.self) accepted \(fuzzHex(bytes)) and re-encodes it differently")
}

func integer<T: ByteCodable & FixedWidthInteger>(_ t: T.Type, _ bytes: [UInt8]) {
    roundTrips(t, bytes) { $0.encodedBytes }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzByteCodable(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var input = FuzzInput(data, count)
    let which = input.byte() % 19
    let bytes = input.rest()
    switch which {
    case 0: integer(Int.self, bytes)
    case 1: integer(Int8.self, bytes)
    case 2: integer(Int16.self, bytes)
    case 3: integer(Int32.self, bytes)
    case 4: integer(Int64.self, bytes)
    case 5: integer(UInt.self, bytes)
    case 6: integer(UInt8.self, bytes)
    case 7: integer(UInt16.self, bytes)
    case 8: integer(UInt32.self, bytes)
    case 9: integer(UInt64.self, bytes)
    case 10: _ = try? Bool(encodedBytes: bytes)
    case 11: roundTrips(Double.self, bytes) { $0.encodedBytes }
    case 12: _ = try? Float(encodedBytes: bytes)
    case 13: _ = try? UUID(encodedBytes: bytes)
    case 14: roundTrips(String.self, bytes) { $0.encodedBytes }
    case 15: roundTrips([UInt8].self, bytes) { $0.encodedBytes }
    case 16: roundTrips(Data.self, bytes) { $0.encodedBytes }
    case 17: _ = try? CodableBytes<Sample>(encodedBytes: bytes)
    default: _ = try? CodableBytes<[Int?]>(encodedBytes: bytes)
    }
    return 0
}

import Foundation
import Testing
@testable import Larder

@Suite("Persistence: ByteCodable")
struct PersistenceByteCodableTests {
    private func roundTrip<T: ByteCodable & Equatable>(_ value: T) throws -> [UInt8] {
        let bytes = value.encodedBytes
        #expect(try T(encodedBytes: bytes) == value)
        return bytes
    }

    @Test func stableBytesForKnownValues() throws {
        // Fixed expectations: these bytes are the on-disk format and must never change.
        #expect(try roundTrip("héllo") == [0x68, 0xC3, 0xA9, 0x6C, 0x6C, 0x6F])
        #expect(try roundTrip(0x0102_0304 as Int32) == [0x04, 0x03, 0x02, 0x01])
        #expect(try roundTrip(-2 as Int) == [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try roundTrip(0xABCD as UInt16) == [0xCD, 0xAB])
        #expect(try roundTrip(true) == [1])
        #expect(try roundTrip(false) == [0])
        #expect(try roundTrip(1.0 as Double) == [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        #expect(try roundTrip(-0.0 as Float) == [0, 0, 0, 0x80])
        let uuid = UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF")!
        #expect(try roundTrip(uuid) == [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                        0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])
        #expect(try roundTrip([UInt8]([9, 8, 7])) == [9, 8, 7])
        #expect(try roundTrip(Data([1, 2])) == [1, 2])
    }

    @Test func integersKeepTheirFullWidthAndEveryValue() throws {
        for value: Int64 in [.min, -1, 0, 1, .max] { _ = try roundTrip(value) }
        for value: UInt64 in [0, 1, .max] { _ = try roundTrip(value) }
        for value: Int8 in [.min, 0, .max] { #expect(try roundTrip(value).count == 1) }
        #expect(try roundTrip(0 as UInt).count == 8)
        let nan = Double(bitPattern: 0x7FF8_0000_0000_1234)
        #expect(try Double(encodedBytes: nan.encodedBytes).bitPattern == nan.bitPattern)
    }

    @Test func decodingRejectsBadBytesWithStoreDamaged() {
        func code(_ body: () throws -> Void) -> CacheError.Code? {
            do { try body(); return nil } catch let error as CacheError { return error.code } catch { return nil }
        }
        #expect(code { _ = try Int64(encodedBytes: [1, 2, 3]) } == .storeDamaged)
        #expect(code { _ = try UInt16(encodedBytes: [1, 2, 3]) } == .storeDamaged)
        #expect(code { _ = try Bool(encodedBytes: [2]) } == .storeDamaged)
        #expect(code { _ = try Bool(encodedBytes: []) } == .storeDamaged)
        #expect(code { _ = try Double(encodedBytes: [0, 0, 0, 0]) } == .storeDamaged)
        #expect(code { _ = try String(encodedBytes: [0x61, 0xFF]) } == .storeDamaged)
        #expect(code { _ = try UUID(encodedBytes: [UInt8](repeating: 0, count: 15)) } == .storeDamaged)
        #expect(code { _ = try CodableBytes<[Int]>(encodedBytes: Array("[1,".utf8)) } == .storeDamaged)
    }

    struct Profile: Codable, Sendable, Equatable {
        var name: String
        var age: Int
        var tags: [String: Int]
    }

    @Test func codableValuesHaveStableSortedJSONBytes() throws {
        let profile = Profile(name: "a/b", age: 3, tags: ["z": 1, "a": 2, "m": 3])
        let wrapped = try CodableBytes(profile)
        #expect(String(decoding: wrapped.encodedBytes, as: UTF8.self)
                == #"{"age":3,"name":"a/b","tags":{"a":2,"m":3,"z":1}}"#)
        let decoded = try CodableBytes<Profile>(encodedBytes: wrapped.encodedBytes)
        #expect(decoded.value == profile)
        #expect(decoded == wrapped)
        #expect(decoded.hashValue == wrapped.hashValue)
    }

    @Test func codableEncodingFailureIsAThrownError() {
        #expect(throws: CacheError.self) { _ = try CodableBytes(Double.infinity) }
        do {
            _ = try CodableBytes([Double.nan])
            Issue.record("a NaN must not encode")
        } catch {
            #expect(error.code == .encodingFailed)
        }
    }
}

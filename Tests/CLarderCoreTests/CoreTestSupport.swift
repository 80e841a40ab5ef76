import CLarderCore
import Larder

/// A C core owned by a test; destroyed with the object.
final class TestCore {
    let raw: OpaquePointer

    init(capacity: UInt32, expiry: Bool = false) {
        var out: OpaquePointer?
        let status = larder_core_create(capacity, expiry ? UInt32(LARDER_CORE_EXPIRY) : 0, &out)
        precondition(status == LARDER_OK && out != nil, "larder_core_create(\(capacity)) failed: \(status)")
        raw = out!
    }

    deinit { larder_core_destroy(raw) }

    /// Slots whose stored hash equals `hash`, in probe order.
    func candidates(_ hash: UInt64) -> [UInt32] {
        var cursor = larder_cursor()
        var result: [UInt32] = []
        var slot = larder_core_find_first(raw, hash, &cursor)
        while slot != LARDER_NIL {
            result.append(slot)
            slot = larder_core_find_next(raw, &cursor)
        }
        return result
    }

    /// Slots from most to least recent, following `older`.
    func mruToLru() -> [UInt32] {
        var result: [UInt32] = []
        var slot = larder_core_mru(raw)
        while slot != LARDER_NIL {
            result.append(slot)
            slot = larder_core_older(raw, slot)
        }
        return result
    }

    /// Slots from least to most recent, following `newer`.
    func lruToMru() -> [UInt32] {
        var result: [UInt32] = []
        var slot = larder_core_lru(raw)
        while slot != LARDER_NIL {
            result.append(slot)
            slot = larder_core_newer(raw, slot)
        }
        return result
    }

    /// Every slot `larder_core_expire` hands out at `now`, in batches of `max`.
    func expireAll(now: UInt64, max: UInt32) -> [UInt32] {
        var out = [UInt32](repeating: LARDER_NIL, count: Int(max))
        var result: [UInt32] = []
        while true {
            let n = out.withUnsafeMutableBufferPointer { larder_core_expire(raw, now, $0.baseAddress, max) }
            precondition(n <= max)
            result.append(contentsOf: out[0..<Int(n)])
            if n < max { return result }
        }
    }
}

/// The library's SplitMix64 (package access), so a failing run can be replayed.
typealias SplitMix64 = Larder.SplitMix64

/// The SplitMix64 finalizer of `x` plus the golden gamma: a fixed, well-mixed function of its input.
func mix64(_ x: UInt64) -> UInt64 {
    var generator = SplitMix64(seed: x)
    return generator.next()
}

/// The bucket count the core picks: the smallest power of two >= 2 * capacity.
func bucketCount(capacity: UInt32) -> UInt64 {
    var b: UInt64 = 2
    while b < 2 * UInt64(capacity) { b <<= 1 }
    return b
}

struct CoreMismatch: Error, CustomStringConvertible {
    let description: String
}

/// A cheap assertion for hot test loops: throws (failing the test) with the message.
@inline(__always)
func ensure(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CoreMismatch(description: message()) }
}

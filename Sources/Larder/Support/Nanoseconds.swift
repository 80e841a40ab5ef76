#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The library's one conversion between `Duration` and the unsigned
/// nanoseconds that clocks, deadlines and timed waits use.
extension Duration {
    /// This non-negative duration in whole nanoseconds, rounded up (so that any
    /// positive duration is at least 1 ns) and saturating at `UInt64.max`; 0 for
    /// a negative duration.
    @inlinable
    package var saturatingNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let fraction = UInt64(attoseconds / 1_000_000_000) + (attoseconds % 1_000_000_000 == 0 ? 0 : 1)
        let (sum, overflow2) = whole.addingReportingOverflow(fraction)
        return overflow2 ? .max : sum
    }
}

/// `clock_gettime(id)` in nanoseconds: the library's one clock read (on Linux
/// a vDSO call, about 20 ns, cheap enough to bracket one operation).
@inlinable @inline(__always)
package func clockNanoseconds(_ id: clockid_t) -> UInt64 {
    var spec = timespec()
    clock_gettime(id, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// `CLOCK_MONOTONIC` in nanoseconds: what timed waits and deadlines of
/// background work are measured on.
@inlinable @inline(__always)
package func monotonicNanoseconds() -> UInt64 { clockNanoseconds(CLOCK_MONOTONIC) }

extension UInt64 {
    /// `self + nanoseconds`, saturating at `UInt64.max` (a deadline that never comes).
    @inlinable
    package func addingSaturating(_ nanoseconds: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(nanoseconds)
        return overflow ? .max : sum
    }
}

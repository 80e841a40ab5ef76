#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic nanoseconds from `clock_gettime`: on Linux with a TSC clock source
/// this is a vDSO call of about 20 ns, cheap enough to bracket a single operation.
@inline(__always)
func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Keeps the optimizer from deleting a computation whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {}

/// The timed part of a benchmark's inner loop folds its results into this value,
/// so the loop cannot be optimized away; printed nowhere.
nonisolated(unsafe) var sink: Int = 0

import Larder

/// Monotonic nanoseconds: the library's clock read (a vDSO call of about 20 ns
/// with a TSC clock source, cheap enough to bracket a single operation).
@inline(__always)
func nowNanoseconds() -> UInt64 { monotonicNanoseconds() }

/// Keeps the optimizer from deleting a computation whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {}

/// The timed part of a benchmark's inner loop folds its results into this value,
/// so the loop cannot be optimized away; printed nowhere.
nonisolated(unsafe) var sink: Int = 0

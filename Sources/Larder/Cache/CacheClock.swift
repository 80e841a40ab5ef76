#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The time source of a ``Cache``: injectable, so tests control time.
///
/// Deadlines in memory are kept on the monotonic clock (never goes back,
/// unaffected by wall-clock changes); deadlines kept on disk use wall time,
/// because monotonic time restarts with the machine.
public protocol CacheClock: Sendable {
    /// Nanoseconds on a monotonic clock with an arbitrary origin.
    func monotonicNanoseconds() -> UInt64
    /// Nanoseconds since 1970-01-01 00:00:00 UTC.
    func wallNanoseconds() -> UInt64
}

/// The system's clocks: `CLOCK_MONOTONIC` and `CLOCK_REALTIME` through `clock_gettime`.
public struct SystemCacheClock: CacheClock {
    /// Creates the system clock.
    public init() {}

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
    @inlinable
    public func monotonicNanoseconds() -> UInt64 { clockNanoseconds(CLOCK_MONOTONIC) }

    /// `clock_gettime(CLOCK_REALTIME)` in nanoseconds since 1970.
    @inlinable
    public func wallNanoseconds() -> UInt64 { clockNanoseconds(CLOCK_REALTIME) }
}

/// A clock that only moves when told to: for deterministic tests of expiry.
///
/// ```swift
/// let clock = ManualCacheClock()
/// let cache = try Cache<String, Int>(configuration: .init(maxCount: 10), clock: clock)
/// try cache.setValue(1, forKey: "a", ttl: .seconds(5))
/// clock.advance(by: .seconds(5))          // "a" has now expired
/// ```
public final class ManualCacheClock: CacheClock {
    private let monotonic: Atomic<UInt64>
    private let wall: Atomic<UInt64>

    /// Creates a clock reading the given times (nanoseconds).
    public init(monotonic: UInt64 = 1_000_000_000, wall: UInt64 = 1_700_000_000_000_000_000) {
        self.monotonic = Atomic(monotonic)
        self.wall = Atomic(wall)
    }

    /// The current monotonic time.
    public func monotonicNanoseconds() -> UInt64 { monotonic.load(ordering: .acquiring) }

    /// The current wall time.
    public func wallNanoseconds() -> UInt64 { wall.load(ordering: .acquiring) }

    /// Moves both clocks forward by `duration` (a negative duration is a
    /// programming error: monotonic time never goes back).
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "ManualCacheClock.advance(by:) needs a duration >= 0, got \(duration)")
        let nanoseconds = duration.saturatingNanoseconds
        monotonic.wrappingAdd(nanoseconds, ordering: .acquiringAndReleasing)
        wall.wrappingAdd(nanoseconds, ordering: .acquiringAndReleasing)
    }
}

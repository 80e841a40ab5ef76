import Foundation
import Synchronization

/// How long one cache line takes to go from one core to another and back on
/// this machine right now: two threads pass a counter back and forth in one
/// line, and the time per round trip is two such transfers.
///
/// Why the threads suite measures it: a cache shared by threads pays for each
/// line the other thread wrote last, the ceiling (private dictionaries) for
/// none, so their scaling compares only while the transfer costs what it
/// usually does. On a virtual machine it does not always: with the same two
/// vCPUs, the round trip has been seen to jump from 55-90 ns to 340-410 ns
/// for stretches of seconds (the hypervisor placing them on different
/// chiplets, presumably), and a shared cache's 2-thread figure then drops to
/// a third while the ceiling's does not move.
enum CoreToCore {
    /// Median nanoseconds per round trip over `samples` samples of `trips`
    /// round trips each, with the spread; nil on a single processor, where a
    /// spinning partner would wait for the scheduler instead of the line.
    static func roundTrip(samples: Int = 3, trips: Int = 100_000) -> Spread? {
        guard ProcessInfo.processInfo.activeProcessorCount >= 2, samples > 0, trips > 0 else { return nil }
        return Spread((0..<samples).map { _ in sample(trips: trips) })
    }

    /// The line both threads write: aligned to and padded to two lines, so
    /// that nothing else shares it (or its prefetch buddy).
    private final class Line: @unchecked Sendable {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        var ball: UnsafeMutablePointer<Atomic<Int>> { raw.assumingMemoryBound(to: Atomic<Int>.self) }
        init() { raw.bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0)) }
        deinit { raw.deallocate() }
    }

    private static func sample(trips: Int) -> Double {
        let line = Line()
        let done = DispatchSemaphore(value: 0)
        // The partner answers each odd value with the next even one.
        let partner = Thread {
            var expected = 1
            for _ in 0..<trips {
                while line.ball.pointee.load(ordering: .acquiring) != expected {}
                line.ball.pointee.store(expected + 1, ordering: .releasing)
                expected += 2
            }
            done.signal()
        }
        partner.start()
        // One unmeasured trip, so that the partner is running when the clock starts.
        line.ball.pointee.store(1, ordering: .releasing)
        while line.ball.pointee.load(ordering: .acquiring) != 2 {}
        let start = nowNanoseconds()
        var value = 3
        for _ in 1..<trips {
            line.ball.pointee.store(value, ordering: .releasing)
            while line.ball.pointee.load(ordering: .acquiring) != value + 1 {}
            value += 2
        }
        let elapsed = nowNanoseconds() &- start
        done.wait()
        return Double(elapsed) / Double(max(1, trips - 1))
    }
}

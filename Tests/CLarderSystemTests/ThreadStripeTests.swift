import CLarderSystem
import Dispatch
import Foundation
import Synchronization
import Testing

/// The thread stripe indexes (larder_thread_stripe.h): taken lowest first, none
/// held by two live threads, given back, and none once every one is held.
@Suite struct ThreadStripeTests {
    @Test func indexesAreTakenLowestFirstGivenBackAndRunOut() {
        var held: UInt64 = 0b1011
        #expect(larder_thread_stripe_take(&held) == 2)
        #expect(held == 0b1111)
        #expect(larder_thread_stripe_take(&held) == 4)
        larder_thread_stripe_give(&held, 1)
        #expect(held == 0b11101)
        #expect(larder_thread_stripe_take(&held) == 1)
        held = UInt64.max
        #expect(larder_thread_stripe_take(&held) == LARDER_THREAD_STRIPE_NONE)
        #expect(held == UInt64.max)
        larder_thread_stripe_give(&held, 63)
        #expect(larder_thread_stripe_take(&held) == 63)
    }

    /// What a thread of the test below reports, and when it may exit.
    final class Probe: Sendable {
        let index = Atomic<UInt32>(UInt32.max)
        let release = Atomic<Bool>(false)
    }

    @Test func liveThreadsHoldDistinctIndexes() {
        let mine = larder_thread_stripe()
        #expect(mine < LARDER_THREAD_STRIPES)
        #expect(larder_thread_stripe() == mine)  // the same on every call
        let probes = (0..<3).map { _ in Probe() }
        for probe in probes {
            Thread {
                probe.index.store(larder_thread_stripe(), ordering: .releasing)
                while !probe.release.load(ordering: .acquiring) { sched_yield() }
            }.start()
        }
        let indexes = probes.map { probe in
            while probe.index.load(ordering: .acquiring) == UInt32.max { sched_yield() }
            return probe.index.load(ordering: .acquiring)
        }
        // Other tests' threads may hold indexes too; these four are all live at once.
        #expect(Set(indexes + [mine]).count == 4)
        for index in indexes {
            #expect(index < LARDER_THREAD_STRIPES)
            #expect(larder_thread_stripes_held() & (UInt64(1) << UInt64(index)) != 0)
        }
        for probe in probes { probe.release.store(true, ordering: .releasing) }
    }

    @Test func aStripeThatThreadsShareCountsEveryIncrementOfEachThread() {
        // The counting of a stripe without an owner (larder_read_buffer.h): two
        // threads at once on one counter, as threads beyond the indexes do.
        let counter = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        counter.initialize(to: 0)
        defer { counter.deallocate() }
        nonisolated(unsafe) let c = counter
        let threads = 2, increments = 2_000_000
        let arrived = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread {
                arrived.add(1, ordering: .relaxed)
                while arrived.load(ordering: .relaxed) < threads { sched_yield() }
                for _ in 0..<increments { _ = larder_read_stripe_bump(c, 0) }
                done.signal()
            }.start()
        }
        for _ in 0..<threads { done.wait() }
        #expect(c.pointee == UInt64(threads * increments))
    }
}

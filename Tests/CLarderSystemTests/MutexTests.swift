import CLarderSystem
import Dispatch
import Foundation
import Synchronization
import Testing

/// The shard mutex (larder_mutex.h): mutual exclusion, the bias to a thread that takes
/// it alone and its revocation, and the thread tokens the bias is keyed by.
@Suite struct MutexTests {
    @Test func mutexSerializesIncrementsFromSeveralThreads() {
        let guarded = GuardedCounter(streak: LARDER_MUTEX_BIAS_STREAK)  // as larder_mutex_init
        defer { guarded.free() }
        let threads = 4, increments = 50_000
        // Plain (non-atomic) read-modify-writes: without the mutex some are lost.
        DispatchQueue.concurrentPerform(iterations: threads) { _ in guarded.increment(increments) }
        #expect(guarded.counter.pointee == threads * increments)
        #expect(guarded.mutex.pointee.state == 0)
    }

    /// Runs `body` on a new thread; `join()` waits for it (no timing involved).
    final class Joinable: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping @Sendable () -> Void) {
            let done = self.done
            Thread { body(); done.signal() }.start()
        }
        func join() { done.wait() }
    }

    /// The turn of theBiasFollowsThreadsThatTakeTurns.
    final class Turn: Sendable {
        let value = Atomic<Int>(0)
        let unbiasedBursts = Atomic<Int>(0)
    }

    /// What the revoking thread of the test below reports.
    final class Revoker: Sendable {
        let tid = Atomic<Int32>(0)
        let acquired = Atomic<Bool>(false)
    }

    /// The calling thread's kernel id (/proc/thread-self links to "pid/task/tid").
    static func currentThreadID() -> Int32 {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
        return Int32(link.split(separator: "/").last ?? "") ?? 0
    }

    /// Whether thread `tid` of this process is asleep (state S in /proc/self/task/tid/stat).
    static func isAsleep(_ tid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("S")
    }

    @Test func mutexBiasesToAThreadAloneAndAnotherThreadRevokesIt() {
        let mutex = UnsafeMutablePointer<larder_mutex>.allocate(capacity: 1)
        larder_mutex_init_streak(mutex, 4)
        defer { mutex.deallocate() }
        nonisolated(unsafe) let m = mutex
        // Three futex acquisitions: a streak, not yet a bias.
        for _ in 0..<3 { larder_mutex_lock(m); larder_mutex_unlock(m) }
        #expect(larder_mutex_biased_to(m) == 0)
        // The fourth completes the streak of 4.
        larder_mutex_lock(m); larder_mutex_unlock(m)
        #expect(larder_mutex_is_biased_to_caller(m) != 0)
        // Biased: held without touching the futex word.
        larder_mutex_lock(m)
        #expect(m.pointee.state == 0)
        #expect(m.pointee.inside == larder_thread_token())
        larder_mutex_unlock(m)
        #expect(m.pointee.inside == 0)
        #expect(m.pointee.revocations == 0)

        // Another thread's lock revokes the bias; the owner then queues on the futex.
        let other = Joinable { larder_mutex_lock(m); larder_mutex_unlock(m) }
        other.join()
        #expect(larder_mutex_biased_to(m) == 0)
        #expect(m.pointee.revocations == 1)
        larder_mutex_lock(m)
        #expect(m.pointee.state == 1)
        #expect(m.pointee.inside == 0)
        larder_mutex_unlock(m)
        #expect(m.pointee.state == 0)
    }

    @Test func threadTokensAreNeverReusedAndSaturateAtTheSharedToken() {
        var counter: UInt32 = 0
        #expect(larder_thread_token_take(&counter) == 1)
        #expect(larder_thread_token_take(&counter) == 2)
        counter = LARDER_THREAD_TOKEN_SHARED - 3
        #expect(larder_thread_token_take(&counter) == LARDER_THREAD_TOKEN_SHARED - 2)
        #expect(larder_thread_token_take(&counter) == LARDER_THREAD_TOKEN_SHARED - 1)
        #expect(larder_thread_token_take(&counter) == LARDER_THREAD_TOKEN_SHARED)
        #expect(larder_thread_token_take(&counter) == LARDER_THREAD_TOKEN_SHARED)
        #expect(counter == LARDER_THREAD_TOKEN_SHARED - 1)
    }

    @Test func aThreadWithTheSharedTokenIsNeverBiased() {
        let mutex = UnsafeMutablePointer<larder_mutex>.allocate(capacity: 1)
        larder_mutex_init_streak(mutex, 2)
        defer { mutex.deallocate() }
        nonisolated(unsafe) let m = mutex
        let thread = Joinable {
            larder_thread_token_replace(LARDER_THREAD_TOKEN_SHARED)  // as after 2^32 - 2 threads
            for _ in 0..<10 { larder_mutex_lock(m); larder_mutex_unlock(m) }
        }
        thread.join()
        #expect(larder_mutex_biased_to(m) == 0)
        #expect(m.pointee.streak_owner == LARDER_THREAD_TOKEN_SHARED)  // it did lock, 10 times
    }

    @Test func aRevokerWaitsForTheBiasedOwnerToLeave() {
        let mutex = UnsafeMutablePointer<larder_mutex>.allocate(capacity: 1)
        larder_mutex_init_streak(mutex, 1)
        defer { mutex.deallocate() }
        nonisolated(unsafe) let m = mutex
        larder_mutex_lock(m); larder_mutex_unlock(m)
        #expect(larder_mutex_is_biased_to_caller(m) != 0)

        larder_mutex_lock(m)  // held through the bias
        // The other thread revokes the bias, then must sleep until we leave.
        let entered = Self.handOver(m) { larder_mutex_biased_to(m) == 0 }
        #expect(entered)
        #expect(m.pointee.revocations == 1)
    }

    @Test func anUnlockWakesALockerThatSleepsOnTheFutex() {
        let mutex = UnsafeMutablePointer<larder_mutex>.allocate(capacity: 1)
        larder_mutex_init_streak(mutex, 0)  // never biased: the futex path only
        defer { mutex.deallocate() }
        nonisolated(unsafe) let m = mutex
        larder_mutex_lock(m)
        // The other thread must count itself a sleeper, and the unlock (a plain
        // store of 0, ordered for the sleeper by its membarrier) must wake it.
        let entered = Self.handOver(m) { larder_mutex_sleepers(m) == 1 }
        #expect(entered)
        #expect(m.pointee.state == 0 && larder_mutex_sleepers(m) == 0)
    }

    /// With `mutex` held by the caller: starts a thread that locks it, waits
    /// until that thread sleeps in the kernel with `waiting()` true (or got in,
    /// which is wrong), writes a value, unlocks, and joins the thread. Returns
    /// whether it got in afterwards and saw the value.
    static func handOver(_ mutex: UnsafeMutablePointer<larder_mutex>, waiting: () -> Bool) -> Bool {
        let shared = UnsafeMutablePointer<Int>.allocate(capacity: 2)  // [value, seen by the other thread]
        shared.initialize(repeating: 0, count: 2)
        defer { shared.deallocate() }
        nonisolated(unsafe) let m = mutex, s = shared
        let other = Revoker()
        let thread = Joinable {
            other.tid.store(Self.currentThreadID(), ordering: .relaxed)
            larder_mutex_lock(m)
            s[1] = s[0]  // what the holder wrote before it left
            other.acquired.store(true, ordering: .relaxed)
            larder_mutex_unlock(m)
        }
        while true {
            let tid = other.tid.load(ordering: .relaxed)
            if other.acquired.load(ordering: .relaxed) || (tid != 0 && waiting() && Self.isAsleep(tid)) { break }
            sched_yield()
        }
        s[0] = 42
        let enteredEarly = other.acquired.load(ordering: .relaxed)
        #expect(!enteredEarly, "the other thread entered while the mutex was held")
        larder_mutex_unlock(m)
        thread.join()
        return other.acquired.load(ordering: .relaxed) && s[1] == 42
    }

    /// A mutex biased after `streak` acquisitions, and a plain counter it guards.
    struct GuardedCounter: @unchecked Sendable {
        let mutex = UnsafeMutablePointer<larder_mutex>.allocate(capacity: 1)
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        init(streak: UInt32) {
            larder_mutex_init_streak(mutex, streak)
            counter.initialize(to: 0)
        }
        /// `count` plain (non-atomic) increments, each under the mutex.
        func increment(_ count: Int) {
            for _ in 0..<count {
                larder_mutex_lock(mutex)
                counter.pointee += 1
                larder_mutex_unlock(mutex)
            }
        }
        func free() { mutex.deallocate(); counter.deallocate() }
    }

    @Test func theBiasFollowsThreadsThatTakeTurns() {
        let guarded = GuardedCounter(streak: 8)
        defer { guarded.free() }
        let threads = 4, rounds = 50, burst = 64
        let turn = Turn()
        // Each thread in turn locks `burst` times: after 8 the mutex is biased
        // to it, and the next thread's first lock revokes that bias.
        let workers = (0..<threads).map { index in
            Joinable {
                for round in 0..<rounds {
                    while turn.value.load(ordering: .acquiring) != round * threads + index { sched_yield() }
                    guarded.increment(burst)
                    if larder_mutex_is_biased_to_caller(guarded.mutex) == 0 {
                        turn.unbiasedBursts.add(1, ordering: .relaxed)
                    }
                    turn.value.add(1, ordering: .releasing)
                }
            }
        }
        for worker in workers { worker.join() }
        #expect(guarded.counter.pointee == threads * rounds * burst)
        let unbiased = turn.unbiasedBursts.load(ordering: .relaxed)
        #expect(unbiased == 0)
        #expect(guarded.mutex.pointee.revocations == UInt32(threads * rounds - 1))
        #expect(guarded.mutex.pointee.state == 0 && guarded.mutex.pointee.inside == 0)
    }

    @Test func biasedMutexSerializesThreadsThatRunTogether() {
        // A short streak: whichever thread runs alone for a moment gets the
        // bias, and loses it to the next one.
        let guarded = GuardedCounter(streak: 8)
        defer { guarded.free() }
        let threads = 4, bursts = 200, burst = 64
        let workers = (0..<threads).map { _ in
            Joinable {
                for _ in 0..<bursts {
                    guarded.increment(burst)
                    sched_yield()
                }
            }
        }
        for worker in workers { worker.join() }
        #expect(guarded.counter.pointee == threads * bursts * burst)
        #expect(guarded.mutex.pointee.state == 0 && guarded.mutex.pointee.inside == 0)
    }
}

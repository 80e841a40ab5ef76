#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A thread of its own that runs a tick every interval until stopped, or
/// until the tick returns false: the library's one background runner (the
/// expiry sweeper, the memory governor, the write-back flusher).
///
/// A thread rather than a Dispatch timer or a task: its ticks never overlap,
/// it waits on the monotonic clock, ``wake()`` runs a tick early, and
/// ``stop()`` returns only once the last tick has finished, so an owner that
/// stops it in `deinit` knows nothing of its runs after that. The tick closure
/// should hold its owner weakly, so that releasing the owner ends the thread.
final class PeriodicRunner: @unchecked Sendable {
    // Every field below is guarded by `condition`.
    private let condition = ConditionLock()
    /// The running thread's generation: a stop ends only the thread it saw.
    private var generation = 0
    private var stopping = false
    private var wakeRequested = false
    private var thread: pthread_t? = nil

    private final class Start {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    init() {}

    deinit { stop() }

    /// Starts the thread, unless it is running already (then this does nothing).
    ///
    /// - Parameters:
    ///   - interval: the time from the end of one tick to the start of the next.
    ///   - tickAtStart: whether the first tick runs at once rather than one interval from now.
    ///   - onExit: called on the thread as it ends (tests wait for it).
    ///   - tick: one run; return false to end the thread.
    func start(interval: Duration, tickAtStart: Bool, onExit: (@Sendable () -> Void)? = nil,
               tick: @escaping @Sendable () -> Bool) {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        generation += 1
        stopping = false
        wakeRequested = false
        let me = generation
        let nanoseconds = max(1, interval.saturatingNanoseconds)
        let start = Start { [self] in
            defer {
                // Ended by its tick rather than by stop(): nobody will join it.
                condition.withLock {
                    if let running = thread, pthread_equal(running, pthread_self()) != 0 {
                        thread = nil
                        pthread_detach(running)
                    }
                }
                onExit?()
            }
            var due = tickAtStart
            while true {
                if !due && !waitForTick(generation: me, nanoseconds: nanoseconds) { return }
                due = false
                guard tick() else { return }
            }
        }
        let box = Unmanaged.passRetained(start).toOpaque()
        var id = pthread_t()
        let status = pthread_create(&id, nil, { raw in
            Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box)
        if status == 0 {
            thread = id
        } else {
            Unmanaged<Start>.fromOpaque(box).release()
        }
    }

    /// Waits out one interval unless woken; false when this thread is to stop.
    private func waitForTick(generation me: Int, nanoseconds: UInt64) -> Bool {
        let deadline = monotonicNanoseconds().addingSaturating(nanoseconds)
        condition.lock()
        defer { condition.unlock() }
        while generation == me && !stopping && !wakeRequested && monotonicNanoseconds() < deadline {
            condition.wait(untilMonotonic: deadline)
        }
        wakeRequested = false
        return generation == me && !stopping
    }

    /// Runs the next tick now rather than at the end of the interval.
    func wake() {
        condition.withLock {
            wakeRequested = true
            condition.broadcast()
        }
    }

    /// Ends the loop and waits for a tick in progress to finish. Idempotent.
    /// On the runner's own thread (its owner released by a tick) it only
    /// detaches the thread, which ends after that tick.
    func stop() {
        let running = condition.withLock { () -> pthread_t? in
            stopping = true
            condition.broadcast()
            defer { thread = nil }
            return thread
        }
        guard let running else { return }
        if pthread_equal(running, pthread_self()) != 0 {
            pthread_detach(running)
        } else {
            pthread_join(running, nil)
        }
    }

    /// Whether a thread is running (started, and not yet stopped or ended).
    var isRunning: Bool { condition.withLock { thread != nil } }
}

import Dispatch

/// The background sweeper's timer, stoppable once from any thread.
///
/// A dispatch timer rather than a thread of our own: it costs nothing between
/// runs, its handler never runs concurrently with itself, and cancelling it is
/// enough to stop it. The handler holds the cache weakly, so a cache that is
/// no longer referenced is deinitialized (and stops its timer) as usual.
final class CacheSweeper: @unchecked Sendable {
    private let mutex = PThreadMutex.make()
    // Guarded by `mutex`.
    private var timer: (any DispatchSourceTimer)?

    deinit {
        stop()
        mutex.destroy()
    }

    /// Starts calling `handler` every `interval` (the first call one interval from now).
    func start(interval: Duration, handler: @escaping @Sendable () -> Void) {
        let nanoseconds = Int(clamping: interval.saturatingNanoseconds)
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        source.schedule(deadline: .now() + .nanoseconds(nanoseconds),
                        repeating: .nanoseconds(nanoseconds),
                        leeway: .nanoseconds(max(1, nanoseconds / 10)))
        source.setEventHandler(handler: handler)
        mutex.lock()
        timer = source
        mutex.unlock()
        source.resume()
    }

    /// Cancels the timer; a run already under way finishes. Idempotent.
    func stop() {
        mutex.lock()
        let running = timer
        timer = nil
        mutex.unlock()
        running?.cancel()
    }

    var isRunning: Bool {
        mutex.lock()
        defer { mutex.unlock() }
        return timer != nil
    }
}

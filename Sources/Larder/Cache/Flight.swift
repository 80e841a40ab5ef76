/// One in-flight get-or-compute: the first caller for a key computes, later
/// callers for the same key wait here for its result (sync callers block on a
/// condition variable, async callers suspend on a continuation).
final class Flight<Value: Sendable>: @unchecked Sendable {
    /// The thread token (larder_thread_token) of a synchronous leader, computing on
    /// its own thread; 0 for an async leader, whose computation may hop threads.
    let leaderThread: UInt32
    private let condition = ConditionLock()
    // Guarded by `condition`'s mutex.
    private var result: Result<Value, any Error>? = nil
    /// Suspended async waiters by ticket, so that a cancelled one can leave.
    private var continuations: [Int: CheckedContinuation<Value, any Error>] = [:]
    private var nextTicket = 0
    private var blockedThreads = 0

    init(leaderThread: UInt32 = 0) { self.leaderThread = leaderThread }

    /// Publishes the result to every waiter, present and future.
    func complete(_ outcome: Result<Value, any Error>) {
        condition.lock()
        result = outcome
        let waiting = continuations.values
        continuations = [:]
        condition.broadcast()
        condition.unlock()
        for continuation in waiting { continuation.resume(with: outcome) }
    }

    /// Callers waiting now (blocked threads and suspended tasks): lets a test
    /// hold a computation until every caller has joined.
    var waiterCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return blockedThreads + continuations.count
    }

    /// Blocks the calling thread until the result is published.
    func wait() throws -> Value {
        condition.lock()
        blockedThreads += 1
        while result == nil { condition.wait() }
        blockedThreads -= 1
        let outcome = result!
        condition.unlock()
        return try outcome.get()
    }

    /// Suspends until the result is published, or (with `leavingOnCancel`)
    /// until the waiting task is cancelled: then it throws `CancellationError`
    /// and leaves the flight (the computation goes on for the caller running
    /// it and the other waiters).
    func wait(leavingOnCancel: Bool) async throws -> Value {
        guard leavingOnCancel else {
            return try await withCheckedThrowingContinuation { continuation in join(continuation, ticket: nil) }
        }
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        condition.unlock()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in join(continuation, ticket: ticket) }
        } onCancel: {
            condition.lock()
            let continuation = continuations.removeValue(forKey: ticket)
            condition.unlock()
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Resumes `continuation` with the result if there is one; otherwise keeps
    /// it until `complete`, unless a cancellable waiter's task is already
    /// cancelled (its handler ran before it joined and found nothing to resume).
    private func join(_ continuation: CheckedContinuation<Value, any Error>, ticket: Int?) {
        condition.lock()
        if let outcome = result {
            condition.unlock()
            continuation.resume(with: outcome)
        } else if ticket != nil && Task.isCancelled {
            condition.unlock()
            continuation.resume(throwing: CancellationError())
        } else {
            let key: Int
            if let ticket { key = ticket } else { key = nextTicket; nextTicket += 1 }
            continuations[key] = continuation
            condition.unlock()
        }
    }
}

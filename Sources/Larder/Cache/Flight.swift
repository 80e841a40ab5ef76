/// One in-flight get-or-compute: the first caller for a key computes, later
/// callers for the same key wait here for its result (sync callers block on a
/// condition variable, async callers suspend on a continuation).
final class Flight<Value: Sendable>: @unchecked Sendable {
    private let condition = PThreadCondition()
    // Guarded by `condition`'s mutex.
    private var result: Result<Value, any Error>? = nil
    private var continuations: [CheckedContinuation<Value, any Error>] = []
    private var blockedThreads = 0

    /// Publishes the result to every waiter, present and future.
    func complete(_ outcome: Result<Value, any Error>) {
        condition.lock()
        result = outcome
        let waiting = continuations
        continuations = []
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

    /// Suspends until the result is published. Cancelling the waiting task
    /// does not end the wait: the shared computation decides.
    func wait() async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            condition.lock()
            if let outcome = result {
                condition.unlock()
                continuation.resume(with: outcome)
            } else {
                continuations.append(continuation)
                condition.unlock()
            }
        }
    }
}

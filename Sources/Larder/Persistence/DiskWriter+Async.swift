/// Writes from async callers: they suspend until their write is as durable as the mode
/// promises, and never hold a thread of Swift's cooperative pool while a disk syncs.
extension DiskWriter {
    /// Writes `op` with the guarantee of ``submit(_:)``, suspending instead of blocking:
    ///
    /// - `.synchronous` and `.groupCommit`: the write goes to the committer thread's queue
    ///   (in `.synchronous` mode the committer starts with the first async write, and
    ///   commits each batch straight into the records, without the journal) and the caller
    ///   is resumed by that thread once the write's round is synced, or with its error.
    /// - `.writeBack`: the write is queued at once; only back-pressure (a full overlay)
    ///   suspends, until the flusher takes the batch.
    func submitAsync(_ op: DiskStore.WriteOp) async throws(CacheError) {
        let failure: CacheError? = await withCheckedContinuation { continuation in
            cond.lock()
            defer { cond.unlock() }
            guard !closing else { return continuation.resume(returning: closedError()) }
            switch durability {
            case .synchronous, .groupCommit:
                startAsyncCommitterIfNeeded()
                _ = enqueueForCommit(op)
                asyncWaiters.append(continuation)
            case .writeBack:
                if let target = enqueueWriteBack(op), startedRounds < target {
                    roundStartWaiters.append(continuation)
                } else {
                    continuation.resume(returning: nil)
                }
            }
        }
        if let failure { throw failure }
    }

    /// Synchronous mode: starts the committer that async writers hand their writes to
    /// (blocking writers commit on their own thread and never need it). Call with `cond`
    /// held, not closing.
    private func startAsyncCommitterIfNeeded() {
        guard case .synchronous = durability, !asyncCommitterStarted else { return }
        asyncCommitterStarted = true
        threadExited = false
        runner.start(interval: .zero, tickAtStart: true) { [self] in
            groupCommitLoop()
            return false
        }
    }

    /// Resumes async writers with their round's outcome. Call without `cond` held.
    static func resume(_ waiters: [CheckedContinuation<CacheError?, Never>], with failure: CacheError?) {
        for waiter in waiters { waiter.resume(returning: failure) }
    }
}

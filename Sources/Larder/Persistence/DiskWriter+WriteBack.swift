/// Write-back: the flusher thread's round.
extension DiskWriter {
    /// One write-back round, on the flusher thread every interval or when woken: commits
    /// the overlay in one synced transaction. False after the final round (closing).
    func writeBackRound() -> Bool {
        cond.lock()
        defer { cond.unlock() }
        let finalRound = closing
        maintenanceRequested = false
        inFlight = pending
        inFlightCleared = pendingCleared
        pending = Dictionary(minimumCapacity: min(inFlight.count, maxPending))
        pendingCleared = false
        startedRounds += 1
        cond.broadcast(.done)  // writers waiting on back-pressure
        let released = roundStartWaiters
        roundStartWaiters.removeAll()
        var ops: [DiskStore.WriteOp] = []
        ops.reserveCapacity(inFlight.count + 1)
        if inFlightCleared { ops.append(.removeAll) }
        ops.append(contentsOf: inFlight.values)
        cond.unlock()
        Self.resume(released, with: nil)  // their writes are in this round, visible meanwhile
        var failure: CacheError?
        do { try store.apply(ops) } catch { failure = error }
        cond.lock()
        if let failure, finalRound {
            // Closing: nothing runs after this round, so these writes are gone.
            logger.error("write-back flush at close failed; the queued writes are lost",
                         metadata: ["error": "\(failure)", "droppedWrites": "\(ops.count)"])
        } else if let failure {
            logger.error("write-back flush failed; will retry", metadata: ["error": "\(failure)", "writes": "\(ops.count)"])
            // Keep the writes for the next round unless newer ones replaced them.
            if !pendingCleared {
                for (key, op) in inFlight where pending[key] == nil { pending[key] = op }
                if inFlightCleared { pendingCleared = true }
            }
        }
        lastFlushError = failure
        inFlight = [:]
        inFlightCleared = false
        completedRounds += 1
        if finalRound { threadExited = true }
        cond.broadcast(.done)
        return !finalRound
    }
}

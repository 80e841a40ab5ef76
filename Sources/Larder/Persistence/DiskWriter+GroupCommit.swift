#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLarderSystem
import Synchronization

/// Group commit: the committer thread, which gathers queued writes into one journal frame
/// or one transaction and one sync, then releases the whole batch with one wake.
extension DiskWriter {
    /// Group commit: how long, after a commit, the committer waits for the writers it released
    /// (and those that queued during the commit) to queue again before committing a smaller
    /// batch. Small next to a sync, it keeps steady writers in one batch instead of splitting
    /// them over two commits (two syncs).
    static let gatherWindowNanoseconds: UInt64 = 200_000
    /// The window grows to half the last commit's duration (a slow sync), up to this.
    static let maxGatherWindowNanoseconds: UInt64 = 2_000_000
    /// How much of the window the committer polls before it sleeps.
    static let gatherPollNanoseconds: UInt64 = 200_000
    /// Group commit: journaled writes that make the next round apply the journal (as does
    /// a full journal file, `JournalFile.capacity`). Larger batches share more of the
    /// records' leaf pages per applied write, at the cost of a longer pause for the writers
    /// of the round that applies them.
    static let journalLimit = 8192

    /// Whether a group-commit batch can go to the journal: only puts and deletes (and
    /// flush's no-op), and only while the journal is under its limits.
    private func journals(_ ops: [DiskStore.WriteOp]) -> Bool {
        guard journaled.count + ops.count <= Self.journalLimit else { return false }
        return ops.allSatisfy {
            switch $0 {
            case .put, .delete, .noop: true
            default: false
            }
        }
    }

    func groupCommitLoop() {
        let journaling = durability == .groupCommit
        cond.lock()
        // Writers active in the last round: the batch committed plus those that queued
        // during its commit. All of them are expected back (each waits for one write).
        var expected = 1
        var gatherUntil: UInt64 = 0  // 0: not waiting for returning writers
        var appliedWhileClosing = false
        while true {
            if gatherUntil > 0 && queue.count < expected && !closing {
                // Poll, yielding the CPU, for the first part of the window: the writers are
                // runnable and about to queue, and a sleep here would add a wake-up (tens
                // of microseconds in a VM) to every round. Then sleep for the rest.
                cond.unlock()
                let pollUntil = min(gatherUntil, monotonicNanoseconds() + Self.gatherPollNanoseconds)
                while queuedWrites.load(ordering: .relaxed) < expected && monotonicNanoseconds() < pollUntil {
                    sched_yield()
                }
                cond.lock()
                gatherTarget = expected
                while queue.count < expected && !closing && monotonicNanoseconds() < gatherUntil {
                    cond.wait(.work, untilMonotonic: gatherUntil)
                }
                gatherTarget = .max
            }
            gatherUntil = 0
            while queue.isEmpty && !applyRequested && !closing {
                committerIdle = true
                cond.wait(.work)
            }
            committerIdle = false
            // Closing: one last round applies the journal; if that fails, the journal stays
            // on disk for the next open to apply.
            if closing && queue.isEmpty && (journaled.isEmpty || appliedWhileClosing) { break }
            var ops = queue
            let writers = queue.count  // one op per waiting writer
            queue.removeAll(keepingCapacity: true)
            queuedWrites.store(0, ordering: .relaxed)
            // Async writers are resumed with the outcome; blocking ones read a failure.
            let resuming = asyncWaiters
            asyncWaiters.removeAll(keepingCapacity: true)
            let blockingWriters = writers - resuming.count
            // Synchronous mode (its async writers only) commits straight into the records.
            // The journal is applied when it is full (`journals`), on flush and at close:
            // a writer's round is otherwise a journal append, which waits for no LMDB
            // transaction (recorded accesses are the maintainer's).
            let toJournal = journaling && !applyRequested && !closing && journals(ops)
            if !toJournal && !journaled.isEmpty {
                // Apply the journal first: older than the batch, and the journal empties with it.
                ops = Array(journaled.values) + ops
            }
            let clearing = !toJournal && !journaled.isEmpty
            if closing { appliedWhileClosing = true }
            if !toJournal { applyRequested = false }
            startedRounds += 1
            let hook = beforeCommit
            cond.unlock()
            hook?(writers)
            var failure: CacheError?
            let commitStart = monotonicNanoseconds()
            var spilled = false
            do {
                if !toJournal {
                    try store.apply(ops, clearingJournal: clearing)
                } else if try !store.journal(ops) {
                    // The journal file is full: apply it, with this batch, instead.
                    let older = cond.withLock { Array(journaled.values) }
                    try store.apply(older + ops, clearingJournal: true)
                    spilled = true
                }
            } catch { failure = error }
            let commitNanoseconds = monotonicNanoseconds() - commitStart
            if let failure, writers == 0 {
                logger.warning("could not record access order on disk", metadata: ["error": "\(failure)"])
            }
            cond.lock()
            if failure == nil {
                if spilled {
                    journaled.removeAll(keepingCapacity: true)
                } else if toJournal {
                    for op in ops {
                        switch op {
                        case .put(let key, _), .delete(let key):
                            journaled[key] = op
                        default: break
                        }
                    }
                } else if clearing {
                    journaled.removeAll(keepingCapacity: true)
                }
            }
            if let failure, blockingWriters > 0 {
                roundFailures[startedRounds] = (failure, blockingWriters)
                failedRounds.add(1, ordering: .releasing)
            }
            completedRounds += 1
            expected = max(1, writers + queue.count)
            // Waiting for stragglers is worth a fraction of what a commit (its sync) costs;
            // not of what applying the journal cost.
            if toJournal {
                gatherWindow = min(max(Self.gatherWindowNanoseconds, commitNanoseconds / 2), Self.maxGatherWindowNanoseconds)
            }
            if expected > queue.count { gatherUntil = monotonicNanoseconds() + gatherWindow }
            cond.broadcast(.done)  // flush() and test hooks waiting for a round
            cond.unlock()
            // Released outside the lock, so that they do not queue for it; one wake for all.
            larder_round_publish(completedWord, UInt32(truncatingIfNeeded: completedRounds))
            Self.resume(resuming, with: failure)
            cond.lock()
        }
        threadExited = true
        cond.broadcast(.done)
        cond.unlock()
    }
}

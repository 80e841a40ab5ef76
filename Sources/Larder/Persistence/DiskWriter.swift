import CLarderCore
import CLarderSystem
import Foundation
import Logging
import Synchronization

/// Carries writes to a `DiskStore` under one of the durability modes.
///
/// - `.synchronous`: the caller commits its own transaction (LMDB serializes writers).
/// - `.groupCommit`: callers queue their write and wait; a committer thread drains the
///   whole queue into one transaction and one sync, then wakes everyone in that batch.
///   A batch of puts and deletes goes to the store's journal file (`DiskStore.journal`: one
///   appended frame and one flush per round) and stays readable in an overlay here; every
///   `journalLimit` writes (or when the file is full), on maintenance, on flush, before a
///   removeAll and on close, one transaction applies the overlay to the records and makes
///   the journal's frames stale.
///   While it syncs, the next batch gathers; after it, the committer waits briefly for the
///   writers it has just released (and those that queued meanwhile) to come back, so that
///   steady writers share every commit instead of splitting into smaller ones.
/// - `.writeBack`: callers put their write in an overlay (latest write per key, plus a
///   "cleared" mark for removeAll) and return; a flusher thread moves the overlay to
///   "in flight", commits it in one synced transaction every interval, then drops it.
///   Reads consult the overlay and the in-flight set before the disk.
final class DiskWriter: @unchecked Sendable {
    enum Overlay {
        case none
        case put([UInt8])
        case deleted
    }

    let store: DiskStore
    let durability: PersistenceConfiguration.Durability
    private let logger: Logger
    /// Write-back: queued entries beyond which writers wait for a flush (bounds memory).
    private let maxPending: Int

    private let cond = ConditionLock(conditions: 2)
    /// The committer (group commit) or the flusher (write-back) thread.
    private let runner = PeriodicRunner()
    // Everything below is guarded by `cond`.
    private var closing = false
    private var threadExited = false
    private var maintenanceRequested = false
    /// Synchronous mode: an access-batch commit is running off the reading thread.
    private let maintenanceInFlight = Atomic<Bool>(false)
    private var startedRounds: UInt64 = 0
    private var completedRounds: UInt64 = 0
    // Group commit.
    private var queue: [DiskStore.WriteOp] = []
    /// `queue.count`, readable without `cond` (the committer's gathering polls it).
    private let queuedWrites = Atomic<Int>(0)
    /// Rounds whose commit failed, with how many of their writers have yet to read it.
    private var roundFailures: [UInt64: (error: CacheError, unread: Int)] = [:]
    /// Nonzero while `roundFailures` is not empty: released writers look only then.
    private let failedRounds = Atomic<Int>(0)
    /// The low 32 bits of `completedRounds`, the futex word group-commit writers wait on:
    /// one wake releases a whole batch (`larder_round_publish`).
    private let completedWord: UnsafeMutablePointer<UInt32> = {
        let word = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        word.initialize(to: 0)
        return word
    }()
    /// Writers the committer is gathering for (.max when it is not waiting for a batch).
    private var gatherTarget = Int.max
    /// The committer waits for any write (the first one wakes it).
    private var committerIdle = false
    private var gatherWindow = DiskWriter.gatherWindowNanoseconds
    /// Group commit: journaled writes not yet applied to the records, latest per key.
    private var journaled: [[UInt8]: DiskStore.WriteOp] = [:]
    // Write-back.
    private var pending: [[UInt8]: DiskStore.WriteOp] = [:]
    private var pendingCleared = false
    private var inFlight: [[UInt8]: DiskStore.WriteOp] = [:]
    private var inFlightCleared = false
    private var lastFlushError: CacheError?

    init(store: DiskStore, durability: PersistenceConfiguration.Durability, logger: Logger, maxPending: Int = 65_536) {
        self.store = store
        self.durability = durability
        self.logger = logger
        self.maxPending = maxPending
        switch durability {
        case .synchronous:
            threadExited = true
        case .groupCommit:
            // One tick that runs until close: the committer waits for writes, not for a clock.
            runner.start(interval: .zero, tickAtStart: true) { [self] in
                groupCommitLoop()
                return false
            }
        case .writeBack(let interval):
            // A huge interval means "only on flush and close" (the runner saturates it).
            runner.start(interval: max(interval, .milliseconds(1)), tickAtStart: false) { [self] in
                writeBackRound()
            }
        }
    }

    /// Asks the writer thread for a round now: the committer waits on `.work`, the
    /// write-back flusher on its runner. Call with `cond` held.
    private func wakeWriterThread() {
        if case .writeBack = durability { runner.wake() } else { cond.signal(.work) }
    }

    /// Writes `op` with the mode's guarantee: on return from `.synchronous` and
    /// `.groupCommit` it is committed and synced; in `.writeBack` it is queued and visible.
    func submit(_ op: DiskStore.WriteOp) throws(CacheError) {
        switch durability {
        case .synchronous:
            try store.apply([op])
        case .groupCommit:
            cond.lock()
            guard !closing else {
                cond.unlock()
                throw closedError()
            }
            queue.append(op)
            queuedWrites.store(queue.count, ordering: .relaxed)
            // The next round to start takes the whole queue, this write with it.
            let round = startedRounds + 1
            // Wake the committer when it is idle (this is the first write) or its batch is
            // complete; writers in between need not wake it.
            if (committerIdle && queue.count == 1) || queue.count >= gatherTarget { cond.signal(.work) }
            cond.unlock()
            larder_round_wait(completedWord, UInt32(truncatingIfNeeded: round))
            if failedRounds.load(ordering: .acquiring) > 0, let error = readFailure(of: round) { throw error }
        case .writeBack:
            cond.lock()
            defer { cond.unlock() }
            guard !closing else { throw closedError() }
            switch op {
            case .put(let key, _), .delete(let key):
                pending[key] = op
            case .removeAll:
                pending.removeAll(keepingCapacity: true)
                pendingCleared = true
            default:
                store.enqueue(op)
            }
            if pending.count >= maxPending {
                // Back-pressure: wait for the flusher to take this batch.
                let target = startedRounds + 1
                maintenanceRequested = true
                wakeWriterThread()
                while startedRounds < target && !closing { cond.wait(.done) }
            }
        }
    }

    /// What a write-back or group-commit overlay says about `storageKey` (always `.none`
    /// in synchronous mode).
    func overlay(_ storageKey: [UInt8]) -> Overlay {
        if case .synchronous = durability { return .none }
        cond.lock()
        defer { cond.unlock() }
        if case .groupCommit = durability { return journaled[storageKey].map(Self.overlay) ?? .none }
        if let op = pending[storageKey] { return Self.overlay(op) }
        if pendingCleared { return .deleted }
        if let op = inFlight[storageKey] { return Self.overlay(op) }
        if inFlightCleared { return .deleted }
        return .none
    }

    private static func overlay(_ op: DiskStore.WriteOp) -> Overlay {
        if case .put(_, let record) = op { return .put(record) }
        return .deleted
    }

    /// Asks for queued maintenance (access stamps) to be written soon.
    func requestMaintenance() {
        switch durability {
        case .synchronous:
            // This runs on a reading thread (a hit filled the access batch): commit the
            // batch elsewhere, so that no read waits for a synced commit; one at a time.
            guard maintenanceInFlight.compareExchange(expected: false, desired: true,
                                                      ordering: .acquiringAndReleasing).exchanged else { return }
            DispatchQueue.global(qos: .utility).async { [self] in
                defer { maintenanceInFlight.store(false, ordering: .releasing) }
                do throws(CacheError) {
                    try store.apply([])
                } catch where error.code != .closed {  // closed meanwhile: close() recorded them
                    logger.warning("could not record access order on disk", metadata: ["error": "\(error)"])
                } catch {}
            }
        case .groupCommit, .writeBack:
            cond.withLock {
                maintenanceRequested = true
                wakeWriterThread()
            }
        }
    }

    /// Commits everything submitted so far (and queued maintenance), synced, before returning.
    func flush() throws(CacheError) {
        switch durability {
        case .synchronous:
            try store.apply([])
        case .groupCommit:
            // A round with maintenance requested applies the journal too.
            cond.withLock { maintenanceRequested = true }
            try submit(.noop)
        case .writeBack:
            cond.lock()
            let target = startedRounds + 1
            maintenanceRequested = true
            wakeWriterThread()
            while completedRounds < target && !threadExited { cond.wait(.done) }
            let error = lastFlushError
            cond.unlock()
            if let error { throw error }
        }
    }

    /// Test hook: waits, without asking for it, until a round that started after this call
    /// (so one that includes everything submitted before it) has committed.
    func waitForScheduledRound() {
        cond.lock()
        let target = startedRounds + 1
        while completedRounds < target && !threadExited { cond.wait(.done) }
        cond.unlock()
    }

    /// A released writer's error, if its round failed (each writer reads it once).
    private func readFailure(of round: UInt64) -> CacheError? {
        cond.lock()
        defer { cond.unlock() }
        guard let entry = roundFailures[round] else { return nil }
        if entry.unread <= 1 {
            roundFailures[round] = nil
            failedRounds.subtract(1, ordering: .releasing)
        } else {
            roundFailures[round] = (entry.error, entry.unread - 1)
        }
        return entry.error
    }

    deinit {
        completedWord.deinitialize(count: 1)
        completedWord.deallocate()
    }

    private func closedError() -> CacheError {
        CacheError(code: .closed, message: "the cache's disk tier is closed; create a new cache to write")
    }

    // MARK: Threads

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

    private func groupCommitLoop() {
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
            while queue.isEmpty && !maintenanceRequested && !closing {
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
            let toJournal = !maintenanceRequested && !closing && journals(ops)
            if !toJournal && !journaled.isEmpty {
                // Apply the journal first: older than the batch, and the journal empties with it.
                ops = Array(journaled.values) + ops
            }
            let clearing = !toJournal && !journaled.isEmpty
            if closing { appliedWhileClosing = true }
            maintenanceRequested = false
            startedRounds += 1
            cond.unlock()
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
            if let failure, writers > 0 {
                roundFailures[startedRounds] = (failure, writers)
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
            cond.lock()
        }
        threadExited = true
        cond.broadcast(.done)
        cond.unlock()
    }

    /// One write-back round, on the flusher thread every interval or when woken: commits
    /// the overlay in one synced transaction. False after the final round (closing).
    private func writeBackRound() -> Bool {
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
        var ops: [DiskStore.WriteOp] = []
        ops.reserveCapacity(inFlight.count + 1)
        if inFlightCleared { ops.append(.removeAll) }
        ops.append(contentsOf: inFlight.values)
        cond.unlock()
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

    /// Commits what is pending, stops the thread, and closes the store. Idempotent.
    func close() {
        cond.lock()
        closing = true
        wakeWriterThread()
        cond.broadcast(.done)  // writers waiting on back-pressure see `closing`
        while !threadExited { cond.wait(.done) }
        cond.unlock()
        runner.stop()
        store.close()
    }
}

extension ConditionLock.Condition {
    /// What the writer thread waits on: new writes, requests, closing.
    static let work = first
    /// What callers wait on: a round started or committed.
    static let done = ConditionLock.Condition(index: 1)
}

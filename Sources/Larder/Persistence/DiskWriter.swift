import CLarderCore
import CLarderSystem
import Logging
import Synchronization

/// Carries writes to a `DiskStore` under one of the durability modes.
///
/// - `.synchronous`: the caller commits its own transaction (LMDB serializes writers).
/// - `.groupCommit`: callers queue their write and wait; a committer thread drains the
///   whole queue into one transaction and one sync, then wakes everyone in that batch.
///   A batch of puts and deletes goes to the store's journal file (`DiskStore.journal`: one
///   appended frame and one flush per round) and stays readable in an overlay here; every
///   `journalLimit` writes (or when the file is full), on flush, before a
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
    let logger: Logger
    /// Write-back: queued entries beyond which writers wait for a flush (bounds memory).
    let maxPending: Int

    let cond = ConditionLock(conditions: 2)
    /// The committer (group commit) or the flusher (write-back) thread.
    let runner = PeriodicRunner()
    /// Synchronous and group commit: the thread that writes recorded accesses, off the
    /// reading threads (in group commit, beside the committer's journal appends, so that
    /// no writer waits for them).
    let maintainer = PeriodicRunner()
    // Everything below is guarded by `cond`.
    var closing = false
    var threadExited = false
    /// Write-back: the next round is due now.
    var maintenanceRequested = false
    /// Group commit: the next round applies the journal and everything pending, its
    /// writers included (flush).
    var applyRequested = false
    var startedRounds: UInt64 = 0
    var completedRounds: UInt64 = 0
    // Group commit.
    var queue: [DiskStore.WriteOp] = []
    /// `queue.count`, readable without `cond` (the committer's gathering polls it).
    let queuedWrites = Atomic<Int>(0)
    /// Rounds whose commit failed, with how many of their writers have yet to read it.
    var roundFailures: [UInt64: (error: CacheError, unread: Int)] = [:]
    /// Nonzero while `roundFailures` is not empty: released writers look only then.
    let failedRounds = Atomic<Int>(0)
    /// The low 32 bits of `completedRounds`, the futex word group-commit writers wait on:
    /// one wake releases a whole batch (`larder_round_publish`).
    let completedWord: UnsafeMutablePointer<UInt32> = {
        let word = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        word.initialize(to: 0)
        return word
    }()
    /// Writers the committer is gathering for (.max when it is not waiting for a batch).
    var gatherTarget = Int.max
    /// The committer waits for any write (the first one wakes it).
    var committerIdle = false
    var gatherWindow = DiskWriter.gatherWindowNanoseconds
    /// Async writers whose op is in `queue`, resumed (nil: committed; or the round's
    /// error) by the committer once their round is synced (DiskWriter+Async.swift).
    var asyncWaiters: [CheckedContinuation<CacheError?, Never>] = []
    /// Synchronous mode: whether the committer thread that async writers hand their
    /// writes to has been started (on the first async write).
    var asyncCommitterStarted = false
    /// Group commit: journaled writes not yet applied to the records, latest per key.
    var journaled: [[UInt8]: DiskStore.WriteOp] = [:]
    // Write-back.
    var pending: [[UInt8]: DiskStore.WriteOp] = [:]
    var pendingCleared = false
    var inFlight: [[UInt8]: DiskStore.WriteOp] = [:]
    var inFlightCleared = false
    var lastFlushError: CacheError?
    /// Test hook: run by the committer thread before each round's commit, with the
    /// number of writes in the round (0 for a round of maintenance only); lets a test
    /// hold a write in the middle of its sync while it checks who else runs.
    var beforeCommit: (@Sendable (_ writes: Int) -> Void)?
    /// Write-back: async writers held by back-pressure, resumed when the next round starts.
    var roundStartWaiters: [CheckedContinuation<CacheError?, Never>] = []

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
    func wakeWriterThread() {
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
            let round = enqueueForCommit(op)
            cond.unlock()
            larder_round_wait(completedWord, UInt32(truncatingIfNeeded: round))
            if failedRounds.load(ordering: .acquiring) > 0, let error = readFailure(of: round) { throw error }
        case .writeBack:
            cond.lock()
            defer { cond.unlock() }
            guard !closing else { throw closedError() }
            if let target = enqueueWriteBack(op) {
                // Back-pressure: wait for the flusher to take this batch.
                while startedRounds < target && !closing { cond.wait(.done) }
            }
        }
    }

    /// Group commit: queues `op` for the committer's next round, waking it when it is
    /// idle (this is the first write) or its batch is complete (writers in between need
    /// not wake it). Call with `cond` held.
    /// - Returns: the round that will commit `op` (the next to start takes the whole queue).
    func enqueueForCommit(_ op: DiskStore.WriteOp) -> UInt64 {
        queue.append(op)
        queuedWrites.store(queue.count, ordering: .relaxed)
        if (committerIdle && queue.count == 1) || queue.count >= gatherTarget { cond.signal(.work) }
        return startedRounds + 1
    }

    /// Write-back: puts `op` in the overlay; when the overlay is full, asks for a round
    /// and returns the round the writer must wait to see start (back-pressure). Call
    /// with `cond` held.
    func enqueueWriteBack(_ op: DiskStore.WriteOp) -> UInt64? {
        switch op {
        case .put(let key, _), .delete(let key):
            pending[key] = op
        case .removeAll:
            pending.removeAll(keepingCapacity: true)
            pendingCleared = true
        default:
            store.enqueue(op)
        }
        guard pending.count >= maxPending else { return nil }
        maintenanceRequested = true
        wakeWriterThread()
        return startedRounds + 1
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
        case .synchronous, .groupCommit:
            // This runs on a reading thread (a hit filled the access batch), and each access
            // rewrites its record: a batch of them is a long synced transaction. The
            // maintainer writes them, one batch at a time, so that no read waits for it; in
            // group commit no writer either (LMDB takes one write transaction at a time, but
            // the journal appends that acknowledge writers do not wait for it).
            guard cond.withLock({ !closing }) else { return }
            maintainer.start(interval: .seconds(3600), tickAtStart: true) { [weak self] in
                self?.writeRecordedAccesses() ?? false
            }
            maintainer.wake()
        case .writeBack:
            cond.withLock {
                maintenanceRequested = true
                wakeWriterThread()
            }
        }
    }

    /// One maintainer tick, writing the accesses recorded so far (leaving group commit's
    /// journal to the committer).
    private func writeRecordedAccesses() -> Bool {
        do throws(CacheError) {
            try store.apply([], keepingJournal: true)
        } catch where error.code == .closed {
            return false  // close() recorded them
        } catch {
            logger.warning("could not record access order on disk", metadata: ["error": "\(error)"])
        }
        return true
    }

    /// Commits everything submitted so far (and queued maintenance), synced, before returning.
    func flush() throws(CacheError) {
        switch durability {
        case .synchronous:
            try store.apply([])
        case .groupCommit:
            // The round that takes this no-op applies the journal too.
            cond.withLock { applyRequested = true }
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

    func closedError() -> CacheError {
        CacheError(code: .closed, message: "the cache's disk tier is closed; create a new cache to write")
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
        maintainer.stop()  // store.close() writes what it left
        store.close()
    }
}

extension ConditionLock.Condition {
    /// What the writer thread waits on: new writes, requests, closing.
    static let work = first
    /// What callers wait on: a round started or committed.
    static let done = ConditionLock.Condition(index: 1)
}

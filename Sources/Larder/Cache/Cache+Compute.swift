import CLarderCore
import CLarderSystem

/// Get-or-compute: one computation per key at a time.
extension Cache {
    /// What a caller that missed should do.
    enum FlightRole {
        /// The value appeared meanwhile.
        case found(Value)
        /// Another caller is computing: wait for its result.
        case wait(Flight<Value>)
        /// Compute, store (unless a removal ran meanwhile: the shard's fill
        /// snapshot, taken before computing), then publish to the waiters.
        case lead(Flight<Value>, fillSnapshot: UInt64)
        /// A synchronous caller asked for the key its own thread is computing.
        case recursive
    }

    /// The value for `key`, computing and storing it (with the default time to
    /// live) on a miss.
    ///
    /// `compute` runs outside every lock. Concurrent callers for the same key
    /// share one computation: the first computes, the others wait for its
    /// result. An error thrown by `compute` reaches every waiter and nothing
    /// is cached. `compute` may itself read other keys of this cache (a
    /// memoized recursion), but must not ask for `key` itself: on the same
    /// thread that call throws ``CacheError/Code/recursiveComputation`` (a
    /// wait for itself would never end); another thread asking for `key`
    /// waits for the result like any caller.
    ///
    /// A computed value that cannot be stored (heavier than the byte budget)
    /// is still returned, and the error is logged at `warning`. It is returned
    /// but not stored when a value was set for `key` while computing (the set
    /// is newer and stays), or when a ``removeValue(forKey:)`` or
    /// ``removeAll()`` of this key's shard ran meanwhile (an invalidation must
    /// not be undone by a computation that started before it).
    ///
    /// A waiting caller blocks its thread, and so does the computing caller
    /// while a `.synchronous` or `.groupCommit` durable tier syncs the value.
    /// From async code use the `async` flavour: blocking the concurrency
    /// pool's few threads while an async computation for the same key needs
    /// one of them can deadlock, and a sync stalls every task on that thread.
    @inlinable
    public func value(forKey key: Key, orCompute compute: () throws -> Value) throws -> Value {
        if let hit = try fetchValue(forKey: key) { return hit }
        return try computeOnMiss(forKey: key, deadlineFrom: nil, orCompute: compute)
    }

    /// The value for `key`, computing and storing it with time to live `ttl`
    /// (`nil`: never expires) on a miss; see ``value(forKey:orCompute:)-94tck``.
    ///
    /// - Throws: ``CacheError`` for an invalid `ttl` (before computing), or
    ///   what `compute` throws.
    @inlinable
    public func value(forKey key: Key, ttl: Duration?, orCompute compute: () throws -> Value) throws -> Value {
        _ = try deadline(forTTL: ttl)  // validates before computing
        if let hit = try fetchValue(forKey: key) { return hit }
        return try computeOnMiss(forKey: key, deadlineFrom: .some(ttl), orCompute: compute)
    }

    /// The value for `key`, computing it asynchronously and storing it (with
    /// the default time to live) on a miss; see ``value(forKey:orCompute:)``.
    ///
    /// Waiting callers suspend rather than block, and so does the computing
    /// caller while a durable tier syncs the value (the tier's committer
    /// thread resumes it). A waiting task that is
    /// cancelled stops waiting and throws `CancellationError`; the computation
    /// goes on for the caller running it (whose task's cancellation is
    /// `compute`'s to observe) and for the other waiters, and is cached. When
    /// the computing caller's task is cancelled and its computation fails, the
    /// waiting callers compute again rather than receive that failure.
    @inlinable
    public func value(forKey key: Key,
                      orCompute compute: @Sendable () async throws -> Value) async throws -> Value {
        if let hit = try await fetchValue(forKey: key) { return hit }
        return try await computeOnMiss(forKey: key, deadlineFrom: nil, orCompute: compute)
    }

    /// The value for `key`, computing it asynchronously and storing it with
    /// time to live `ttl` on a miss; see ``value(forKey:ttl:orCompute:)``.
    @inlinable
    public func value(forKey key: Key, ttl: Duration?,
                      orCompute compute: @Sendable () async throws -> Value) async throws -> Value {
        _ = try deadline(forTTL: ttl)
        if let hit = try await fetchValue(forKey: key) { return hit }
        return try await computeOnMiss(forKey: key, deadlineFrom: .some(ttl), orCompute: compute)
    }

    // `ttl == nil`: the default time to live; `.some(nil)`: never expires.
    @usableFromInline
    func computeOnMiss(forKey key: Key, deadlineFrom ttl: Duration??,
                       orCompute compute: () throws -> Value) throws -> Value {
        let hash = Self.hash(key)
        let shard = shards[shardIndex(hash)]
        while true {
            switch role(forKey: key, hash: hash, shard: shard, synchronous: true) {
            case .found(let value):
                return value
            case .recursive:
                throw CacheError(code: .recursiveComputation, message:
                    "value(forKey:orCompute:) asked for key \(key) inside the computation of that same key, "
                    + "on the same thread: it would wait for itself forever. Compute the inner value without "
                    + "the cache, or change the recursion so that no key depends on itself.")
            case .wait(let flight):
                do { return try flight.wait() } catch is FlightAbandoned { continue }  // compute it ourselves
            case .lead(let flight, let snapshot):
                let outcome: Result<Value, any Error>
                var measured: Int? = nil
                do {
                    // The bytes allocated while computing are the value's best weight.
                    let (value, allocated) = try EntryWeigher.measuring(compute)
                    outcome = .success(value)
                    measured = allocated
                } catch {
                    outcome = .failure(error)
                }
                land(flight, outcome: outcome, key: key, shard: shard, ttl: ttl, fillSnapshot: snapshot,
                     measuredHeapBytes: measured)
                return try outcome.get()
            }
        }
    }

    @usableFromInline
    func computeOnMiss(forKey key: Key, deadlineFrom ttl: Duration??, leavingOnCancel: Bool = true,
                       orCompute compute: @Sendable () async throws -> Value) async throws -> Value {
        let hash = Self.hash(key)
        let shard = shards[shardIndex(hash)]
        while true {
            switch role(forKey: key, hash: hash, shard: shard, synchronous: false) {
            case .found(let value):
                return value
            case .recursive:
                preconditionFailure("an async caller is never told it computes its own key")
            case .wait(let flight):
                do {
                    return try await flight.wait(leavingOnCancel: leavingOnCancel)
                } catch is FlightAbandoned {
                    continue  // the leader was cancelled: compute (or wait) again
                }
            case .lead(let flight, let snapshot):
                let outcome: Result<Value, any Error>
                do { outcome = .success(try await compute()) } catch { outcome = .failure(error) }
                // A computation that failed once its caller's task was cancelled
                // most likely failed because of that, which says nothing about the
                // key: the waiters, whose tasks were not cancelled, compute again
                // rather than fail with the leader's cancellation.
                let abandoned = Task.isCancelled && (try? outcome.get()) == nil
                if case .success(let value) = outcome {
                    // Suspends, never blocks, while a durable tier syncs the write.
                    do {
                        let deadline = try storeDeadline(ttl)
                        try await storeComputedAsync(value, forKey: key, shard: shard, deadline: deadline,
                                                     fillSnapshot: snapshot)
                    } catch {
                        logger?.warning("Larder: computed value not cached: \(error)")
                    }
                }
                endFlight(flight, outcome: outcome, key: key, shard: shard, abandoned: abandoned)
                return try outcome.get()
            }
        }
    }

    /// Joins the key's flight, or starts one. The value is looked for again
    /// under the flight mutex: a leader stores its value before it removes
    /// its flight, so a caller sees one or the other and never computes twice
    /// for one miss.
    private func role(forKey key: Key, hash: UInt64, shard: CacheShard<Key, Value>,
                      synchronous: Bool) -> FlightRole {
        // A key that is not equal to itself (a NaN) can never be found again, so
        // its flight could never be ended: compute without registering one.
        guard key == key else { return .lead(Flight<Value>(), fillSnapshot: shard.fillSnapshot()) }
        // A synchronous leader computes on its own thread: that thread asking for
        // the same key again is inside the computation (a shared token is never matched).
        let thread = synchronous ? larder_thread_token() : 0
        let ownThread = thread != 0 && thread != LARDER_THREAD_TOKEN_SHARED ? thread : 0
        return shard.flights.withLock { flights in
            if let flight = flights[key] {
                if ownThread != 0 && flight.leaderThread == ownThread { return .recursive }
                return .wait(flight)
            }
            // Before the look: a removal after it must keep the computed value out.
            let snapshot = shard.fillSnapshot()
            if let value = peek(key, hash: hash, shard: shard) { return .found(value) }
            let flight = Flight<Value>(leaderThread: ownThread)
            flights[key] = flight
            return .lead(flight, fillSnapshot: snapshot)
        }
    }

    /// The live value for `key` without touching recency or statistics.
    private func peek(_ key: Key, hash: UInt64, shard: CacheShard<Key, Value>) -> Value? {
        if hasShared { dropSharedEntriesIfStale(shard) }
        shard.mutex.lock()
        defer { shard.mutex.unlock() }
        let slot = shard.find(key, hash: hash)
        guard slot != larderNil, !shard.isExpired(slot) else { return nil }
        return shard.entries[Int(slot)].value
    }

    /// Stores a computed value (the deadline counts from now; the weight uses
    /// the heap bytes measured while computing, when known), ends the flight,
    /// and hands the outcome to its waiters.
    private func land(_ flight: Flight<Value>, outcome: Result<Value, any Error>, key: Key,
                      shard: CacheShard<Key, Value>, ttl: Duration??, fillSnapshot: UInt64,
                      measuredHeapBytes: Int?) {
        if case .success(let value) = outcome, computedMayStore(key, shard: shard, fillSnapshot: fillSnapshot) {
            do {
                let deadline = try storeDeadline(ttl)
                let weight = measuredHeapBytes.map {
                    UInt64(MemoryLayout<Key>.stride + MemoryLayout<Value>.stride) &+ slotOverhead &+ UInt64(max(0, $0))
                }
                let stored = try store(value, forKey: key, deadline: deadline, weight: weight, mode: .ifAbsent,
                                       fillSnapshot: fillSnapshot)
                settleComputed(stored, forKey: key)
            } catch {
                logger?.warning("Larder: computed value not cached: \(error)")
            }
        }
        endFlight(flight, outcome: outcome, key: key, shard: shard, abandoned: false)
    }

    /// Ends a computation's flight and hands its outcome to the waiters (who
    /// compute again when it was `abandoned`).
    private func endFlight(_ flight: Flight<Value>, outcome: Result<Value, any Error>, key: Key,
                           shard: CacheShard<Key, Value>, abandoned: Bool) {
        shard.flights.withLock { $0[key] = nil }
        flight.complete(abandoned ? .failure(FlightAbandoned()) : outcome)
    }

    /// The deadline of a computed value: `ttl == nil` is the default time to live.
    private func storeDeadline(_ ttl: Duration??) throws(CacheError) -> UInt64 {
        if let ttl { return try deadline(forTTL: ttl) }
        return defaultDeadline()
    }
}

extension Cache {
    /// The async store of a computed value, as in `land`: the tier's write suspends.
    private func storeComputedAsync(_ value: Value, forKey key: Key, shard: CacheShard<Key, Value>,
                                    deadline: UInt64, fillSnapshot: UInt64) async throws(CacheError) {
        guard computedMayStore(key, shard: shard, fillSnapshot: fillSnapshot) else { return }
        let stored = try await storeAsync(value, forKey: key, deadline: deadline, weight: nil, mode: .ifAbsent,
                                          fillSnapshot: fillSnapshot)
        settleComputed(stored, forKey: key)
    }

    /// A computed value is stored unless a set or a removal touched its key while
    /// it was computed: `.ifAbsent` keeps a value set meanwhile (it is newer), and
    /// the snapshot keeps out a value a removal invalidated. With a tier the same
    /// must hold there: nothing is written when either ran.
    private func computedMayStore(_ key: Key, shard: CacheShard<Key, Value>, fillSnapshot: UInt64) -> Bool {
        !readsThrough || (shard.fillSnapshot() == fillSnapshot && !contains(key))
    }

    /// After a computed value's store: when a set or a removal ran while the tier
    /// was written, which write the tier kept is unknown, so the key leaves both
    /// tiers (forgetting is always safe for a cache; serving the older value after
    /// either is not). A read that found the computed value on disk meanwhile did
    /// not put it in memory (see `promote`), so `.existing` means a set.
    private func settleComputed(_ outcome: StoreOutcome, forKey key: Key) {
        guard hasTier else { return }
        switch outcome {
        case .existing, .superseded:
            _ = removeValue(forKey: key)
        default:
            break
        }
    }
}

/// What the waiters of an abandoned computation (its leader's task was
/// cancelled and it failed) get: they compute again. Never leaves the cache.
struct FlightAbandoned: Error {
}

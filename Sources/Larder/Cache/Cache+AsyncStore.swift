/// The write path for async callers: a durable tier's write suspends the caller
/// instead of blocking a thread of the cooperative pool.
extension Cache {
    /// Stores `value` for `key` with the default time to live, as
    /// ``setValue(_:forKey:)-4fjdq`` does, suspending rather than blocking while a
    /// durable tier makes the write durable.
    ///
    /// With a `.synchronous` or `.groupCommit` tier the synchronous flavour
    /// blocks its thread for a disk sync; in async code that thread is one of
    /// the cooperative pool's few, and every task queued on it waits too. This
    /// flavour hands the write to the tier's committer thread and suspends until
    /// it is synced (or failed). Without a tier, or with `.writeBack`, it does
    /// what the synchronous flavour does.
    /// - Throws: as ``setValue(_:forKey:)-4fjdq``.
    public func setValue(_ value: Value, forKey key: Key) async throws(CacheError) {
        try await storeAsync(value, forKey: key, deadline: defaultDeadline(), weight: nil)
    }

    /// Stores `value` for `key` with time to live `ttl`, as
    /// ``setValue(_:forKey:ttl:)-3g88o`` does, suspending rather than blocking while a
    /// durable tier makes the write durable; see the flavour without `ttl`.
    public func setValue(_ value: Value, forKey key: Key, ttl: Duration?) async throws(CacheError) {
        try await storeAsync(value, forKey: key, deadline: deadline(forTTL: ttl), weight: nil)
    }

    /// Stores `value` for `key` with time to live `ttl` and an explicit weight,
    /// as ``setValue(_:forKey:ttl:cost:)-6r6pm`` does, suspending rather than blocking
    /// while a durable tier makes the write durable.
    public func setValue(_ value: Value, forKey key: Key, ttl: Duration?, cost: Int) async throws(CacheError) {
        guard cost >= 0 else {
            throw .invalidConfiguration("cost is \(cost); it must be >= 0 (an entry's weight in bytes).")
        }
        try await storeAsync(value, forKey: key, deadline: deadline(forTTL: ttl), weight: UInt64(cost))
    }

    /// ``store(_:forKey:deadline:weight:mode:writeThrough:fillSnapshot:)`` for async
    /// callers: the lower tier's write suspends the caller until it is durable instead
    /// of blocking its thread.
    @discardableResult
    func storeAsync(_ value: Value, forKey key: Key, deadline: UInt64, weight explicitWeight: UInt64?,
                    mode: StoreMode = .overwrite,
                    fillSnapshot: UInt64? = nil) async throws(CacheError) -> StoreOutcome {
        let write = try prepareStore(value, forKey: key, weight: explicitWeight, writeThrough: true,
                                     fillSnapshot: fillSnapshot)
        if write.toTier, let tier {
            try await tier.storeAsync(value, forKey: key, deadline: deadline == larderNoDeadline ? nil : deadline)
        }
        if write.toShared {
            return try await storeSharedAsync(value, forKey: key, deadline: deadline, mode: mode, write)
        }
        return try finishStore(value, forKey: key, deadline: deadline, mode: mode, write)
    }
}

/// A batch of fills as plain arrays (a value and a `PTTL` reply per key, all of the usual kind),
/// handed to the cache's own code to decode and install.
///
/// The tier is generic over the cache's key and value types and runs unspecialized: there, each
/// value decoded, each result built and each install called per key costs runtime metadata
/// lookups. Built in inlinable code instead, ``Install`` runs specialized for the caller's types,
/// so the per-key work of a fill is plain code; the tier keeps the rare cases (an error reply, an
/// unexpected type, a value that does not decode) and their messages.
@usableFromInline
struct SharedFills: Sendable {
    /// Every value's bytes, in key order.
    @usableFromInline let bytes: [UInt8]
    /// Per key: where its value starts in `bytes`, or -1 when the key is missing.
    @usableFromInline let starts: [Int]
    /// Per key: its value's length.
    @usableFromInline let lengths: [Int]
    /// Per key: its `PTTL` in milliseconds (-1: none, -2: missing, 0: expiring now).
    @usableFromInline let ttls: [Int64]

    init(bytes: [UInt8], starts: [Int], lengths: [Int], ttls: [Int64]) {
        self.bytes = bytes
        self.starts = starts
        self.lengths = lengths
        self.ttls = ttls
    }

    /// Decodes key `n`'s value of `fills` for `keys[positions[n]]` into `results[positions[n]]`
    /// (`keys.count` results; positions not in `positions` stay `.success(nil)`), and installs
    /// each found value (with `snapshots[positions[n]]`) unless it expires within the millisecond.
    /// A value that does not decode fails with `damaged(key, error)`; `hits` counts the values.
    /// Returns nil when the cache is gone (the tier then completes the batch itself).
    @usableFromInline
    typealias Install<Key, Value> = @Sendable (
        _ keys: [Key], _ positions: [Int], _ snapshots: [UInt64], _ fills: SharedFills,
        _ damaged: (Key, any Error) -> CacheError, _ hits: inout Int
    ) -> [Result<Value?, CacheError>]?
}

extension Cache where Key: ByteCodable, Value: ByteCodable {
    /// ``sharedTierSink()`` with ``SharedTierSink/fill``: batches of fills decoded and installed here.
    @inlinable
    func fillingSharedTierSink() -> SharedTierSink<Key, Value> {
        var sink = sharedTierSink()
        sink.fill = { [weak self] keys, positions, snapshots, fills, damaged, hits in
            self?.installSharedFills(keys, positions, snapshots, fills, damaged, &hits)
        }
        return sink
    }

    /// ``SharedFills/Install`` for this cache: decodes each value and installs it as a fill.
    @inlinable
    func installSharedFills(_ keys: [Key], _ positions: [Int], _ snapshots: [UInt64], _ fills: SharedFills,
                            _ damaged: (Key, any Error) -> CacheError, _ hits: inout Int) -> [Result<Value?, CacheError>] {
        var results = [Result<Value?, CacheError>](repeating: .success(nil), count: keys.count)
        // One clock read for the batch: taken before any value is installed, so each deadline
        // is, if anything, early (the local copy never outlives the server's).
        var now: UInt64? = nil
        fills.bytes.withUnsafeBytes { raw in
            for n in positions.indices {
                let start = fills.starts[n], ttl = fills.ttls[n]
                // Missing (or not a string: the tier asks again), or deleted between the MGET and
                // the PTTL (its invalidation is on its way).
                guard start >= 0, ttl != -2 else { continue }
                let position = positions[n]
                let value: Value
                do {
                    value = try Value(bytes: UnsafeRawBufferPointer(rebasing: raw[start..<start + fills.lengths[n]]))
                } catch {
                    results[position] = .failure(damaged(keys[position], error))
                    continue
                }
                hits += 1
                results[position] = .success(value)
                if ttl == 0 { continue }  // expires within the millisecond: returned, not kept
                var deadline: UInt64? = nil
                if ttl > 0 {
                    if now == nil { now = clock.monotonicNanoseconds() }
                    deadline = now! &+ UInt64(ttl) &* 1_000_000
                }
                installShared(keys[position], value, deadline: deadline, weight: nil, snapshot: snapshots[position])
            }
        }
        return results
    }
}

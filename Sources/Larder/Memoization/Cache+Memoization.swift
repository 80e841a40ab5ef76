// The get-or-compute call shared by every memoizing wrapper, with the sorting of
// errors they all need.

extension Cache {
    /// Runs the get-or-compute and sorts what it throws: the function's own errors go
    /// back typed, the cache's errors (an invalid explicit TTL) as ``CacheError``.
    func memoizedValue<Failure: Error>(
        forKey key: Key, ttl: TTLChoice, _ compute: () throws(Failure) -> Value
    ) throws(MemoizationFailure<Failure>) -> Value {
        func markingErrors() throws -> Value {
            do {
                return try compute()
            } catch {
                // Marked, so that callers waiting for this computation know the error as the
                // function's, not the cache's, even when `Failure` is `any Error`.
                throw FunctionError(error)
            }
        }
        do {
            switch ttl {
            case .default: return try value(forKey: key, orCompute: markingErrors)
            case .explicit(let ttl): return try value(forKey: key, ttl: ttl, orCompute: markingErrors)
            }
        } catch let error as FunctionError<Failure> {
            throw .function(error.error)
        } catch {
            if let cancelled = error as? CancellationError, let cancelled = cancelled as? Failure {
                throw .function(cancelled)
            }
            if case .explicit = ttl, let error = error as? CacheError { throw .cache(error) }
            // The cache stores what it can and returns a computed value it cannot keep, so this
            // is a failure before computing that a default-TTL call cannot report (a closed
            // cache, say): still answer the call, uncached.
            do {
                return try compute()
            } catch {
                throw .function(error)
            }
        }
    }

    /// The async counterpart of ``memoizedValue(forKey:ttl:_:)``.
    func memoizedValue<Failure: Error>(
        forKey key: Key, ttl: TTLChoice, _ compute: @Sendable () async throws(Failure) -> Value
    ) async throws(MemoizationFailure<Failure>) -> Value {
        @Sendable func markingErrors() async throws -> Value {
            do {
                return try await compute()
            } catch {
                throw FunctionError(error)
            }
        }
        // A cancelled waiter leaves only when the function's error type can say
        // so; otherwise it waits for the shared result, as the types promise.
        let leavesOnCancel = CancellationError() is Failure
        do {
            // As value(forKey:ttl:orCompute:): the TTL is validated before the hit check.
            if case .explicit(let ttl) = ttl { _ = try deadline(forTTL: ttl) }
            if let hit = value(forKey: key) { return hit }
            switch ttl {
            case .default:
                return try await computeOnMiss(forKey: key, deadlineFrom: nil, leavingOnCancel: leavesOnCancel,
                                               orCompute: markingErrors)
            case .explicit(let ttl):
                return try await computeOnMiss(forKey: key, deadlineFrom: .some(ttl), leavingOnCancel: leavesOnCancel,
                                               orCompute: markingErrors)
            }
        } catch let error as FunctionError<Failure> {
            throw .function(error.error)
        } catch {
            if let cancelled = error as? CancellationError, let cancelled = cancelled as? Failure {
                throw .function(cancelled)
            }
            if case .explicit = ttl, let error = error as? CacheError { throw .cache(error) }
            do {
                return try await compute()
            } catch {
                throw .function(error)
            }
        }
    }
}

/// Whether a call uses the cache's default time to live or its own.
enum TTLChoice {
    case `default`
    case explicit(Duration?)
}

/// What a memoized call can fail with: its function's error, or (with an
/// explicit TTL) the cache rejecting the TTL.
enum MemoizationFailure<Failure: Error>: Error {
    case function(Failure)
    case cache(CacheError)
}

/// Marks an error thrown by the memoized function as it passes through the cache.
struct FunctionError<Failure: Error>: Error {
    let error: Failure
    init(_ error: Failure) { self.error = error }
}

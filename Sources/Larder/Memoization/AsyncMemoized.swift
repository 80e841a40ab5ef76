import Logging

/// An async function whose results are kept in a ``Cache``, keyed by its arguments.
///
/// The async counterpart of ``Memoized``, with the same keys, limits, time to
/// live and statistics:
///
/// ```swift
/// let profile = try AsyncMemoized(maxCount: 10_000, defaultTTL: .seconds(60)) { (id: UserID) in
///     try await api.fetchProfile(id)
/// }
/// let p = try await profile(id)
/// ```
///
/// Concurrent first calls with equal arguments run the function once; the
/// other callers suspend (they do not block a thread) until its result
/// arrives. Cancelling a waiting task does not cancel the shared computation;
/// the cancelled task stops waiting (throwing `CancellationError`) when the
/// function's error type can carry it (`any Error`), and otherwise waits for
/// the result.
/// A thrown error is not cached.
public final class AsyncMemoized<each Argument: Hashable & Sendable, Result: Sendable, Failure: Error>: Sendable {
    /// The cache holding the results, for statistics, sweeping and invalidation.
    public let cache: Cache<MemoizationKey<repeat each Argument>, Result>
    private let body: @Sendable (AsyncMemoized, repeat each Argument) async throws(Failure) -> Result

    private init(
        cache: Cache<MemoizationKey<repeat each Argument>, Result>,
        body: @escaping @Sendable (AsyncMemoized, repeat each Argument) async throws(Failure) -> Result
    ) {
        self.cache = cache
        self.body = body
    }

    /// Memoizes `function` in a new cache.
    ///
    /// - Throws: ``CacheError`` when the configuration is invalid; the message names the field.
    public convenience init(
        configuration: CacheConfiguration,
        clock: any CacheClock = SystemCacheClock(),
        logger: Logger? = nil,
        _ function: @escaping @Sendable (repeat each Argument) async throws(Failure) -> Result
    ) throws(CacheError) {
        let cache = try Cache<MemoizationKey<repeat each Argument>, Result>(
            configuration: configuration, clock: clock, logger: logger)
        self.init(cache: cache) { (_, argument: repeat each Argument) async throws(Failure) -> Result in
            try await function(repeat each argument)
        }
    }

    /// Memoizes `function` in a new cache of at most `maxCount` results.
    ///
    /// - Throws: ``CacheError`` when a limit is out of range; the message names it.
    public convenience init(
        maxCount: Int,
        maxBytes: Int? = nil,
        defaultTTL: Duration? = nil,
        _ function: @escaping @Sendable (repeat each Argument) async throws(Failure) -> Result
    ) throws(CacheError) {
        try self.init(
            configuration: CacheConfiguration(maxCount: maxCount, maxBytes: maxBytes, defaultTTL: defaultTTL),
            function)
    }

    /// Memoizes an async function that calls itself through the memo; see
    /// ``Memoized/recursive(configuration:clock:logger:_:)``.
    ///
    /// - Throws: ``CacheError`` when the configuration is invalid.
    public static func recursive(
        configuration: CacheConfiguration,
        clock: any CacheClock = SystemCacheClock(),
        logger: Logger? = nil,
        _ function: @escaping @Sendable (AsyncMemoized, repeat each Argument) async throws(Failure) -> Result
    ) throws(CacheError) -> AsyncMemoized {
        let cache = try Cache<MemoizationKey<repeat each Argument>, Result>(
            configuration: configuration, clock: clock, logger: logger)
        return AsyncMemoized(cache: cache, body: function)
    }

    /// The result for these arguments: cached, or computed and cached with the
    /// cache's default time to live.
    public func callAsFunction(_ argument: repeat each Argument) async throws(Failure) -> Result {
        do {
            return try await cache.memoizedValue(forKey: MemoizationKey(repeat each argument), ttl: .default) {
                () async throws(Failure) -> Result in
                try await body(self, repeat each argument)
            }
        } catch {
            switch error {
            case .function(let error): throw error
            // `run` reports cache errors only for an explicit TTL.
            case .cache(let error): fatalError("AsyncMemoized: unexpected \(error)")
            }
        }
    }

    /// The result for these arguments: cached, or computed and cached for `ttl`
    /// (`nil`: never expires).
    ///
    /// - Throws: the function's error, or ``CacheError`` when `ttl` is not
    ///   positive or the cache does not support expiry.
    public func callAsFunction(_ argument: repeat each Argument, ttl: Duration?) async throws -> Result {
        do {
            return try await cache.memoizedValue(forKey: MemoizationKey(repeat each argument), ttl: .explicit(ttl)) {
                () async throws(Failure) -> Result in
                try await body(self, repeat each argument)
            }
        } catch {
            switch error {
            case .function(let error): throw error
            case .cache(let error): throw error
            }
        }
    }

    /// The cached result for these arguments, without computing it; a hit marks
    /// it most recent.
    public func cachedResult(_ argument: repeat each Argument) -> Result? {
        cache.value(forKey: MemoizationKey(repeat each argument))
    }

    /// Forgets the cached result for these arguments, so the next call computes it.
    public func forget(_ argument: repeat each Argument) {
        cache.removeValue(forKey: MemoizationKey(repeat each argument))
    }

    /// Forgets every cached result.
    public func forgetAll() {
        cache.removeAll()
    }

    /// The cache's counters: a hit is a call answered from the cache.
    public var statistics: CacheStatistics { cache.statistics }
}

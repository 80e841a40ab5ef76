import Logging

/// A function whose results are kept in a ``Cache``, keyed by its arguments.
///
/// Wraps a function of any number of `Hashable` arguments (a parameter pack,
/// not a fixed set of arities):
///
/// ```swift
/// let score = try Memoized(maxCount: 1_000) { (a: Int, b: String, c: [Double]) in
///     expensiveScore(a, b, c)
/// }
/// score(1, "x", [2.0])     // computes
/// score(1, "x", [2.0])     // a cache hit
/// ```
///
/// - Each call is keyed by a ``MemoizationKey`` of its arguments, which
///   compares them with their own `==` (top-level `Double` and `Float`
///   arguments by bit pattern, `String`s by their UTF-8 bytes: a function can
///   tell `-0.0` from `0.0` and "é" from "e\u{301}"): arguments never collide by
///   stringifying alike. For `*args`/`**kwargs`-style dynamic argument lists,
///   memoize a function of one ``CallKey``.
/// - The cache is an ordinary ``Cache``: size and byte limits, default TTL,
///   eviction and ``statistics`` come from it, and
///   ``callAsFunction(_:ttl:)`` sets a time to live per call.
/// - Concurrent first calls with equal arguments run the function once; the
///   others wait for its result (the cache's get-or-compute).
/// - A thrown error is not cached: it reaches the caller (and any caller
///   waiting for the same computation) and the next call runs the function again.
/// - A non-throwing function gives a non-throwing memoized call (`Failure` is
///   `Never`); a throwing one rethrows its own errors with their type.
/// - Use ``recursive(configuration:clock:logger:_:)`` for a function that calls
///   itself through the memo (Fibonacci-style). A call that needs its own
///   result, directly or through other calls with the same arguments, waits for
///   itself forever, as unmemoized it would recurse forever.
///
/// If the cache cannot keep a result (for example, it weighs more than the
/// whole byte budget), the call still returns it; it is just not memoized
/// (the cache logs a warning).
public final class Memoized<each Argument: Hashable & Sendable, Result: Sendable, Failure: Error>: Sendable {
    /// The cache holding the results, for statistics, sweeping and invalidation.
    public let cache: Cache<MemoizationKey<repeat each Argument>, Result>
    private let body: @Sendable (Memoized, repeat each Argument) throws(Failure) -> Result

    private init(
        cache: Cache<MemoizationKey<repeat each Argument>, Result>,
        body: @escaping @Sendable (Memoized, repeat each Argument) throws(Failure) -> Result
    ) {
        self.cache = cache
        self.body = body
    }

    /// Memoizes `function` in a new cache.
    ///
    /// - Parameters:
    ///   - configuration: the cache's limits and default time to live.
    ///   - clock: the cache's time source (inject a ``ManualCacheClock`` in tests).
    ///   - logger: where the cache logs evictions and expiries.
    ///   - function: the function to memoize; it runs outside every lock.
    /// - Throws: ``CacheError`` when the configuration is invalid; the message names the field.
    public convenience init(
        configuration: CacheConfiguration,
        clock: any CacheClock = SystemCacheClock(),
        logger: Logger? = nil,
        _ function: @escaping @Sendable (repeat each Argument) throws(Failure) -> Result
    ) throws(CacheError) {
        let cache = try Cache<MemoizationKey<repeat each Argument>, Result>(
            configuration: configuration, clock: clock, logger: logger)
        self.init(cache: cache) { (_, argument: repeat each Argument) throws(Failure) -> Result in
            try function(repeat each argument)
        }
    }

    /// Memoizes `function` in a new cache of at most `maxCount` results.
    ///
    /// - Throws: ``CacheError`` when a limit is out of range; the message names it.
    public convenience init(
        maxCount: Int,
        maxBytes: Int? = nil,
        defaultTTL: Duration? = nil,
        _ function: @escaping @Sendable (repeat each Argument) throws(Failure) -> Result
    ) throws(CacheError) {
        try self.init(
            configuration: CacheConfiguration(maxCount: maxCount, maxBytes: maxBytes, defaultTTL: defaultTTL),
            function)
    }

    /// Memoizes a function that calls itself through the memo.
    ///
    /// `function` receives the memoized function as its first argument, so
    /// inner calls hit the cache:
    ///
    /// ```swift
    /// let fibonacci = try Memoized<Int, Int, Never>.recursive(
    ///     configuration: .init(maxCount: 1_000)
    /// ) { fibonacci, n in
    ///     n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2)
    /// }
    /// fibonacci(90)   // 91 computations
    /// ```
    ///
    /// Inner calls for other arguments are computed outside every lock, so
    /// they do not deadlock. With a bounded cache, an inner result may be
    /// evicted before it is used again: give the cache room for the recursion.
    ///
    /// - Throws: ``CacheError`` when the configuration is invalid.
    public static func recursive(
        configuration: CacheConfiguration,
        clock: any CacheClock = SystemCacheClock(),
        logger: Logger? = nil,
        _ function: @escaping @Sendable (Memoized, repeat each Argument) throws(Failure) -> Result
    ) throws(CacheError) -> Memoized {
        let cache = try Cache<MemoizationKey<repeat each Argument>, Result>(
            configuration: configuration, clock: clock, logger: logger)
        return Memoized(cache: cache, body: function)
    }

    /// The result for these arguments: cached, or computed and cached with the
    /// cache's default time to live.
    public func callAsFunction(_ argument: repeat each Argument) throws(Failure) -> Result {
        do {
            return try cache.memoizedValue(forKey: MemoizationKey(repeat each argument), ttl: .default) { () throws(Failure) -> Result in
                try body(self, repeat each argument)
            }
        } catch {
            switch error {
            case .function(let error): throw error
            // `run` reports cache errors only for an explicit TTL.
            case .cache(let error): fatalError("Memoized: unexpected \(error)")
            }
        }
    }

    /// The result for these arguments: cached, or computed and cached for `ttl`
    /// (`nil`: never expires).
    ///
    /// - Throws: the function's error, or ``CacheError`` when `ttl` is not
    ///   positive or the cache does not support expiry.
    public func callAsFunction(_ argument: repeat each Argument, ttl: Duration?) throws -> Result {
        do {
            return try cache.memoizedValue(forKey: MemoizationKey(repeat each argument), ttl: .explicit(ttl)) {
                () throws(Failure) -> Result in
                try body(self, repeat each argument)
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

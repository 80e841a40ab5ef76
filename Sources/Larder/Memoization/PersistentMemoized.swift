import Logging

/// The key of one call to a ``PersistentMemoized`` function: the function's
/// identity and the call's arguments.
///
/// Its stable byte form (format byte, length-prefixed UTF-8 identity, then
/// the arguments' ``CallKey`` bytes) is what the durable tier stores, so
/// results found after a restart belong to the same function and arguments,
/// and two functions never share entries.
public struct PersistentMemoizationKey: Hashable, Sendable, CustomStringConvertible {
    /// The caller-supplied identity of the memoized function.
    public let function: String
    /// The call's arguments.
    public let arguments: CallKey

    /// Creates the key of a call of `function` with `arguments`.
    public init(function: String, arguments: CallKey) {
        self.function = function
        self.arguments = arguments
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        // Bytes, not String ==, as everywhere in call keys.
        lhs.function.utf8.elementsEqual(rhs.function.utf8) && lhs.arguments == rhs.arguments
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(function)
        hasher.combine(arguments)
    }

    public var description: String { "\(function)\(arguments)" }
}

extension PersistentMemoizationKey: ByteCodable {
    static let formatVersion: UInt8 = 1

    public func appendBytes(to bytes: inout [UInt8]) {
        bytes.append(Self.formatVersion)
        CallKeyByteWriter.appendString(function, to: &bytes)
        arguments.appendBytes(to: &bytes)
    }

    /// Decodes a key from exactly the bytes ``appendBytes(to:)`` produced.
    ///
    /// - Throws: ``CacheError`` with code `.storeDamaged` when they are not a canonical encoding.
    public init(bytes: UnsafeRawBufferPointer) throws {
        var reader = CallKeyByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.formatVersion else {
            throw reader.damaged("unknown memoization key version \(version)")
        }
        let function = try reader.readString().string
        let rest = UnsafeRawBufferPointer(rebasing: bytes[reader.offset...])
        self.init(function: function, arguments: try CallKey(decoding: rest))
    }
}

/// A function whose results are kept in a ``Cache`` with a durable (LMDB) tier,
/// so they survive restarts.
///
/// ```swift
/// let render = try PersistentMemoized(
///     function: "render-thumbnail.v2",
///     configuration: .init(maxCount: 1_000),
///     persistence: .lmdb(directory: "/var/cache/app/thumbnails", maxBytes: 1 << 30)
/// ) { (path: String, width: Int) in
///     try renderThumbnail(path, width: width)    // returns [UInt8]
/// }
/// let png = try render("/photos/1.jpg", 256)     // after a restart: read from disk, not rendered
/// ```
///
/// - Arguments are ``CallKeyConvertible`` and are keyed by their ``CallKey``
///   bytes, which are the same in every process (never `hashValue`); results
///   are ``ByteCodable``.
/// - `function` is the function's identity: part of every key, so two
///   functions never share entries. Change it (for example, add a version)
///   whenever the function's results change meaning; entries of the old
///   identity are then never returned and age out under the disk budget.
/// - One cache at a time may open a directory (see ``PersistenceConfiguration``),
///   so each persistent memo needs its own directory while it is open.
/// - Everything else is as for ``Memoized``: one computation for concurrent
///   first calls, thrown errors are not cached, per-call TTL, statistics.
public final class PersistentMemoized<each Argument: CallKeyConvertible, Result: ByteCodable, Failure: Error>:
    Sendable
{
    /// The function's identity, part of every key.
    public let function: String
    /// The cache holding the results in memory and on disk.
    public let cache: Cache<PersistentMemoizationKey, Result>
    private let body: @Sendable (repeat each Argument) throws(Failure) -> Result

    /// Memoizes `body` in a cache with a durable tier, restoring what an earlier
    /// run stored in `persistence`'s directory.
    ///
    /// - Throws: ``CacheError``: `.invalidConfiguration` for an empty `function`
    ///   or bad limits, `.storeUnavailable` or `.storeDamaged` when the store
    ///   cannot be opened (see ``Cache/init(configuration:persistence:clock:logger:)``).
    public init(
        function: String,
        configuration: CacheConfiguration,
        persistence: PersistenceConfiguration,
        clock: any CacheClock = SystemCacheClock(),
        logger: Logger? = nil,
        _ body: @escaping @Sendable (repeat each Argument) throws(Failure) -> Result
    ) throws(CacheError) {
        guard !function.isEmpty else {
            throw CacheError(
                code: .invalidConfiguration,
                message: "PersistentMemoized: function identity is empty; pass a name unique to this function, "
                    + "with a version to change when its results change (\"thumbnail.v2\")")
        }
        self.function = function
        self.cache = try Cache(configuration: configuration, persistence: persistence, clock: clock, logger: logger)
        self.body = body
    }

    /// The key of a call with these arguments.
    public func key(_ argument: repeat each Argument) -> PersistentMemoizationKey {
        PersistentMemoizationKey(function: function, arguments: CallKey(repeat each argument))
    }

    /// The result for these arguments: from memory, from disk, or computed and
    /// stored in both with the cache's default time to live.
    public func callAsFunction(_ argument: repeat each Argument) throws(Failure) -> Result {
        do {
            return try cache.memoizedValue(forKey: key(repeat each argument), ttl: .default) {
                () throws(Failure) -> Result in
                try body(repeat each argument)
            }
        } catch {
            switch error {
            case .function(let error): throw error
            case .cache(let error): fatalError("PersistentMemoized: unexpected \(error)")
            }
        }
    }

    /// The result for these arguments, stored for `ttl` (`nil`: never expires) when computed.
    ///
    /// - Throws: the function's error, or ``CacheError`` for an invalid `ttl`.
    public func callAsFunction(_ argument: repeat each Argument, ttl: Duration?) throws -> Result {
        do {
            return try cache.memoizedValue(forKey: key(repeat each argument), ttl: .explicit(ttl)) {
                () throws(Failure) -> Result in
                try body(repeat each argument)
            }
        } catch {
            switch error {
            case .function(let error): throw error
            case .cache(let error): throw error
            }
        }
    }

    /// Forgets the stored result for these arguments, in memory and on disk.
    public func forget(_ argument: repeat each Argument) {
        cache.removeValue(forKey: key(repeat each argument))
    }

    /// The cache's counters (memory), and ``persistenceStatistics`` for the disk.
    public var statistics: CacheStatistics { cache.statistics }

    /// The durable tier's counters.
    public var persistenceStatistics: PersistenceStatistics? { cache.persistenceStatistics }

    /// Commits everything stored so far (write-back mode's queue), synced.
    public func flush() throws(CacheError) {
        try cache.flushPersistence()
    }

    /// Commits and closes the disk tier, releasing its directory for another
    /// opening; deallocation does the same.
    public func close() {
        cache.close()
    }
}

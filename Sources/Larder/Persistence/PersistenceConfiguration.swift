/// Where and how a ``Cache`` keeps its entries on disk (its durable tier).
///
/// ```swift
/// let cache = try Cache<String, Data>(
///     configuration: .init(maxCount: 10_000),
///     persistence: .lmdb(directory: "/var/lib/app/cache", maxBytes: 1 << 30, durability: .groupCommit))
/// ```
///
/// Every entry set is also written to an LMDB environment in `directory`; evicting from
/// memory keeps the disk copy, a memory miss reads the disk and promotes what it finds,
/// removal deletes from both tiers, and opening the same directory again restores the
/// most recent entries into memory. One cache at a time may have a directory open: a
/// second open, in this process or another, throws `.storeUnavailable`.
///
/// A write commits its record only; the recency order and the byte count on disk are
/// derived from the records and written in batches. After a crash (the store was not
/// closed), the next open rebuilds them from the records before restoring: the same
/// order and deadlines, at a cost that grows with the store (about a second per million
/// entries; docs/Performance.md has the measured figure). Close the cache to skip that rebuild.
public struct PersistenceConfiguration: Sendable {
    /// When a write counts as done, and what a crash can lose.
    public enum Durability: Sendable, Equatable {
        /// Each `setValue` commits its own LMDB transaction and waits for the sync
        /// (`fdatasync` of data and meta pages) before returning.
        ///
        /// Cost: one synced commit per write, so writes per second are bounded by the
        /// disk's sync latency (and concurrent writers take turns).
        /// A crash (process or power) loses nothing that was acknowledged.
        case synchronous

        /// Concurrent writers share commits: a committer thread takes every write that is
        /// waiting, writes them in one transaction with one sync, then releases all of them.
        /// Nobody returns before their write is synced.
        ///
        /// Cost: a single writer waits as in `.synchronous` (plus a thread hand-off); many
        /// writers share each sync, so throughput grows with concurrency.
        /// A crash loses nothing that was acknowledged.
        case groupCommit

        /// `setValue` returns once the write is queued in memory; a flusher thread commits
        /// the queue every `interval` in one fully synced transaction. Queued writes are
        /// visible to reads and removals at once.
        ///
        /// Cost: a memory write per set; one synced commit per interval.
        /// A crash loses at most the writes of the last `interval` (those not yet committed)
        /// and never corrupts the store: each flush is an ordinary synced LMDB commit, unlike
        /// `MDB_NOSYNC`, which can corrupt the store on a system crash.
        case writeBack(interval: Duration)
    }

    enum Backend: Sendable {
        case lmdb(directory: String, maxBytes: Int, durability: Durability)
    }

    let backend: Backend
    /// Test hooks: initial and soft-limit map sizes (nil = derived from maxBytes).
    var initialMapSize: Int?
    var mapSizeLimit: Int?
    /// Distinct entries a memory shard lists as accessed before it asks the tier
    /// to write their stamps out.
    var accessBatchSize: Int = 1024

    /// An LMDB store in `directory` (created with mode 0700 when missing; its files are 0600).
    ///
    /// - Parameters:
    ///   - directory: the store's own directory; `data.mdb`, `lock.mdb` and `larder.lock` live there.
    ///   - maxBytes: the disk tier's budget for stored records (48 bytes of header + key + value
    ///     each); when exceeded, least-recently used records are evicted from disk. LMDB's page
    ///     overhead comes on top (the file can reach about twice this for small records).
    ///   - durability: see ``Durability``; the default is `.synchronous`.
    public static func lmdb(directory: String, maxBytes: Int, durability: Durability = .synchronous) -> Self {
        PersistenceConfiguration(backend: .lmdb(directory: directory, maxBytes: maxBytes, durability: durability))
    }

    init(backend: Backend) {
        self.backend = backend
    }
}

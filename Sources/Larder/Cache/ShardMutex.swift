import CLarderSystem

/// The lock of a shard: a futex mutex from CLarderSystem
/// (`larder_mutex`), whose uncontended lock and unlock inline to one atomic
/// instruction each, and none at all while the mutex is biased to the thread
/// that has been using it alone (see larder_mutex.h).
///
/// Why not ``Lock`` here: a shard is locked once per operation, and
/// pthread's calls and type checks cost about 45 instructions per lock/unlock
/// pair on top of the same two atomic instructions (callgrind, Swift 6.3.1,
/// glibc 2.36); on a cache hit that was about a tenth of the work.
/// ThreadSanitizer sees the atomics, which order the critical sections.
/// Lock and unlock must be called on the same thread (a biased owner is
/// recognized by its thread): never hold it across a suspension point.
@usableFromInline
struct ShardMutex: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<larder_mutex>

    /// The bytes each mutex occupies alone: two cache lines, since x86's adjacent-line
    /// prefetcher pulls lines in pairs. Another shard's lock in the same line would make
    /// two threads working on different shards take that line from each other on
    /// every lock and unlock.
    static var isolation: Int { 128 }

    /// Initializes an unlocked mutex at `raw`, the start of `isolation` bytes
    /// aligned to `isolation` that the caller owns (``ShardMemory``); `destroy()`
    /// deinitializes it.
    static func make(at raw: UnsafeMutableRawPointer) -> ShardMutex {
        let pointer = raw.bindMemory(to: larder_mutex.self, capacity: 1)
        larder_mutex_init(pointer)
        return ShardMutex(pointer: pointer)
    }

    @usableFromInline
    init(pointer: UnsafeMutablePointer<larder_mutex>) {
        self.pointer = pointer
    }

    @inlinable @inline(__always) func lock() { larder_mutex_lock(pointer) }

    @inlinable @inline(__always) func unlock() { larder_mutex_unlock(pointer) }

    func destroy() {
        pointer.deinitialize(count: 1)
    }
}

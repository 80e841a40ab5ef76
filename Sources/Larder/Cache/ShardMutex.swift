import CLarderCore
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

    /// Initializes an unlocked mutex at `raw`, in its shard's core header
    /// (`larder_core_lock_offset`, placed by ``ShardMemory``), which the shard
    /// owns; `destroy()` deinitializes it.
    static func make(at raw: UnsafeMutableRawPointer) -> ShardMutex {
        precondition(MemoryLayout<larder_mutex>.size <= Int(LARDER_CORE_LOCK_BYTES)
                     && Int(bitPattern: raw) % MemoryLayout<larder_mutex>.alignment == 0,
                     "larder_mutex must fit the core's lock area")
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

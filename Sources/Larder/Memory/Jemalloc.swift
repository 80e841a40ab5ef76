import CJemalloc

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed `mallctl` call: which control, and the errno-style code jemalloc returned.
package struct JemallocError: Error, Sendable, Equatable, CustomStringConvertible {
    var name: String
    var code: Int32

    package var description: String {
        let reason: String
        switch code {
        case ENOENT: reason = "unknown name (is jemalloc the process allocator, built with statistics?)"
        case EINVAL: reason = "invalid argument size"
        case EPERM: reason = "not permitted"
        case EAGAIN: reason = "transient failure (memory allocation failed)"
        case EFAULT: reason = "external error"
        default: reason = "error \(code)"
        }
        return "mallctl(\"\(name)\") failed: \(reason)"
    }
}

/// A mallctl name resolved once to its management information base (MIB), so that
/// later calls skip the string lookup (`mallctlnametomib` once, `mallctlbymib` after).
struct JemallocMIB: Sendable {
    let name: String
    // A mallctl name has at most a handful of components ("stats.arenas.<i>.pactive").
    private let components: (Int, Int, Int, Int, Int, Int, Int, Int)
    private let length: Int

    init(_ name: String) throws(JemallocError) {
        var mib: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        var length = 8
        let rc = withUnsafeMutableBytes(of: &mib) { raw in
            mallctlnametomib(name, raw.baseAddress!.assumingMemoryBound(to: Int.self), &length)
        }
        guard rc == 0 else { throw JemallocError(name: name, code: rc) }
        self.name = name
        self.components = mib
        self.length = length
    }

    /// Reads a `size_t`/`uint64_t` control (`mallctlbymib` with `oldp` only).
    func readInteger() throws(JemallocError) -> Int {
        var mib = components
        var result = 0
        var size = MemoryLayout<Int>.size
        let rc = withUnsafeMutableBytes(of: &mib) { raw in
            mallctlbymib(raw.baseAddress!.assumingMemoryBound(to: Int.self), length, &result, &size, nil, 0)
        }
        guard rc == 0 else { throw JemallocError(name: name, code: rc) }
        return result
    }

    /// Writes `value` (`mallctlbymib` with `newp` only).
    func write<T: BitwiseCopyable>(_ value: T) throws(JemallocError) {
        var mib = components
        var value = value
        let rc = withUnsafeMutableBytes(of: &mib) { raw in
            withUnsafeMutableBytes(of: &value) { newp in
                mallctlbymib(raw.baseAddress!.assumingMemoryBound(to: Int.self), length,
                             nil, nil, newp.baseAddress, newp.count)
            }
        }
        guard rc == 0 else { throw JemallocError(name: name, code: rc) }
    }

    /// Triggers a void control such as `thread.tcache.flush` (no old or new value).
    func trigger() throws(JemallocError) {
        var mib = components
        let rc = withUnsafeMutableBytes(of: &mib) { raw in
            mallctlbymib(raw.baseAddress!.assumingMemoryBound(to: Int.self), length, nil, nil, nil, 0)
        }
        guard rc == 0 else { throw JemallocError(name: name, code: rc) }
    }
}

/// Process-wide jemalloc statistics, read through MIBs resolved once.
///
/// jemalloc caches its statistics: `stats.*` reads return the figures as of the last
/// `epoch` refresh, and a refresh costs about 10 µs, so ``refresh()`` belongs on the
/// memory governor's schedule, never on a cache operation.
package struct JemallocStatistics: Sendable {
    private let epoch: JemallocMIB
    private let allocatedMIB: JemallocMIB
    private let residentMIB: JemallocMIB
    private let activeMIB: JemallocMIB
    private let tcacheFlush: JemallocMIB
    private let purgeAll: JemallocMIB

    /// Resolves the statistics names; throws when jemalloc is not the allocator in use
    /// or was built without statistics.
    init() throws(JemallocError) {
        epoch = try JemallocMIB("epoch")
        allocatedMIB = try JemallocMIB("stats.allocated")
        residentMIB = try JemallocMIB("stats.resident")
        activeMIB = try JemallocMIB("stats.active")
        tcacheFlush = try JemallocMIB("thread.tcache.flush")
        // MALLCTL_ARENAS_ALL (4096) addresses every arena at once.
        purgeAll = try JemallocMIB("arena.4096.purge")
    }

    /// The shared instance, or nil when jemalloc's controls are unavailable.
    package static let shared: JemallocStatistics? = try? JemallocStatistics()

    /// Advances jemalloc's statistics epoch so the `stats.*` reads are current (`epoch`).
    package func refresh() throws(JemallocError) {
        try epoch.write(UInt64(1))
    }

    /// Bytes in live allocations as of the last refresh (`stats.allocated`).
    package func allocated() throws(JemallocError) -> Int { try allocatedMIB.readInteger() }

    /// Bytes in physically resident pages mapped by the allocator, including its
    /// metadata and dirty pages not yet returned (`stats.resident`).
    func resident() throws(JemallocError) -> Int { try residentMIB.readInteger() }

    /// Bytes in active pages (`stats.active`), a multiple of the page size.
    func active() throws(JemallocError) -> Int { try activeMIB.readInteger() }

    /// Returns the calling thread's cached free blocks to their arenas
    /// (`thread.tcache.flush`), so `stats.allocated` no longer counts them as in use.
    package func flushThreadCache() throws(JemallocError) { try tcacheFlush.trigger() }

    /// Returns unused dirty pages of every arena to the operating system
    /// (`arena.<MALLCTL_ARENAS_ALL>.purge`), so resident memory falls after an eviction
    /// instead of after jemalloc's decay delay; costs a system call per dirty extent.
    func releaseUnusedPages() throws(JemallocError) { try purgeAll.trigger() }

    /// Bytes in live allocations now: flushes this thread's cache of freed blocks
    /// (else they still count as allocated), refreshes, reads `stats.allocated`.
    package func allocatedNow() throws(JemallocError) -> Int {
        try flushThreadCache()
        try refresh()
        return try allocated()
    }
}

/// The calling thread's cumulative allocation counters (`thread.allocatedp` and
/// `thread.deallocatedp`).
///
/// jemalloc hands out pointers into its thread-specific data; they stay valid for the
/// thread's lifetime, so they are looked up once per thread (kept in a pthread key) and
/// then read directly, without a `mallctl` call per measurement.
package enum JemallocThreadCounters {
    private struct Pointers {
        var allocated: UnsafeMutablePointer<UInt64>
        var deallocated: UnsafeMutablePointer<UInt64>
    }

    private static let key: pthread_key_t? = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { raw in
            // Runs at thread exit: free this thread's pointer pair.
            raw?.deallocate()
        }
        return rc == 0 ? key : nil
    }()

    private static func pointers() -> Pointers? {
        guard let key else { return nil }
        if let raw = pthread_getspecific(key) {
            return raw.assumingMemoryBound(to: Pointers.self).pointee
        }
        guard
            let allocated = lookUp("thread.allocatedp"),
            let deallocated = lookUp("thread.deallocatedp")
        else { return nil }
        let box = UnsafeMutablePointer<Pointers>.allocate(capacity: 1)
        box.initialize(to: Pointers(allocated: allocated, deallocated: deallocated))
        guard pthread_setspecific(key, box) == 0 else {
            box.deallocate()
            return nil
        }
        return box.pointee
    }

    private static func lookUp(_ name: String) -> UnsafeMutablePointer<UInt64>? {
        var pointer: UnsafeMutablePointer<UInt64>? = nil
        var size = MemoryLayout<UnsafeMutablePointer<UInt64>?>.size
        let rc = mallctl(name, &pointer, &size, nil, 0)
        return rc == 0 ? pointer : nil
    }

    /// Total bytes this thread has allocated and deallocated since it started, or nil
    /// when jemalloc's thread counters are unavailable or jemalloc does not serve
    /// `malloc` (for example under a sanitizer, whose allocator replaces it).
    static func current() -> (allocated: UInt64, deallocated: UInt64)? {
        guard Jemalloc.servesMalloc, let p = pointers() else { return nil }
        return (p.allocated.pointee, p.deallocated.pointee)
    }

    /// This thread's running total of allocated bytes (`thread.allocatedp`): reading
    /// the pointee costs a load, not a `mallctl` call (Bench's allocation suite).
    package static func allocatedCounter() -> UnsafeMutablePointer<UInt64>? { pointers()?.allocated }

    /// The counters without the `servesMalloc` check (used to establish it).
    fileprivate static func raw() -> (allocated: UInt64, deallocated: UInt64)? {
        guard let p = pointers() else { return nil }
        return (p.allocated.pointee, p.deallocated.pointee)
    }
}

package enum Jemalloc {
    /// Whether jemalloc is the allocator behind `malloc` in this process: linking it
    /// makes it so, but a sanitizer or an `LD_PRELOAD`ed allocator takes over, and then
    /// jemalloc's counters stand still and its `malloc_usable_size` must not see foreign
    /// pointers. Established once, by watching this thread's counter across a `malloc`.
    package static let servesMalloc: Bool = {
        guard let before = JemallocThreadCounters.raw() else { return false }
        // Through the Swift runtime (swift_slowAlloc -> malloc): an optimized build
        // deletes a `malloc`/`free` pair whose block is never used, and then this
        // check read "no" in every release build.
        let block = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        let after = JemallocThreadCounters.raw()
        block.deallocate()
        guard let after else { return false }
        return after.allocated &- before.allocated >= 4096
    }()

    /// The jemalloc version string, or nil when jemalloc's controls do not answer.
    package static var version: String? {
        var pointer: UnsafePointer<CChar>? = nil
        var length = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &pointer, &length, nil, 0) == 0, let pointer else { return nil }
        return String(cString: pointer)
    }
}

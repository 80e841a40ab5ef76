import CJemalloc

/// The few jemalloc controls the memory and allocation suites read.
///
/// Linking `CJemalloc` makes jemalloc the process allocator (Debian's build
/// exports `malloc`), so `stats.allocated` counts every heap byte Swift uses.
enum Jemalloc {
    /// Flushes this thread's cache of freed blocks back to the arenas (else they
    /// still count as allocated) and advances `epoch` so the statistics are current.
    static func refresh() {
        _ = mallctl("thread.tcache.flush", nil, nil, nil, 0)
        var epoch: UInt64 = 1
        _ = withUnsafeMutablePointer(to: &epoch) {
            mallctl("epoch", nil, nil, UnsafeMutableRawPointer($0), MemoryLayout<UInt64>.size)
        }
    }

    /// Bytes the application holds (`stats.allocated`), after `refresh()`.
    static func allocatedBytes() -> Int {
        refresh()
        var value = 0
        var length = MemoryLayout<Int>.size
        let rc = mallctl("stats.allocated", &value, &length, nil, 0)
        return rc == 0 ? value : -1
    }

    /// A pointer to this thread's running total of allocated bytes
    /// (`thread.allocatedp`): reading it costs a load, not a mallctl call.
    static func threadAllocatedCounter() -> UnsafeMutablePointer<UInt64>? {
        var pointer: UnsafeMutablePointer<UInt64>? = nil
        var length = MemoryLayout<UnsafeMutablePointer<UInt64>?>.size
        let rc = mallctl("thread.allocatedp", &pointer, &length, nil, 0)
        return rc == 0 ? pointer : nil
    }

    /// The jemalloc version string, or nil when jemalloc's controls do not answer.
    static func version() -> String? {
        var pointer: UnsafePointer<CChar>? = nil
        var length = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &pointer, &length, nil, 0) == 0, let pointer else { return nil }
        return String(cString: pointer)
    }

    /// True when jemalloc really serves this process's `malloc`: a 16 MiB
    /// allocation must show up in `stats.allocated`.
    static func servesMalloc() -> Bool {
        let before = allocatedBytes()
        guard before >= 0 else { return false }
        // Through the Swift runtime (swift_slowAlloc -> malloc): the optimizer
        // cannot drop it as it may drop an unused malloc/free pair.
        let block = UnsafeMutableRawPointer.allocate(byteCount: 16 << 20, alignment: 16)
        defer { block.deallocate() }
        let after = allocatedBytes()
        return after - before >= 16 << 20
    }
}

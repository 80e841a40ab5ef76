#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging

// The map's size: where it starts, how far it may go, and how a full map grows or,
// at its limit, lowers the byte budget so that eviction makes room.
extension DiskStore {
    /// The largest default first map: a budget beyond half of it starts here and grows.
    static let initialMapCap = 4 << 30

    /// The largest map the store asks for: 64 TiB (x86-64 and most arm64 kernels give a
    /// process 128 TiB or more of address space), or half of an address-space limit.
    static let mappableBytes: Int = {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max {
            return min(1 << 46, Int(clamping: limit.rlim_cur / 2))
        }
        return 1 << 46
    }()

    /// Whether `size` bytes of address space can be reserved now. A failed
    /// `mdb_env_set_mapsize` leaves the environment unmapped and unusable, so a resize is
    /// only attempted when this says it can succeed.
    private static func canReserve(_ size: Int) -> Bool {
        guard let p = mmap(nil, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              p != MAP_FAILED else { return false }
        munmap(p, size)
        return true
    }

    static func roundUp(_ value: Int, to page: Int) -> Int {
        (max(value, page * 16) + page - 1) / page * page
    }

    /// Grows the map (doubling) up to `mapLimit`. At the limit the records and LMDB's
    /// overhead do not fit: lowers the effective byte budget to three quarters of what is
    /// stored, so the retried transaction evicts least-recent records and later writes reuse
    /// their pages, and grows the map by a quarter, because in a completely full map even
    /// deletions need fresh pages (LMDB copies every page it changes).
    ///
    /// The budget is lowered once per transaction (its retries see the same count) and never
    /// below `min(maxBytes / 2, limit / 8)`; the map grows past the limit to twice it at most,
    /// then the write fails (nothing stored is lost).
    func makeRoom(state: inout WriterState, loweredBudget: inout Bool) throws(CacheError) {
        let limit = mapLimit
        if state.mapSize < limit {
            let target = state.mapSize > limit / 2 ? limit : state.mapSize * 2
            if Self.canReserve(target) {
                try resize(to: target, state: &state)
                return
            }
            // No address space for more: this size is the limit.
        }
        if !loweredBudget {
            loweredBudget = true
            let floor = max(1, min(options.maxBytes / 2, limit / 8))
            let cap = max(floor, state.bytes / 4 * 3)
            if cap < min(options.maxBytes, state.budgetCap ?? .max) {
                state.budgetCap = cap
                logger.info("disk tier map is at its size limit; lowering the disk byte budget",
                            metadata: ["budget": "\(cap)", "mapSize": "\(state.mapSize)", "mapSizeLimit": "\(limit)"])
            }
        }
        let ceiling = min(limit > Int.max / 2 ? Int.max : limit * 2, Self.mappableBytes)
        let target = min(state.mapSize + state.mapSize / 4, ceiling)
        guard target > state.mapSize, Self.canReserve(target) else {
            throw CacheError(code: .storeUnavailable,
                             message: "the store in \(lock.path) is full: its map reached \(state.mapSize) bytes (limit \(limit)) and evicting to \(min(options.maxBytes, state.budgetCap ?? .max)) bytes of records did not make room; lower persistence maxBytes, or move the directory aside to start afresh")
        }
        try resize(to: target, state: &state)
    }

    private func resize(to size: Int, state: inout WriterState) throws(CacheError) {
        do {
            try gate.withExclusive { () throws in
                drainReaderPool()
                try env.setMapSize(size)
            }
        } catch {
            throw CacheError(code: .storeUnavailable, message: "cannot grow the store's map to \(size) bytes (\(error))")
        }
        state.mapSize = (try? env.info().me_mapsize) ?? size
        let mapSize = state.mapSize
        counters.withLock { $0.mapResizes += 1; $0.mapSize = mapSize }
        logger.info("disk tier map grown", metadata: ["mapSize": "\(state.mapSize)"])
    }
}

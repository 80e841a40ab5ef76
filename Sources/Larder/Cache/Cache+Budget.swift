import Synchronization


/// The byte budget in force and each shard's share of it.
extension Cache {
    /// The share of `total` bytes shard `index` gets: the shares add up to `total`.
    @inlinable @inline(__always)
    static func share(of total: Int?, shard index: Int, shardCount: Int) -> UInt64 {
        guard let total else { return .max }
        let bytes = max(0, total)
        return UInt64(bytes / shardCount + (index < bytes % shardCount ? 1 : 0))
    }

    /// The budget in force: min(maxBytes, pressure budget), `nil` when neither is set.
    @inlinable
    var effectiveByteBudget: Int? {
        let pressure = pressureBudget.load(ordering: .relaxed)
        switch (configuration.maxBytes, pressure >= 0 ? pressure : nil) {
        case (nil, nil): return nil
        case (let limit?, nil): return limit
        case (nil, let pressure?): return pressure
        case (let limit?, let pressure?): return min(limit, pressure)
        }
    }
}

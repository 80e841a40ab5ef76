import Foundation

/// Foundation's `NSCache` with a `countLimit`, keys and values boxed in
/// `NSNumber` as a user storing integers would.
final class NSCachePeer: IntCachePeer {
    private let cache = NSCache<NSNumber, NSNumber>()

    init(capacity: Int) {
        cache.countLimit = capacity
    }

    @inline(__always) func get(_ key: Int) -> Int? {
        cache.object(forKey: NSNumber(value: key))?.intValue
    }

    @inline(__always) func set(_ key: Int, _ value: Int) {
        cache.setObject(NSNumber(value: value), forKey: NSNumber(value: key))
    }

    func close() { cache.removeAllObjects() }
}

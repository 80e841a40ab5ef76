// Interim copy of the Cache contract's error type (CACHE_API.md) so the
// persistence code builds before the Cache lands; removed when main is merged.

public struct CacheError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: Sendable, Equatable {
        case invalidConfiguration, invalidTTL, valueTooLarge,
             expiryNotSupported, storeUnavailable, storeDamaged, encodingFailed, closed
    }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "CacheError.\(code): \(message)" }
}

// Interim copies of CacheBackingTier and CacheClock (CACHE_API.md), removed on merge.
protocol CacheBackingTier<Key, Value>: Sendable {
    associatedtype Key: Hashable & Sendable
    associatedtype Value: Sendable
    func store(_ value: Value, forKey key: Key, deadline: UInt64?) throws(CacheError)
    func load(forKey key: Key) -> (value: Value, deadline: UInt64?)?
    func remove(forKey key: Key)
    func removeAll()
    func recordAccess(forKey key: Key)
}

public protocol CacheClock: Sendable {
    func monotonicNanoseconds() -> UInt64
    func wallNanoseconds() -> UInt64
}

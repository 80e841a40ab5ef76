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

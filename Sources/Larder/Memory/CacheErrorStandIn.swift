// Temporary stand-in for the Cache work's CacheError (same shape as notes/CACHE_API.md),
// so the governor's validation compiles before the Cache lands. Deleted when main is merged.
public struct CacheError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: Sendable, Equatable {
        case invalidConfiguration, invalidTTL, valueTooLarge, expiryNotSupported,
             storeUnavailable, storeDamaged, encodingFailed, closed
    }
    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

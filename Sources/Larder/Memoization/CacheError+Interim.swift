// Interim copy of the Cache helper's `CacheError` (see notes/CACHE_API.md), so the call
// key builds before the Cache lands on main. Delete this file when merging main.

/// A misuse or failure of a Larder cache, with a message that says what to change.
public struct CacheError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public enum Code: Sendable, Equatable {
        case invalidConfiguration, invalidTTL, valueTooLarge,
            expiryNotSupported, storeUnavailable, storeDamaged, encodingFailed, closed
    }

    /// What kind of failure this is.
    public var code: Code
    /// What went wrong and what to change.
    public var message: String

    /// Creates an error with a code and a message that says what to change.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// An error thrown by a ``Cache``: a misuse the caller can fix, or a failure
/// of a lower tier. The ``message`` says what to change.
///
/// Errors never leave a cache half-changed: a throwing call stores nothing
/// and loses nothing that was already stored.
public struct CacheError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, for code that reacts to a kind of failure.
    public enum Code: Sendable, Equatable {
        /// A ``CacheConfiguration`` field is out of its allowed range.
        case invalidConfiguration
        /// A time to live is zero or negative (an entry that would be expired when stored).
        case invalidTTL
        /// One entry weighs more than the whole byte budget (or a shard's share of it).
        case valueTooLarge
        /// A time to live was given to a cache created with `supportsExpiry: false`.
        case expiryNotSupported
        /// A durable store could not be opened or written.
        case storeUnavailable
        /// A durable store holds a record that does not validate.
        case storeDamaged
        /// A key or value could not be encoded to bytes.
        case encodingFailed
        /// The cache or store was closed.
        case closed
        /// A get-or-compute asked for its own key from inside its computation, on the
        /// same thread: it would wait for itself forever.
        case recursiveComputation
        /// The shared tier's server cannot be reached (nothing listening, a refused handshake or
        /// password, a lost connection); the message gives the address and the last error.
        case sharedTierUnavailable
        /// The shared tier's server refused a command or replied with something the cache
        /// cannot use (an error reply, a reply of the wrong type); the message quotes it.
        case sharedTierRejected
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence that names the field or argument at fault, its allowed range,
    /// and what to change.
    public var message: String

    /// Creates an error of the given kind with a message that says what to change.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message, for logs.
    public var description: String { "CacheError.\(code): \(message)" }
}

extension CacheError {
    @usableFromInline
    static func invalidConfiguration(_ message: String) -> CacheError {
        CacheError(code: .invalidConfiguration, message: message)
    }
}

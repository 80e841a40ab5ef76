/// Why a RESP3 operation failed: transport or protocol, never an error reply.
///
/// An error reply from Redis (`-ERR ...`) is a ``RESP3Value`` returned to the caller, because the
/// connection is still good after it. These cases are for what leaves the connection (or the
/// attempt to make one) unusable, so the caller can degrade (serve from the near cache, skip the
/// shared tier) instead of retrying blindly.
package enum RESP3Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// The connection closed (EOF, I/O error, a protocol error, a timeout, or ``RESP3Connection/close()``)
    /// before the reply arrived, or the command was sent on a closed connection.
    case connectionClosed
    /// The byte stream is not valid RESP3 (or exceeds a ``RESP3Decoder/Limits`` bound). The
    /// connection is closed: after a framing error nothing later on the stream can be trusted.
    case protocolError(String)
    /// The TCP connection to `host:port` could not be made.
    case connectFailed(host: String, port: Int, reason: String)
    /// A reply did not arrive in time (heartbeat or reply deadline); the connection is closed.
    case timeout
    /// The connection was made but `HELLO 3`, authentication or a setup command failed.
    case handshakeFailed(String)
    /// ``RESP3Client/send(_:)`` was called while no connection was ready. Commands are never
    /// queued across connections: the caller decides whether to degrade or retry.
    case notConnected

    package var description: String {
        switch self {
        case .connectionClosed: return "RESP3: connection closed"
        case .protocolError(let m): return "RESP3 protocol error: \(m)"
        case .connectFailed(let h, let p, let r): return "RESP3: could not connect to \(h):\(p): \(r)"
        case .timeout: return "RESP3: reply timed out"
        case .handshakeFailed(let m): return "RESP3 handshake failed: \(m)"
        case .notConnected: return "RESP3: not connected"
        }
    }
}

import Logging
import NIOCore
import RESP3

/// Where the shared tier's commands go: one server's connection, or the connection to each
/// primary of a cluster, chosen by the key's hash slot. Every method runs on the transport's
/// event loop, where its events are reported too (see ``SharedTierTransportEvents``).
protocol SharedTierTransport: AnyObject, Sendable {
    /// Starts connecting, and keeps reconnecting until closed.
    func start()
    /// Closes every connection; a ready one reports its loss first.
    func closeFuture() -> EventLoopFuture<Void>
    /// Sends `commands`, `perKey` of them for each of `names` in turn (every one of them about
    /// that key, by its name on the server), and returns the replies in the same order.
    func send(names: [[UInt8]], perKey: Int, _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]>
    /// Whether ``sendReads(names:encoded:)`` takes the reads already encoded (one connection
    /// carries them all); when false the tier does not encode them.
    var encodesReads: Bool { get }
    /// The value and the `PTTL` of `keys` keys: `encoded` by ``RESP3Reads`` when ``encodesReads``
    /// (`names` may then be empty), else `names`; `promise` completes with the replies in order.
    func sendReads(names: [[UInt8]], keys: Int, encoded: ByteBuffer?, promise: EventLoopPromise<RESP3ReadReplies>)
    /// A sender per server that holds keys (one, or each primary): for commands about no key
    /// (`SCAN`, `CONFIG GET`).
    func eachServer() -> [@Sendable ([RESP3Command]) -> EventLoopFuture<[RESP3Value]>]
    /// The servers, for messages: "the Redis server at host:port" or the cluster's seeds.
    var serverDescription: String { get }
    /// Whether a lost connection leaves the other servers' keys available (a cluster's nodes),
    /// or all keys are unavailable until the transport is ready again (one server).
    var isolatesLosses: Bool { get }
    /// Whether every server's connection is ready now (any thread).
    var everyServerReady: Bool { get }
}

extension SharedTierTransport {
    /// Sends `commands`, all about `name`.
    func send(name: [UInt8], _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        send(names: [name], perKey: commands.count, commands)
    }

    var encodesReads: Bool { false }

    /// The reads as a `GET` and a `PTTL` per key (routed by key like any other command: an
    /// `MGET` of keys on several nodes would be refused), their replies gathered.
    func sendReads(names: [[UInt8]], keys: Int, encoded: ByteBuffer?, promise: EventLoopPromise<RESP3ReadReplies>) {
        var commands: [RESP3Command] = []
        commands.reserveCapacity(2 * names.count)
        for name in names {
            commands.append(RESP3Command(parts: [Array("GET".utf8), name]))
            commands.append(RESP3Command(parts: [Array("PTTL".utf8), name]))
        }
        send(names: names, perKey: 2, commands).map { RESP3ReadReplies(getsAndPTTLs: $0) }.cascade(to: promise)
    }
}

/// What a transport reports to the tier, on its event loop. Epochs grow with every ready and
/// every loss, so that readiness checked after a round trip can tell whether a loss came between.
struct SharedTierTransportEvents: Sendable {
    /// Every server is connected, with tracking on (each connection's setup commands ran).
    var onReady: @Sendable (_ epoch: UInt64) -> Void
    /// A connection was lost: tracking on it is gone.
    var onLost: @Sendable (_ epoch: UInt64, _ error: any Error) -> Void
    /// A push arrived (invalidations, `tracking-redir-broken`).
    var onPush: @Sendable (_ value: RESP3Value) -> Void
    /// A connection attempt, or a cluster's discovery, failed; the error says why.
    var onConnectFailed: @Sendable (_ error: any Error) -> Void
    /// Keys may have changed owner (a cluster's slot map changed).
    var onOwnersChanged: @Sendable () -> Void
}

/// One Redis server on one RESP3 connection.
final class SingleServerTransport: SharedTierTransport {
    let client: RESP3Client
    let serverDescription: String

    init(configuration: RESP3Client.Configuration, eventLoop: any EventLoop, logger: Logger, events: SharedTierTransportEvents) {
        serverDescription = "the Redis server at \(configuration.connection.host):\(configuration.connection.port)"
        client = RESP3Client(
            configuration: configuration, eventLoop: eventLoop, logger: logger,
            callbacks: .init(
                onConnected: { epoch in events.onReady(epoch) },
                onLost: { epoch, error in events.onLost(epoch, error) },
                onPush: { _, push in events.onPush(push) },
                onConnectFailed: { error in events.onConnectFailed(error) }))
    }

    func start() { client.start() }

    func closeFuture() -> EventLoopFuture<Void> { client.closeFuture() }

    func send(names: [[UInt8]], perKey: Int, _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        client.sendFuture(commands)
    }

    /// One connection: the reads go out as the tier encoded them, and their replies are parsed
    /// without a RESP3Value per reply.
    var encodesReads: Bool { true }

    func sendReads(names: [[UInt8]], keys: Int, encoded: ByteBuffer?, promise: EventLoopPromise<RESP3ReadReplies>) {
        guard let encoded else {
            var buffer = ByteBuffer()
            RESP3Reads.encode(names, into: &buffer)
            return client.sendReads(buffer, keys: keys, promise: promise)
        }
        client.sendReads(encoded, keys: keys, promise: promise)
    }

    func eachServer() -> [@Sendable ([RESP3Command]) -> EventLoopFuture<[RESP3Value]>] {
        [{ [client] in client.sendFuture($0) }]
    }

    var isolatesLosses: Bool { false }

    /// The tier's own `connected` flag says it (this transport reports nothing partial).
    var everyServerReady: Bool { true }
}

/// An error on one node of several, named with it.
struct NodeError: Error, CustomStringConvertible {
    var node: String
    var error: any Error
    var description: String { "\(node): \(error)" }
}

import Logging
import NIOCore
import NIOPosix

/// One RESP3 connection to a Redis server: a TCP channel that has completed `HELLO 3` and the
/// caller's setup commands.
///
/// ``connect(configuration:eventLoop:logger:onPush:onClose:)`` returns only once the connection is
/// usable, so a caller never sends on a half-configured connection (for the shared tier: one whose
/// `CLIENT TRACKING` is not on yet, which could miss invalidations). ``sendFuture(_:)``
/// pipelines a batch and returns its replies in order; error replies are values, transport and
/// protocol failures throw ``RESP3Error``.
///
/// The connection does not reconnect: once it has closed it stays closed. ``RESP3Client`` owns the
/// policy of making a new one.
package final class RESP3Connection: Sendable {
    /// Where to connect and how to set the connection up.
    package struct Configuration: Sendable {
        /// The server's host name or address.
        package var host: String
        /// The server's TCP port.
        package var port: Int
        /// The ACL user for `HELLO 3 AUTH`; `"default"` when only a password is set.
        package var username: String?
        /// The password for `HELLO 3 AUTH`; no authentication when `nil`.
        package var password: String?
        /// Commands run, in order, after `HELLO 3` and before ``RESP3Connection/connect(configuration:eventLoop:logger:onPush:onClose:)``
        /// returns (e.g. `CLIENT TRACKING on BCAST`); an error reply to any of them fails the connect.
        package var setupCommands: [RESP3Command]
        /// How long the TCP connect may take.
        package var connectTimeout: TimeAmount
        /// Heartbeat and reply deadline of the connection (the deadline also bounds the handshake).
        package var timing: RESP3ConnectionHandler.Timing
        /// Bounds on what the server's byte stream may make the decoder hold.
        package var decoderLimits: RESP3Decoder.Limits

        package init(
            host: String,
            port: Int,
            username: String? = nil,
            password: String? = nil,
            setupCommands: [RESP3Command] = [],
            connectTimeout: TimeAmount = .seconds(5),
            timing: RESP3ConnectionHandler.Timing = .init(replyTimeout: .seconds(10)),
            decoderLimits: RESP3Decoder.Limits = .default
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.setupCommands = setupCommands
            self.connectTimeout = connectTimeout
            self.timing = timing
            self.decoderLimits = decoderLimits
        }
    }

    /// The channel the connection runs on.
    package let channel: any Channel
    /// Completed, when the connection ends, with why it ended (see ``RESP3ConnectionHandler/Callbacks/onClose``).
    package let closeReason: EventLoopFuture<any Error>
    /// The server's reply to `HELLO 3` (a map with `server`, `version`, `proto`, `id`, ...);
    /// ``RESP3Value/null`` for a connection made by ``init(channel:closeReason:)``.
    package let hello: RESP3Value

    /// Wraps a channel whose pipeline ``configure(_:timing:decoderLimits:onPush:onClose:)`` set up,
    /// without a handshake (used by tests over `EmbeddedChannel`).
    package init(channel: any Channel, closeReason: EventLoopFuture<any Error>, hello: RESP3Value = .null) {
        self.channel = channel
        self.closeReason = closeReason
        self.hello = hello
    }

    /// Adds the connection handler (which decodes replies too) to `channel`'s pipeline; must run on its event
    /// loop. Returns the future of the reason the connection will end with.
    package static func configure(
        _ channel: any Channel,
        timing: RESP3ConnectionHandler.Timing,
        decoderLimits: RESP3Decoder.Limits = .default,
        onPush: @escaping @Sendable (RESP3Value) -> Void,
        onClose: @escaping @Sendable (any Error) -> Void
    ) throws -> EventLoopFuture<any Error> {
        let reason = channel.eventLoop.makePromise(of: (any Error).self)
        try channel.pipeline.syncOperations.addHandler(
            RESP3ConnectionHandler(
                timing: timing, callbacks: .init(onPush: onPush, onClose: onClose), closeReason: reason,
                decoderLimits: decoderLimits))
        return reason.futureResult
    }

    /// Connects, says `HELLO 3` (authenticating when configured), runs the setup commands, and
    /// returns the ready connection.
    ///
    /// `onPush` and `onClose` run on `eventLoop`. `onClose` runs once when the connection ends, also
    /// when it ends during the handshake (the returned future then fails as well).
    ///
    /// Fails with ``RESP3Error/connectFailed(host:port:reason:)`` when no TCP connection can be made,
    /// ``RESP3Error/handshakeFailed(_:)`` when the server refuses `HELLO 3`, the credentials or a setup
    /// command, ``RESP3Error/protocolError(_:)`` naming `host:port` when the peer does not speak
    /// RESP at all, and ``RESP3Error/timeout`` when it does not answer within the reply deadline.
    package static func connect(
        configuration: Configuration,
        eventLoop: any EventLoop,
        logger: Logger = RESP3Client.silentLogger,
        onPush: @escaping @Sendable (RESP3Value) -> Void = { _ in },
        onClose: @escaping @Sendable (any Error) -> Void = { _ in }
    ) -> EventLoopFuture<RESP3Connection> {
        let host = configuration.host
        let port = configuration.port
        let reasonPromise = eventLoop.makePromise(of: EventLoopFuture<any Error>.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(configuration.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let reason = try configure(
                        channel, timing: configuration.timing, decoderLimits: configuration.decoderLimits,
                        onPush: onPush, onClose: onClose)
                    reasonPromise.succeed(reason)
                }
            }
        return bootstrap.connect(host: host, port: port)
            .flatMapErrorThrowing { error in
                reasonPromise.fail(error)
                throw RESP3Error.connectFailed(host: host, port: port, reason: "\(error)")
            }
            .flatMap { channel in
                reasonPromise.futureResult.flatMap { reason in
                    handshake(channel: channel, closeReason: reason, configuration: configuration, logger: logger)
                }
            }
    }

    /// Async form of ``connect(configuration:eventLoop:logger:onPush:onClose:)``.
    package static func connect(
        configuration: Configuration,
        eventLoop: any EventLoop,
        logger: Logger = RESP3Client.silentLogger,
        onPush: @escaping @Sendable (RESP3Value) -> Void = { _ in },
        onClose: @escaping @Sendable (any Error) -> Void = { _ in }
    ) async throws -> RESP3Connection {
        try await connect(
            configuration: configuration, eventLoop: eventLoop, logger: logger, onPush: onPush, onClose: onClose
        ).get()
    }

    package static func handshake(
        channel: any Channel, closeReason: EventLoopFuture<any Error>,
        configuration: Configuration, logger: Logger
    ) -> EventLoopFuture<RESP3Connection> {
        let endpoint = "\(configuration.host):\(configuration.port)"
        var hello = RESP3Command("HELLO", "3")
        if let password = configuration.password {
            hello = RESP3Command("HELLO", "3", "AUTH", configuration.username ?? "default", password)
        }
        let bare = RESP3Connection(channel: channel, closeReason: closeReason)
        let setup = configuration.setupCommands
        return bare.sendFuture([hello] + setup)
            .flatMapThrowing { replies -> RESP3Connection in
                let helloReply = replies[0]
                if let message = helloReply.errorMessage {
                    if message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH") || message.contains("AUTH") {
                        throw RESP3Error.handshakeFailed("authentication to \(endpoint) failed: \(message)")
                    }
                    throw RESP3Error.handshakeFailed(
                        "\(endpoint) refused HELLO 3 (a server without RESP3?): \(message)")
                }
                guard case .map = helloReply else {
                    throw RESP3Error.handshakeFailed(
                        "\(endpoint) answered HELLO 3 with \(helloReply), not a RESP3 map")
                }
                for (command, reply) in zip(setup, replies.dropFirst()) {
                    if let message = reply.errorMessage {
                        throw RESP3Error.handshakeFailed(
                            "setup command `\(command)` on \(endpoint) failed: \(message)")
                    }
                }
                logger.debug("RESP3 connection ready", metadata: [
                    "endpoint": "\(endpoint)", "server": "\(helloReply.mapValue(forKey: "version") ?? .null)",
                ])
                return RESP3Connection(channel: channel, closeReason: closeReason, hello: helloReply)
            }
            .flatMapError { error -> EventLoopFuture<RESP3Connection> in
                // Say why the stream ended rather than that it did.
                let explained: EventLoopFuture<any Error>
                if let e = error as? RESP3Error, e == .connectionClosed {
                    explained = closeReason.map { reason -> any Error in
                        switch reason as? RESP3Error {
                        case .protocolError(let m)?:
                            return RESP3Error.protocolError("\(endpoint) does not speak RESP3: \(m)")
                        case .timeout?:
                            return RESP3Error.timeout
                        default:
                            return RESP3Error.handshakeFailed(
                                "\(endpoint) closed the connection during the handshake (\(reason))")
                        }
                    }
                } else {
                    explained = channel.eventLoop.makeSucceededFuture(error)
                }
                return explained.flatMap { e in
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(e)
                }
            }
    }

    /// Sends `commands` in one write and one flush (so they are pipelined and nothing interleaves),
    /// and completes with their replies in order. Fails with ``RESP3Error/connectionClosed`` when
    /// the connection is closed or closes before every reply arrived.
    package func sendFuture(_ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        let promise = channel.eventLoop.makePromise(of: [RESP3Value].self)
        channel.writeAndFlush(RESP3Request(commands: commands, promise: promise)).whenFailure { _ in
            // The handler failed the request already, or never saw it (channel gone).
            promise.fail(RESP3Error.connectionClosed)
        }
        return promise.futureResult
    }

    /// Sends ``RESP3Reads`` of `keys` keys, encoded into `reads`, in one write and one flush, and
    /// completes `promise` with their replies; fails it as ``sendFuture(_:)`` fails.
    package func sendReads(_ reads: ByteBuffer, keys: Int, promise: EventLoopPromise<RESP3ReadReplies>) {
        channel.writeAndFlush(RESP3Request(reads: reads, keys: keys, promise: promise)).whenFailure { _ in
            promise.fail(RESP3Error.connectionClosed)  // as in sendFuture
        }
    }

    /// ``sendReads(_:keys:promise:)`` with a promise of its own.
    package func sendReads(_ reads: ByteBuffer, keys: Int) -> EventLoopFuture<RESP3ReadReplies> {
        let promise = channel.eventLoop.makePromise(of: RESP3ReadReplies.self)
        sendReads(reads, keys: keys, promise: promise)
        return promise.futureResult
    }

    /// Sends `commands` pipelined and returns their replies in order; see ``sendFuture(_:)``.
    package func send(_ commands: [RESP3Command]) async throws -> [RESP3Value] {
        try await sendFuture(commands).get()
    }

    /// Sends one command and returns its reply.
    package func send(_ command: RESP3Command) async throws -> RESP3Value {
        try await sendFuture([command]).get()[0]
    }

    /// Closes the connection: pending requests fail with ``RESP3Error/connectionClosed`` and
    /// `onClose` runs (if it has not already).
    package func closeFuture() -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.close(promise: promise)
        return promise.futureResult.recover { _ in }  // already closed is fine
    }

    /// Async form of ``closeFuture()``.
    package func close() async {
        try? await closeFuture().get()
    }
}

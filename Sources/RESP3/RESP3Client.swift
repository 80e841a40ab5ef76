import Logging
import NIOCore

/// Keeps one RESP3 connection to a Redis server up: connects, reconnects with backoff, checks
/// liveness with a heartbeat, and reports each connection's life as an epoch.
///
/// A connection's *epoch* is the number of connections made before it plus one. The shared tier
/// keys what it learnt from a connection (tracked keys, near-cache entries) to that epoch: when
/// ``Callbacks/onLost`` reports an epoch, invalidations may have been missed, so everything tied to
/// it must be dropped before anything from the next connection is trusted. The callbacks promise
/// that order: for each connection, `onConnected(epoch)` comes after its handshake and setup
/// commands, then its pushes, then `onLost(epoch)` exactly once, and only then anything from its
/// successor. All callbacks run on the client's event loop.
///
/// ``send(_:)`` fails fast with ``RESP3Error/notConnected`` while no connection is ready; a command
/// is never queued to be sent on a later connection (which would not track what the caller thinks
/// it tracks). A connection is lost when it closes, when its stream is not valid RESP3, or when a
/// reply (the heartbeat's `PING` or any other) does not arrive within ``Configuration/heartbeatTimeout``.
///
/// Timers (heartbeat, reply deadline, backoff) are scheduled on the event loop, so an
/// `EmbeddedEventLoop` can drive them in tests.
package final class RESP3Client: @unchecked Sendable {
    // Every stored property but the lets is touched only on `eventLoop`: that is what makes the
    // `@unchecked Sendable` sound.

    /// Where to connect, and the timing of reconnection and liveness checks.
    package struct Configuration: Sendable {
        /// Address, credentials and setup commands of each connection (the setup commands are run
        /// again on every reconnection). Its `timing` is replaced from the heartbeat settings.
        package var connection: RESP3Connection.Configuration
        /// The wait before the first reconnection attempt after a loss or a failed attempt.
        package var reconnectInitialDelay: TimeAmount
        /// The longest wait between attempts; the wait doubles per failed attempt up to it.
        package var reconnectMaxDelay: TimeAmount
        /// The fraction (0...1) of each wait that is randomised away, so that many clients losing
        /// the same server do not reconnect in lockstep.
        package var reconnectJitter: Double
        /// How often a `PING` is sent; `nil` for no heartbeat (the reply deadline still applies).
        package var heartbeatInterval: TimeAmount?
        /// How long a reply may take (the `PING`'s or any other) before the connection is lost.
        package var heartbeatTimeout: TimeAmount
        /// Makes each connection; `nil` connects over TCP with ``RESP3Connection/connect(configuration:eventLoop:logger:onPush:onClose:)``.
        /// Tests pass one that wraps an `EmbeddedChannel`, to script the server byte by byte.
        package var connector: Connector?

        package init(
            connection: RESP3Connection.Configuration,
            reconnectInitialDelay: TimeAmount = .milliseconds(100),
            reconnectMaxDelay: TimeAmount = .seconds(10),
            reconnectJitter: Double = 0.5,
            heartbeatInterval: TimeAmount? = .seconds(1),
            heartbeatTimeout: TimeAmount = .seconds(3)
        ) {
            self.connection = connection
            self.reconnectInitialDelay = reconnectInitialDelay
            self.reconnectMaxDelay = reconnectMaxDelay
            self.reconnectJitter = reconnectJitter
            self.heartbeatInterval = heartbeatInterval
            self.heartbeatTimeout = heartbeatTimeout
        }
    }

    /// Makes one ready connection whose pushes and end go to the two callbacks (see ``Configuration/connector``).
    package typealias Connector = @Sendable (
        _ configuration: RESP3Connection.Configuration, _ eventLoop: any EventLoop,
        _ onPush: @escaping @Sendable (RESP3Value) -> Void, _ onClose: @escaping @Sendable (any Error) -> Void
    ) -> EventLoopFuture<RESP3Connection>

    /// What the client reports; each runs on the client's event loop, in the order described on
    /// ``RESP3Client``.
    package struct Callbacks: Sendable {
        /// A connection completed its handshake and setup commands and is ready for ``RESP3Client/send(_:)``.
        package var onConnected: @Sendable (_ epoch: UInt64) -> Void
        /// The connection of `epoch` is gone (closed, broken, timed out, or ``RESP3Client/close()``).
        package var onLost: @Sendable (_ epoch: UInt64, _ error: any Error) -> Void
        /// A push message arrived on the connection of `epoch`.
        package var onPush: @Sendable (_ epoch: UInt64, _ value: RESP3Value) -> Void
        /// A connection attempt failed (no TCP connection, a refused handshake or setup command);
        /// another attempt follows after the backoff.
        package var onConnectFailed: @Sendable (_ error: any Error) -> Void

        package init(
            onConnected: @escaping @Sendable (_ epoch: UInt64) -> Void = { _ in },
            onLost: @escaping @Sendable (_ epoch: UInt64, _ error: any Error) -> Void = { _, _ in },
            onPush: @escaping @Sendable (_ epoch: UInt64, _ value: RESP3Value) -> Void = { _, _ in },
            onConnectFailed: @escaping @Sendable (_ error: any Error) -> Void = { _ in }
        ) {
            self.onConnected = onConnected
            self.onLost = onLost
            self.onPush = onPush
            self.onConnectFailed = onConnectFailed
        }
    }

    private enum State {
        case idle
        case connecting(attempt: Int, token: UInt64)
        case waiting(attempt: Int, task: Scheduled<Void>)
        case ready(RESP3Connection, epoch: UInt64, token: UInt64)
        case closed
    }

    /// The default logger: silent. The owner injects its own (the library never logs through
    /// the process's global logging set-up on its own account).
    package static let silentLogger = Logger(label: "larder.resp3", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The event loop the client's state, timers and callbacks live on.
    package let eventLoop: any EventLoop
    private let configuration: Configuration
    private let callbacks: Callbacks
    private let logger: Logger
    private var state = State.idle
    private var epoch: UInt64 = 0
    private var nextToken: UInt64 = 0
    /// The token of a connection attempt whose channel closed before its connect future completed.
    private var closedDuringConnect: UInt64?

    package init(
        configuration: Configuration,
        eventLoop: any EventLoop,
        logger: Logger = RESP3Client.silentLogger,
        callbacks: Callbacks
    ) {
        var configuration = configuration
        configuration.connection.timing = .init(
            heartbeatInterval: configuration.heartbeatInterval, replyTimeout: configuration.heartbeatTimeout)
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.callbacks = callbacks
    }

    /// Starts connecting (and keeps reconnecting until ``close()``). Returns at once; readiness is
    /// reported through ``Callbacks/onConnected``.
    package func start() {
        eventLoop.execute {
            guard case .idle = self.state else { return }
            self.connect(attempt: 0)
        }
    }

    /// Sends `commands` pipelined on the current connection and returns their replies in order.
    ///
    /// Throws ``RESP3Error/notConnected`` when no connection is ready, and
    /// ``RESP3Error/connectionClosed`` when the connection is lost before every reply arrived.
    package func send(_ commands: [RESP3Command]) async throws -> [RESP3Value] {
        try await sendFuture(commands).get()
    }

    /// Sends one command; see ``send(_:)``.
    package func send(_ command: RESP3Command) async throws -> RESP3Value {
        try await sendFuture([command]).get()[0]
    }

    /// Future form of ``send(_:)``, with the epoch of the connection the commands went out on (so
    /// a caller can tell which connection's tracking covers the replies).
    package func sendWithEpoch(_ commands: [RESP3Command]) -> EventLoopFuture<(epoch: UInt64, replies: [RESP3Value])> {
        eventLoop.flatSubmit {
            guard case .ready(let connection, let epoch, _) = self.state else {
                return self.eventLoop.makeFailedFuture(RESP3Error.notConnected)
            }
            return connection.sendFuture(commands).map { (epoch, $0) }
        }
    }

    /// Future form of ``send(_:)``.
    package func sendFuture(_ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        sendWithEpoch(commands).map(\.replies)
    }

    /// ``RESP3Reads`` of `keys` keys, encoded into `reads`, on the current connection; `promise`
    /// completes with their replies, or fails as ``send(_:)``. Called on the client's event loop
    /// it writes at once (no hop).
    package func sendReads(_ reads: ByteBuffer, keys: Int, promise: EventLoopPromise<RESP3ReadReplies>) {
        guard eventLoop.inEventLoop else {
            return eventLoop.execute { self.sendReads(reads, keys: keys, promise: promise) }
        }
        guard case .ready(let connection, _, _) = state else {
            return promise.fail(RESP3Error.notConnected)
        }
        connection.sendReads(reads, keys: keys, promise: promise)
    }

    /// The epoch of the ready connection, or `nil` while none is ready.
    package func currentEpoch() -> EventLoopFuture<UInt64?> {
        eventLoop.submit {
            if case .ready(_, let epoch, _) = self.state { return epoch }
            return nil
        }
    }

    /// Stops reconnecting and closes the connection; a ready connection's `onLost` runs (with
    /// ``RESP3Error/connectionClosed``) before this returns. Later calls do nothing.
    package func close() async {
        try? await closeFuture().get()
    }

    /// Future form of ``close()``.
    package func closeFuture() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let previous = self.state
            self.state = .closed
            switch previous {
            case .ready(let connection, let epoch, _):
                self.callbacks.onLost(epoch, RESP3Error.connectionClosed)
                return connection.closeFuture()
            case .waiting(_, let task):
                task.cancel()
            case .idle, .connecting, .closed:
                break
            }
            return self.eventLoop.makeSucceededVoidFuture()
        }
    }

    // MARK: - On the event loop

    private func connect(attempt: Int) {
        eventLoop.preconditionInEventLoop()
        nextToken += 1
        let token = nextToken
        state = .connecting(attempt: attempt, token: token)
        let onPush: @Sendable (RESP3Value) -> Void = { value in self.pushed(value, token: token) }
        let onClose: @Sendable (any Error) -> Void = { error in self.closed(error, token: token) }
        let connecting = configuration.connector.map { $0(configuration.connection, eventLoop, onPush, onClose) }
            ?? RESP3Connection.connect(
                configuration: configuration.connection, eventLoop: eventLoop, logger: logger,
                onPush: onPush, onClose: onClose)
        connecting.whenComplete { result in
            self.connectCompleted(result, attempt: attempt, token: token)
        }
    }

    private func connectCompleted(_ result: Result<RESP3Connection, any Error>, attempt: Int, token: UInt64) {
        guard case .connecting(_, let current) = state, current == token else {
            // Closed (or superseded) meanwhile: a connection that made it is not wanted.
            if case .success(let connection) = result { connection.channel.close(promise: nil) }
            return
        }
        switch result {
        case .success(let connection) where closedDuringConnect != token:
            epoch += 1
            state = .ready(connection, epoch: epoch, token: token)
            logger.debug("RESP3 connected", metadata: ["epoch": "\(epoch)"])
            callbacks.onConnected(epoch)
        case .success:
            logger.debug("RESP3 connection closed right after its handshake")
            scheduleReconnect(attempt: attempt + 1)
        case .failure(let error):
            logger.debug("RESP3 connect failed", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            scheduleReconnect(attempt: attempt + 1)
            callbacks.onConnectFailed(error)
        }
    }

    private func pushed(_ value: RESP3Value, token: UInt64) {
        guard case .ready(_, let epoch, let current) = state, current == token else {
            logger.debug("RESP3 push dropped (no ready connection)", metadata: ["push": "\(value)"])
            return
        }
        callbacks.onPush(epoch, value)
    }

    private func closed(_ error: any Error, token: UInt64) {
        switch state {
        case .ready(_, let epoch, let current) where current == token:
            logger.debug("RESP3 connection lost", metadata: ["epoch": "\(epoch)", "error": "\(error)"])
            // Not ready any more before the caller hears of it: a send from onLost fails fast.
            scheduleReconnect(attempt: 0)
            callbacks.onLost(epoch, error)
        case .connecting(_, let current) where current == token:
            closedDuringConnect = token
        default:
            break
        }
    }

    private func scheduleReconnect(attempt: Int) {
        if case .closed = state { return }
        let delay = backoff(attempt: attempt)
        let task = eventLoop.scheduleTask(in: delay) {
            guard case .waiting = self.state else { return }
            self.connect(attempt: attempt)
        }
        state = .waiting(attempt: attempt, task: task)
    }

    private func backoff(attempt: Int) -> TimeAmount {
        Self.backoffDelay(
            attempt: attempt, initial: configuration.reconnectInitialDelay,
            maximum: configuration.reconnectMaxDelay, jitter: configuration.reconnectJitter,
            random: Double.random(in: 0..<1))
    }

    /// The wait before reconnection attempt `attempt` (0 for the first): `initial * 2^attempt`,
    /// capped at `maximum`, less `jitter * random` of it (`random` in `0..<1`), so that the wait is
    /// never longer than the cap and never shorter than `(1 - jitter)` of the uncapped-by-jitter wait.
    static func backoffDelay(
        attempt: Int, initial: TimeAmount, maximum: TimeAmount, jitter: Double, random: Double
    ) -> TimeAmount {
        let initial = max(initial.nanoseconds, 1)
        let cap = max(maximum.nanoseconds, initial)
        let shift = min(max(attempt, 0), 62)
        let base = initial > cap >> shift ? cap : min(cap, initial << shift)
        let fraction = min(max(jitter, 0), 1) * min(max(random, 0), 1)
        return .nanoseconds(base - Int64(Double(base) * fraction))
    }
}

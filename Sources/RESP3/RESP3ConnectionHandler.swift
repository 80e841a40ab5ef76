import NIOCore

/// A batch of commands written together, and the promise of their replies in order.
///
/// This is what ``RESP3ConnectionHandler`` accepts as its outbound message: the commands are
/// encoded into one buffer and flushed once, so a batch is pipelined and nothing else written on
/// the channel can land between its commands.
package struct RESP3Request: Sendable {
    /// The commands, in the order they are sent and their replies are returned.
    package var commands: [RESP3Command]
    /// Completed with one reply per command, or failed with ``RESP3Error/connectionClosed``.
    package var promise: EventLoopPromise<[RESP3Value]>

    package init(commands: [RESP3Command], promise: EventLoopPromise<[RESP3Value]>) {
        self.commands = commands
        self.promise = promise
    }
}

/// Pairs replies with the requests that asked for them, hands pushes over, and keeps the
/// connection honest with a heartbeat and a reply deadline.
///
/// Redis answers commands in the order it received them, so a FIFO of pending requests is enough
/// to match replies; a push (`>`) is not a reply and goes to ``Callbacks/onPush`` instead. Both
/// happen synchronously, on the event loop, in wire order: when a push follows reply R on the wire,
/// R's promise has been completed before `onPush` runs, and no later reply is delivered before it.
/// The shared tier relies on this to order an invalidation relative to the value it invalidates.
///
/// The connection ends at most once. Whatever ends it (EOF, an I/O error, a protocol error from
/// ``RESP3Decoder``, a reply deadline passed, or a close asked for), every pending request fails
/// with ``RESP3Error/connectionClosed`` and then ``Callbacks/onClose`` runs, once, on the event
/// loop, before the handler does anything else.
package final class RESP3ConnectionHandler: ChannelDuplexHandler {
    package typealias InboundIn = RESP3Value
    package typealias OutboundIn = RESP3Request
    package typealias OutboundOut = ByteBuffer

    /// Timing of the liveness checks; both are optional.
    package struct Timing: Hashable, Sendable {
        /// A `PING` is sent this often while the connection is open, so a dead peer (a paused or
        /// unreachable server that TCP would only notice much later) shows up as a missed reply.
        package var heartbeatInterval: TimeAmount?
        /// While a request is pending, a reply (or at least some bytes of one) must arrive within
        /// this long of the previous one (or of the request, when nothing was pending), or the
        /// connection is closed with ``RESP3Error/timeout``.
        package var replyTimeout: TimeAmount?

        package init(heartbeatInterval: TimeAmount? = nil, replyTimeout: TimeAmount? = nil) {
            self.heartbeatInterval = heartbeatInterval
            self.replyTimeout = replyTimeout
        }
    }

    /// What the handler reports; each runs on the channel's event loop.
    package struct Callbacks: Sendable {
        /// A push message, in wire order relative to replies.
        package var onPush: @Sendable (RESP3Value) -> Void
        /// The connection ended, with why: ``RESP3Error/connectionClosed`` for EOF or a requested
        /// close, ``RESP3Error/timeout``, ``RESP3Error/protocolError(_:)``, or the I/O error.
        package var onClose: @Sendable (any Error) -> Void

        package init(
            onPush: @escaping @Sendable (RESP3Value) -> Void = { _ in },
            onClose: @escaping @Sendable (any Error) -> Void = { _ in }
        ) {
            self.onPush = onPush
            self.onClose = onClose
        }
    }

    private struct Pending {
        var expected: Int
        let promise: EventLoopPromise<[RESP3Value]>
    }

    private enum State { case idle, active, closed }

    private let timing: Timing
    private let callbacks: Callbacks
    private var pending = CircularBuffer<Pending>()
    /// The replies of the oldest pending request received so far.
    private var headReplies: [RESP3Value] = []
    private var state = State.idle
    private var heartbeatTask: Scheduled<Void>?
    private var deadlineTask: Scheduled<Void>?
    /// When the oldest pending request last made progress (was sent onto an idle connection, or
    /// received a reply).
    private var lastProgress = NIODeadline.uptimeNanoseconds(0)
    private var context: ChannelHandlerContext?
    private let closePromiseValue: EventLoopPromise<any Error>?

    /// - Parameters:
    ///   - timing: heartbeat and reply deadline.
    ///   - callbacks: push and close notifications.
    ///   - closeReason: completed with the reason the connection ended, when it ends (so that a
    ///     caller whose request failed with ``RESP3Error/connectionClosed`` can tell why).
    package init(timing: Timing = Timing(), callbacks: Callbacks = Callbacks(),
                 closeReason: EventLoopPromise<any Error>? = nil) {
        self.timing = timing
        self.callbacks = callbacks
        self.closePromiseValue = closeReason
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { activate(context: context) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        shutDown(reason: RESP3Error.connectionClosed, context: context, closeChannel: false)
        self.context = nil
    }

    package func channelActive(context: ChannelHandlerContext) {
        activate(context: context)
        context.fireChannelActive()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        shutDown(reason: RESP3Error.connectionClosed, context: context, closeChannel: false)
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        shutDown(reason: error, context: context, closeChannel: true)
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed else { return }
        let value = unwrapInboundIn(data)
        if case .push = value {
            callbacks.onPush(value)
            return
        }
        guard !pending.isEmpty else {
            shutDown(reason: RESP3Error.protocolError("a reply arrived with no command pending: \(value)"),
                     context: context, closeChannel: true)
            return
        }
        lastProgress = context.eventLoop.now
        // The oldest request's replies gather here, not in its CircularBuffer element: appending
        // through the buffer's subscript copies the array each time (quadratic in a pipeline).
        if headReplies.isEmpty { headReplies.reserveCapacity(pending[pending.startIndex].expected) }
        headReplies.append(value)
        if headReplies.count == pending[pending.startIndex].expected {
            let done = pending.removeFirst()
            let replies = headReplies
            headReplies = []
            done.promise.succeed(replies)
        }
    }

    /// Bytes arrived (the decoder passes every read's end on, whole value or not): a server that is
    /// still streaming a large reply is alive, so this counts as progress for the reply deadline.
    package func channelReadComplete(context: ChannelHandlerContext) {
        if state == .active && !pending.isEmpty { lastProgress = context.eventLoop.now }
        context.fireChannelReadComplete()
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        // The connect promise completes before channelActive reaches the handler, so the first
        // write (HELLO) may come first.
        if state == .idle && context.channel.isActive { activate(context: context) }
        guard state == .active else {
            request.promise.fail(RESP3Error.connectionClosed)
            promise?.fail(RESP3Error.connectionClosed)
            return
        }
        enqueue(request, context: context, writePromise: promise)
    }

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all {
            shutDown(reason: RESP3Error.connectionClosed, context: context, closeChannel: false)
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: - Internals

    private func enqueue(_ request: RESP3Request, context: ChannelHandlerContext, writePromise: EventLoopPromise<Void>?) {
        if request.commands.isEmpty {
            request.promise.succeed([])
            writePromise?.succeed(())
            return
        }
        if pending.isEmpty { lastProgress = context.eventLoop.now }
        pending.append(Pending(expected: request.commands.count, promise: request.promise))
        var buffer = context.channel.allocator.buffer(
            capacity: request.commands.reduce(0) { $0 + $1.encodedLength })
        for command in request.commands { command.encode(into: &buffer) }
        context.write(wrapOutboundOut(buffer), promise: writePromise)
        armDeadline(context: context)
    }

    private func activate(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .active
        scheduleHeartbeat(context: context)
    }

    private func scheduleHeartbeat(context: ChannelHandlerContext) {
        guard let interval = timing.heartbeatInterval, state == .active else { return }
        heartbeatTask = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [self] in
            guard state == .active, let context = self.context else { return }
            let promise = context.eventLoop.makePromise(of: [RESP3Value].self)
            promise.futureResult.whenFailure { _ in }  // a lost PING is reported through onClose
            enqueue(RESP3Request(commands: [RESP3Command("PING")], promise: promise),
                    context: context, writePromise: nil)
            context.flush()
            scheduleHeartbeat(context: context)
        }
    }

    /// Makes sure a deadline check is scheduled while anything is pending.
    private func armDeadline(context: ChannelHandlerContext) {
        guard let timeout = timing.replyTimeout, deadlineTask == nil, !pending.isEmpty else { return }
        deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastProgress + timeout) { [self] in
            deadlineTask = nil
            guard state == .active, !pending.isEmpty, let context = self.context else { return }
            if context.eventLoop.now >= lastProgress + timeout {
                shutDown(reason: RESP3Error.timeout, context: context, closeChannel: true)
            } else {
                armDeadline(context: context)
            }
        }
    }

    private func shutDown(reason: any Error, context: ChannelHandlerContext, closeChannel: Bool) {
        guard state != .closed else { return }
        state = .closed
        heartbeatTask?.cancel()
        heartbeatTask = nil
        deadlineTask?.cancel()
        deadlineTask = nil
        // The reason is recorded and reported first, so a caller whose request fails below can
        // already read it (and the owner has already marked the connection gone).
        closePromiseValue?.succeed(reason)
        let failed = pending
        pending.removeAll()
        headReplies = []
        callbacks.onClose(reason)
        for request in failed { request.promise.fail(RESP3Error.connectionClosed) }
        if closeChannel { context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension RESP3ConnectionHandler: Sendable {}

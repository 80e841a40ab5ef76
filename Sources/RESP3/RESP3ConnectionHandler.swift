import NIOCore

/// A batch of commands written together, and the promise of their replies in order.
///
/// This is what ``RESP3ConnectionHandler`` accepts as its outbound message: the commands are
/// encoded into one buffer and flushed once, so a batch is pipelined and nothing else written on
/// the channel can land between its commands.
package struct RESP3Request: Sendable {
    /// What is sent, and what its replies complete.
    package enum Payload: Sendable {
        /// Commands; completed with one reply per command.
        case commands([RESP3Command], EventLoopPromise<[RESP3Value]>)
        /// ``RESP3Reads`` of `keys` keys, already encoded; completed with their replies.
        case reads(ByteBuffer, keys: Int, EventLoopPromise<RESP3ReadReplies>)
    }

    package var payload: Payload

    /// Commands whose replies complete `promise` (or which fail it with ``RESP3Error/connectionClosed``).
    package init(commands: [RESP3Command], promise: EventLoopPromise<[RESP3Value]>) {
        self.payload = .commands(commands, promise)
    }

    /// The reads of `keys` keys (`MGET`, then a `PTTL` each), encoded by ``RESP3Reads/encode(_:into:)`` into `reads`.
    package init(reads: ByteBuffer, keys: Int, promise: EventLoopPromise<RESP3ReadReplies>) {
        self.payload = .reads(reads, keys: keys, promise)
    }

    func fail(_ error: any Error) {
        switch payload {
        case .commands(_, let promise): promise.fail(error)
        case .reads(_, _, let promise): promise.fail(error)
        }
    }
}

/// Reads the server's bytes, pairs replies with the requests that asked for them, hands pushes
/// over, and keeps the connection honest with a heartbeat and a reply deadline.
///
/// Replies are decoded here rather than by a decoder in front of the handler: for a batch of
/// ``RESP3Reads`` the handler knows what shape the next reply should have and parses the usual
/// shapes straight into ``RESP3ReadReplies``; everything else goes through ``RESP3Decoder``.
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
    package typealias InboundIn = ByteBuffer
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

    private enum Pending {
        case values(expected: Int, promise: EventLoopPromise<[RESP3Value]>)
        case reads(keys: Int, promise: EventLoopPromise<RESP3ReadReplies>)

        func fail(_ error: any Error) {
            switch self {
            case .values(_, let promise): promise.fail(error)
            case .reads(_, let promise): promise.fail(error)
            }
        }
    }

    private enum State { case idle, active, closed }

    private let timing: Timing
    private let callbacks: Callbacks
    private var pending = CircularBuffer<Pending>()
    /// The replies of the oldest pending request received so far (one of the two, by its kind).
    private var headReplies: [RESP3Value] = []
    private var headReads = RESP3ReadReplies(keys: 0)
    private var decoder: RESP3Decoder
    private let maxBlobLength: Int
    /// Bytes read and not decoded yet (a reply that has not fully arrived).
    private var inbound: ByteBuffer?
    private var decoding = false
    /// Replies handled so far (wrapping): tells a read that brought replies from one that did not.
    private var repliesRead = 0
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
    ///   - decoderLimits: bounds on what the server's byte stream may make the decoder hold.
    package init(timing: Timing = Timing(), callbacks: Callbacks = Callbacks(),
                 closeReason: EventLoopPromise<any Error>? = nil, decoderLimits: RESP3Decoder.Limits = .default) {
        self.decoder = RESP3Decoder(limits: decoderLimits)
        self.maxBlobLength = decoderLimits.maxBlobLength
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
        var incoming = unwrapInboundIn(data)
        guard state != .closed else { return }
        if inbound == nil { inbound = incoming } else { inbound!.writeBuffer(&incoming) }
        // A callback below may feed the channel again (a test's EmbeddedChannel): the loop below
        // reads those bytes after the ones before them.
        guard !decoding else { return }
        decoding = true
        defer { decoding = false }
        var buffer = inbound!
        inbound = nil
        let before = repliesRead
        while true {
            do {
                try decodeAll(&buffer, context: context)
            } catch {
                shutDown(reason: error, context: context, closeChannel: true)
                return
            }
            guard state != .closed else { return }
            guard var more = inbound else { break }
            inbound = nil
            buffer.writeBuffer(&more)
        }
        // Replies arrived: progress (the clock is read once per read, not once per reply).
        if repliesRead != before { lastProgress = context.eventLoop.now }
        guard buffer.readableBytes > 0 else { return }
        // Keep the partial reply; moving it costs no more than what this read consumed.
        if buffer.readerIndex >= buffer.readableBytes { buffer.discardReadBytes() }
        inbound = buffer
    }

    /// Decodes every whole reply and push in `buffer`, in wire order.
    private func decodeAll(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) throws {
        while state != .closed {
            if !decoder.isMidValue, case .reads(let keys, let promise)? = pending.first {
                if headReads.keys != keys { headReads = RESP3ReadReplies(keys: keys) }
                switch headReads.parseNext(from: &buffer, maxBlobLength: maxBlobLength) {
                case .added:
                    repliesRead &+= 1
                    if headReads.isComplete { completeReads(promise) }
                    continue
                case .needMore:
                    return
                case .unusual:
                    break  // the general decoder reads it (or rejects it)
                }
            }
            guard let value = try decoder.decode(buffer: &buffer) else { return }
            received(value, context: context)
        }
    }

    private func completeReads(_ promise: EventLoopPromise<RESP3ReadReplies>) {
        pending.removeFirst()
        let replies = headReads
        headReads = RESP3ReadReplies(keys: 0)
        promise.succeed(replies)
    }

    private func received(_ value: RESP3Value, context: ChannelHandlerContext) {
        // A push inside the MGET reply's array is an element of it (as a general decoder reads
        // the stream), not a push: Redis never sends one there.
        if case .push = value, !headReads.isInArray {
            callbacks.onPush(value)
            return
        }
        guard let head = pending.first else {
            shutDown(reason: RESP3Error.protocolError("a reply arrived with no command pending: \(value)"),
                     context: context, closeChannel: true)
            return
        }
        repliesRead &+= 1
        switch head {
        case .values(let expected, let promise):
            // The oldest request's replies gather here, not in its CircularBuffer element: appending
            // through the buffer's subscript copies the array each time (quadratic in a pipeline).
            if headReplies.isEmpty { headReplies.reserveCapacity(expected) }
            headReplies.append(value)
            if headReplies.count == expected {
                pending.removeFirst()
                let replies = headReplies
                headReplies = []
                promise.succeed(replies)
            }
        case .reads(let keys, let promise):
            if headReads.keys != keys { headReads = RESP3ReadReplies(keys: keys) }
            headReads.add(value)
            if headReads.isComplete { completeReads(promise) }
        }
    }

    /// Bytes arrived (a whole reply or not): a server that is
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
            request.fail(RESP3Error.connectionClosed)
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
        switch request.payload {
        case .commands(let commands, let promise):
            if commands.isEmpty {
                promise.succeed([])
                writePromise?.succeed(())
                return
            }
            if pending.isEmpty { lastProgress = context.eventLoop.now }
            pending.append(.values(expected: commands.count, promise: promise))
            var buffer = context.channel.allocator.buffer(capacity: commands.reduce(0) { $0 + $1.encodedLength })
            for command in commands { command.encode(into: &buffer) }
            context.write(wrapOutboundOut(buffer), promise: writePromise)
        case .reads(let buffer, let keys, let promise):
            if keys == 0 {
                promise.succeed(RESP3ReadReplies(keys: 0))
                writePromise?.succeed(())
                return
            }
            if pending.isEmpty { lastProgress = context.eventLoop.now }
            pending.append(.reads(keys: keys, promise: promise))
            context.write(wrapOutboundOut(buffer), promise: writePromise)
        }
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
        headReads = RESP3ReadReplies(keys: 0)
        inbound = nil
        callbacks.onClose(reason)
        for request in failed { request.fail(RESP3Error.connectionClosed) }
        if closeChannel { context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension RESP3ConnectionHandler: Sendable {}

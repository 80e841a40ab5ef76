import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import RESP3

/// A thread-safe list that callbacks and future completions append to, so a test can assert the
/// order in which things happened.
final class EventLog<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

/// The result of a future that has already completed (on an `EmbeddedEventLoop`, completion is
/// synchronous); `nil` while it has not.
func completedResult<T: Sendable>(_ future: EventLoopFuture<T>) -> Result<T, any Error>? {
    let box = Mutex<Result<T, any Error>?>(nil)
    future.whenComplete { result in box.withLock { $0 = result } }
    return box.withLock { $0 }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

func buffer(_ b: some Sequence<UInt8>) -> ByteBuffer { ByteBuffer(bytes: b) }

func blob(_ s: String) -> RESP3Value { .blobString(Array(s.utf8)) }

/// An `EmbeddedChannel` with the decoder and a connection handler, connected, wrapped in a
/// ``RESP3Connection`` (no handshake).
func makeEmbeddedConnection(
    timing: RESP3ConnectionHandler.Timing = .init(),
    onPush: @escaping @Sendable (RESP3Value) -> Void = { _ in },
    onClose: @escaping @Sendable (any Error) -> Void = { _ in }
) throws -> (EmbeddedChannel, RESP3Connection) {
    let channel = EmbeddedChannel()
    let reason = try RESP3Connection.configure(channel, timing: timing, onPush: onPush, onClose: onClose)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
    return (channel, RESP3Connection(channel: channel, closeReason: reason))
}

/// Runs `body`, failing with a clear message when it takes longer than `seconds` (a deadline for
/// an event that should come, not a stand-in for synchronisation).
func withDeadline<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(what: what, seconds: seconds)
        }
        return value
    }
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    var what: String
    var seconds: Double
    var description: String { "timed out after \(seconds) s waiting for \(what)" }
}

/// Events from callbacks, consumed in order by a test: `next` returns the oldest event not yet
/// taken, waiting for it up to a deadline.
final class EventStream<Event: Sendable>: Sendable {
    private struct State {
        var events: [Event] = []
        var waiter: (id: Int, continuation: CheckedContinuation<Event, any Error>)?
        var expired: Set<Int> = []
        var nextID = 0
    }

    private let state = Mutex(State())

    init() {}

    func yield(_ event: Event) {
        let waiter = state.withLock { s -> CheckedContinuation<Event, any Error>? in
            if let w = s.waiter {
                s.waiter = nil
                return w.continuation
            }
            s.events.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// Events that arrived and were not taken yet.
    var pending: [Event] { state.withLock { $0.events } }

    /// The next event, or a ``DeadlineExceeded`` after `seconds`.
    func next(within seconds: Double = 10, _ what: String = "the next event") async throws -> Event {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        let timer = Task {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            self.expire(id, DeadlineExceeded(what: what, seconds: seconds))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            // nil: wait for yield or expire to resume the continuation.
            let now = state.withLock { s -> Result<Event, any Error>? in
                if !s.events.isEmpty { return .success(s.events.removeFirst()) }
                if s.expired.contains(id) { return .failure(DeadlineExceeded(what: what, seconds: seconds)) }
                s.waiter = (id, continuation)
                return nil
            }
            if let now { continuation.resume(with: now) }
        }
    }

    private func expire(_ id: Int, _ error: DeadlineExceeded) {
        let waiter = state.withLock { s -> CheckedContinuation<Event, any Error>? in
            guard let w = s.waiter, w.id == id else {
                s.expired.insert(id)
                return nil
            }
            s.waiter = nil
            return w.continuation
        }
        waiter?.resume(throwing: error)
    }
}

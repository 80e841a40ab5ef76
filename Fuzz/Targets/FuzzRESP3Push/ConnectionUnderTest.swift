import NIOCore
import NIOEmbedded
import RESP3

/// The shared tier's connection pipeline (decoder and handler, as RESP3Connection.configure builds
/// it) on an EmbeddedChannel with requests pending, recording where every value went.
final class ConnectionUnderTest {
    /// What the callbacks and promises saw. Everything runs on the embedded loop, in this thread.
    final class Outcome: @unchecked Sendable {
        var pushes: [RESP3Value] = []
        var results: [Result<[RESP3Value], any Error>?]
        var closes = 0

        init(requests: Int) { results = Array(repeating: nil, count: requests) }
    }

    private let channel = EmbeddedChannel()
    private let outcome: Outcome

    init(requests: [Int]) {
        let outcome = Outcome(requests: requests.count)
        self.outcome = outcome
        do {
            _ = try RESP3Connection.configure(channel, timing: .init(),
                                              onPush: { outcome.pushes.append($0) },
                                              onClose: { _ in outcome.closes += 1 })
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        } catch {
            fatalError("cannot set up the channel: \(error)")
        }
        for (i, count) in requests.enumerated() {
            let promise = channel.eventLoop.makePromise(of: [RESP3Value].self)
            promise.futureResult.whenComplete { outcome.results[i] = $0 }
            let commands = (0..<count).map { _ in RESP3Command("GET", "k") }
            channel.write(RESP3Request(commands: commands, promise: promise), promise: nil)
        }
        channel.flush()
    }

    func receive(_ bytes: ArraySlice<UInt8>) {
        // A closed channel refuses further reads; what it did with the earlier ones is the point.
        _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    /// Closes the connection (EOF) and reports what happened. A connection the handler closed is
    /// accepted as closed: the loop must still run the pipeline's teardown, or the channel and
    /// its handlers stay alive in a cycle.
    func finish() -> Outcome {
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return outcome
    }
}

import NIOCore
import NIOEmbedded
import Testing

@testable import RESP3

@Suite("RESP3ConnectionHandler")
struct RESP3ConnectionHandlerTests {
    @Test func pipelinedCommandsAreOneWriteAndRepliesComeBackInOrder() throws {
        let (channel, connection) = try makeEmbeddedConnection()
        let future = connection.sendFuture([
            RESP3Command("SET", "k", [UInt8]([0, 13, 10]), "PX", 500),
            RESP3Command("GET", "k"),
            RESP3Command("PTTL", "k"),
        ])
        let written = try channel.readOutbound(as: ByteBuffer.self)
        #expect(written == buffer(
            "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\u{0}\r\n\r\n$2\r\nPX\r\n$3\r\n500\r\n"
                + "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                + "*2\r\n$4\r\nPTTL\r\n$1\r\nk\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "one write for the whole batch")

        try channel.writeInbound(buffer("+OK\r\n$3\r\n\u{0}\r\n\r\n"))
        #expect(completedResult(future) == nil, "two of three replies")
        try channel.writeInbound(buffer(":499\r\n"))
        let replies = try completedResult(future)?.get()
        #expect(replies == [.simpleString("OK"), .blobString([0, 13, 10]), .integer(499)])
        #expect(channel.isActive)
    }

    @Test func errorRepliesAreValuesAndBatchesMatchTheirOwnReplies() throws {
        let (channel, connection) = try makeEmbeddedConnection()
        let first = connection.sendFuture([RESP3Command("INCR", "s"), RESP3Command("GET", "missing")])
        let second = connection.sendFuture([RESP3Command("PING")])
        let empty = connection.sendFuture([])
        #expect(try completedResult(empty)?.get() == [])
        try channel.writeInbound(buffer("-ERR value is not an integer\r\n_\r\n+PONG\r\n"))
        #expect(try completedResult(first)?.get() == [.simpleError("ERR value is not an integer"), .null])
        #expect(try completedResult(second)?.get() == [.simpleString("PONG")])
        #expect(channel.isActive)
    }

    @Test func pushesAreHandedOverInWireOrderBetweenReplies() throws {
        let wire = bytes("+r1\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n+r2\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n")
        for cut in 0...wire.count {
            let log = EventLog<String>()
            let (channel, connection) = try makeEmbeddedConnection(onPush: { value in
                log.append("push \(value.elements?.last ?? .null)")
            })
            connection.sendFuture([RESP3Command("GET", "k")]).whenSuccess { replies in
                log.append("reply \(replies[0])")
            }
            connection.sendFuture([RESP3Command("GET", "j")]).whenSuccess { replies in
                log.append("reply \(replies[0])")
            }
            try channel.writeInbound(buffer(wire[..<cut]))
            try channel.writeInbound(buffer(wire[cut...]))
            #expect(log.all == ["reply r1", "push [\"k\"]", "reply r2", "push (nil)"], "split at \(cut)")
        }
    }

    @Test func closeFailsEveryPendingRequestAndReportsOnce() throws {
        for ending in ["eof", "close", "protocol error", "reply with nothing pending"] {
            let closes = EventLog<String>()
            let (channel, connection) = try makeEmbeddedConnection(onClose: { error in
                closes.append("\(error)")
            })
            let outcomes = EventLog<String>()
            var futures: [EventLoopFuture<[RESP3Value]>] = []
            if ending != "reply with nothing pending" {
                for i in 0..<3 {
                    let f = connection.sendFuture([RESP3Command("GET", "k\(i)")])
                    f.whenFailure { error in outcomes.append("\(i): \(error)") }
                    futures.append(f)
                }
            }
            switch ending {
            case "eof": channel.pipeline.fireChannelInactive()
            case "close": try channel.close().wait()
            case "protocol error": try channel.writeInbound(buffer("HTTP/1.1 200 OK\r\n"))
            default: try channel.writeInbound(buffer("+surprise\r\n"))
            }
            let closed = RESP3Error.connectionClosed
            if ending != "reply with nothing pending" {
                #expect(outcomes.all == ["0: \(closed)", "1: \(closed)", "2: \(closed)"], "\(ending)")
            }
            #expect(closes.count == 1, "\(ending): \(closes.all)")
            switch ending {
            case "protocol error": #expect(closes.all.first?.contains("type byte 0x48") == true)
            case "reply with nothing pending": #expect(closes.all.first?.contains("no command pending") == true)
            default: #expect(closes.all == ["\(closed)"])
            }
            // Later events change nothing, and a send on the closed connection fails at once.
            channel.pipeline.fireChannelInactive()
            _ = try? channel.close().wait()
            #expect(closes.count == 1, "\(ending): onClose once")
            let late = connection.sendFuture([RESP3Command("PING")])
            #expect(failure(completedResult(late)) == .connectionClosed, "\(ending)")
        }
    }

    @Test func heartbeatPingsAndAMissingReplyClosesTheConnection() throws {
        let closes = EventLog<String>()
        let (channel, connection) = try makeEmbeddedConnection(
            timing: .init(heartbeatInterval: .seconds(1), replyTimeout: .milliseconds(500)),
            onClose: { error in closes.append("\(error)") })
        let ping = buffer("*1\r\n$4\r\nPING\r\n")

        // Answered heartbeats keep it open: a PING each second, each answered after 499 ms.
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        for _ in 0..<3 {
            #expect(try channel.readOutbound(as: ByteBuffer.self) == ping)
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(499))
            try channel.writeInbound(buffer("+PONG\r\n"))
            #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(501))
        }
        #expect(channel.isActive)
        #expect(closes.count == 0)

        // The fourth PING (just sent) is not answered: 500 ms later the connection is lost, and a
        // request pending behind the PING fails.
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ping)
        let pending = connection.sendFuture([RESP3Command("GET", "k")])
        #expect(try channel.readOutbound(as: ByteBuffer.self) == buffer("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(499))
        #expect(channel.isActive)
        #expect(completedResult(pending) == nil)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect(closes.all == ["\(RESP3Error.timeout)"])
        #expect(failure(completedResult(pending)) == .connectionClosed)

        // No more heartbeats after the close.
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test func theReplyDeadlineRunsFromTheLastReply() throws {
        let closes = EventLog<String>()
        let (channel, connection) = try makeEmbeddedConnection(
            timing: .init(replyTimeout: .milliseconds(100)), onClose: { error in closes.append("\(error)") })
        let batch = connection.sendFuture([RESP3Command("GET", "a"), RESP3Command("GET", "b"), RESP3Command("GET", "c")])
        // Replies 80 ms apart: each within 100 ms of the previous one, 240 ms in all.
        for reply in ["+a\r\n", "+b\r\n", "+c\r\n"] {
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(80))
            try channel.writeInbound(buffer(reply))
        }
        #expect(try completedResult(batch)?.get().count == 3)
        // A reply streaming in slowly (bytes every 80 ms, 160 ms in all) is progress too.
        let slow = connection.sendFuture([RESP3Command("GET", "big")])
        for part in ["$10\r\n01234", "56789\r\n"] {
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(80))
            try channel.writeInbound(buffer(part))
        }
        #expect(try completedResult(slow)?.get() == [blob("0123456789")])
        // Idle (nothing pending): no deadline.
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(channel.isActive)
        #expect(closes.count == 0)
    }
}

/// The RESP3Error a completed future failed with; `nil` when it succeeded, has not completed, or
/// failed with another error.
func failure<T>(_ result: Result<T, any Error>?) -> RESP3Error? {
    guard case .failure(let error)? = result else { return nil }
    return error as? RESP3Error
}

@Suite("RESP3Client backoff")
struct RESP3ClientBackoffTests {
    @Test func theWaitDoublesUpToTheCapAndJitterOnlyShortensIt() {
        func delay(_ attempt: Int, jitter: Double = 0, random: Double = 0) -> TimeAmount {
            RESP3Client.backoffDelay(
                attempt: attempt, initial: .milliseconds(100), maximum: .seconds(2), jitter: jitter, random: random)
        }
        #expect((0..<7).map { delay($0) } == [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
            .milliseconds(1600), .seconds(2), .seconds(2),
        ])
        #expect(delay(1_000) == .seconds(2), "no overflow for a long outage")
        #expect(delay(2, jitter: 0.5, random: 0.999) > .milliseconds(200))
        #expect(delay(2, jitter: 0.5, random: 0.5) == .milliseconds(300))
        #expect(delay(9, jitter: 1, random: 0.25) == .milliseconds(1500))
    }
}

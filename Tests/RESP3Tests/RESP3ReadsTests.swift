import NIOCore
import NIOEmbedded
import Testing

@testable import RESP3

/// Batches of reads (`MGET`, then a `PTTL` per key): their encoding, and their replies parsed by
/// the connection handler straight from the bytes, whatever the reads cut them into and whatever
/// else the server puts between them.
@Suite("RESP3Reads")
struct RESP3ReadsTests {
    private func reads(_ names: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        RESP3Reads.encode(names.map { Array($0.utf8) }, into: &buffer)
        return buffer
    }

    /// Each key's value and PTTL reply, as values, for comparing.
    private func values(_ replies: RESP3ReadReplies) -> [RESP3Value] {
        (0..<replies.keys).flatMap { i -> [RESP3Value] in
            let get: RESP3Value
            switch replies.get(i) {
            case .value(let range): get = .blobString(Array(replies.bytes[range]))
            case .null: get = .null
            case .other(let v): get = v
            }
            switch replies.pttl(i) {
            case .integer(let n): return [get, .integer(n)]
            case .other(let v): return [get, v]
            }
        }
    }

    @Test func theEncodingIsTheCommandsEncoding() {
        for lengths in [[0], [1, 9], [10, 99, 100, 12_345], Array(0..<12)] {
            let names = lengths.map { [UInt8](repeating: UInt8(ascii: "k"), count: $0) + [13, 10] }
            var fast = ByteBuffer()
            RESP3Reads.encode(names, into: &fast)
            var general = ByteBuffer()
            RESP3Command(parts: [Array("MGET".utf8)] + names).encode(into: &general)
            for name in names { RESP3Command(parts: [Array("PTTL".utf8), name]).encode(into: &general) }
            #expect(fast == general, "names of \(lengths) bytes")
            #expect(RESP3Reads.encodedLength(names) == general.readableBytes)
        }
    }

    @Test func usualRepliesCutAnywhereAreParsedAlike() throws {
        let wire = bytes("*5\r\n$2\r\nv1\r\n_\r\n$-1\r\n$4\r\n\r\n\r\n\r\n$0\r\n\r\n:-1\r\n:-2\r\n:-2\r\n:1234\r\n:0\r\n")
        let expected: [RESP3Value] = [
            blob("v1"), .integer(-1), .null, .integer(-2), .null, .integer(-2),
            .blobString([13, 10, 13, 10]), .integer(1234), blob(""), .integer(0),
        ]
        for cut in 0...wire.count {
            let (channel, connection) = try makeEmbeddedConnection()
            let future = connection.sendReads(reads(["a", "b", "c", "d", "e"]), keys: 5)
            try channel.writeInbound(buffer(wire[..<cut]))
            if cut < wire.count { #expect(completedResult(future) == nil, "complete before its last byte, cut \(cut)") }
            try channel.writeInbound(buffer(wire[cut...]))
            let replies = try #require(try completedResult(future)?.get(), "cut \(cut)")
            #expect(values(replies) == expected, "cut \(cut)")
            #expect(channel.isActive)
        }
    }

    @Test func anErrorReplyInTheMiddleIsThatKeysReplyAndTheRestStillLineUp() throws {
        let (channel, connection) = try makeEmbeddedConnection()
        let batch = connection.sendReads(reads(["a", "b", "c"]), keys: 3)
        let after = connection.sendFuture([RESP3Command("PING")])
        try channel.writeInbound(buffer(
            "*3\r\n$1\r\nx\r\n-WRONGTYPE not a string\r\n$1\r\ny\r\n:5\r\n:-1\r\n!3\r\nbad\r\n+PONG\r\n"))
        let replies = try #require(try completedResult(batch)?.get())
        #expect(replies.get(1) == .other(.simpleError("WRONGTYPE not a string")))
        #expect(replies.pttl(2) == .other(.blobError(Array("bad".utf8))))
        #expect(values(replies) == [blob("x"), .integer(5), .simpleError("WRONGTYPE not a string"), .integer(-1),
                                    blob("y"), .blobError(Array("bad".utf8))])
        #expect(try completedResult(after)?.get() == [.simpleString("PONG")])
    }

    @Test func aPushBetweenRepliesOfABatchComesBeforeTheBatchCompletesAndAfterTheRequestBeforeIt() throws {
        let wire = bytes("+r1\r\n*2\r\n$1\r\nv\r\n$1\r\nw\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n:-1\r\n:7\r\n+r2\r\n")
        for cut in 0...wire.count {
            let log = EventLog<String>()
            let (channel, connection) = try makeEmbeddedConnection(onPush: { value in
                log.append("push \(value.elements?.last ?? .null)")
            })
            connection.sendFuture([RESP3Command("GET", "x")]).whenSuccess { log.append("reply \($0[0])") }
            connection.sendReads(reads(["a", "b"]), keys: 2).whenSuccess { replies in
                log.append("reads \(self.values(replies))")
            }
            connection.sendFuture([RESP3Command("GET", "y")]).whenSuccess { log.append("reply \($0[0])") }
            try channel.writeInbound(buffer(wire[..<cut]))
            try channel.writeInbound(buffer(wire[cut...]))
            #expect(log.all == ["reply r1", "push [\"a\"]", "reads [\"v\", (integer) -1, \"w\", (integer) 7]", "reply r2"],
                    "split at \(cut)")
        }
    }

    @Test func anAttributeBeforeAReplyIsSkipped() throws {
        let (channel, connection) = try makeEmbeddedConnection()
        let batch = connection.sendReads(reads(["a"]), keys: 1)
        try channel.writeInbound(buffer("*1\r\n|1\r\n+key\r\n+meta\r\n$1\r\nv\r\n|1\r\n+k\r\n:1\r\n:9\r\n"))
        #expect(values(try #require(try completedResult(batch)?.get())) == [blob("v"), .integer(9)])
        // An attribute before the whole array: the array is read by the general decoder.
        let second = connection.sendReads(reads(["a", "b"]), keys: 2)
        try channel.writeInbound(buffer("|1\r\n+key\r\n+meta\r\n*2\r\n$1\r\nv\r\n_\r\n:1\r\n:-2\r\n"))
        #expect(values(try #require(try completedResult(second)?.get())) == [blob("v"), .integer(1), .null, .integer(-2)])
    }

    @Test func aDisconnectMidBatchFailsItAndReportsOnce() throws {
        let closes = EventLog<String>()
        let (channel, connection) = try makeEmbeddedConnection(onClose: { closes.append("\($0)") })
        let batch = connection.sendReads(reads(["a", "b"]), keys: 2)
        try channel.writeInbound(buffer("*2\r\n$1\r\nv\r\n$3\r\nw"))
        #expect(completedResult(batch) == nil)
        channel.pipeline.fireChannelInactive()
        guard case .failure(let error)? = completedResult(batch) else {
            Issue.record("the batch did not fail")
            return
        }
        #expect(error as? RESP3Error == .connectionClosed)
        #expect(closes.count == 1)
        // Nothing more is sent on a closed connection.
        let late = connection.sendReads(reads(["c"]), keys: 1)
        #expect(completedResult(late) != nil && (try? completedResult(late)?.get()) == nil)
    }

    @Test func malformedOrOversizedRepliesInABatchAreProtocolErrors() throws {
        for (wire, limit) in [("*2\r\n$abc\r\n", 1024), ("*2\r\n$5\r\nabcdefg\r\n", 1024), ("*2x\r\n", 1024),
                              ("*2\r\n$2000\r\n", 1000), ("*2\r\n$1\r\na\r\n_\r\n:1x\r\n", 1024)] {
            let closes = EventLog<String>()
            let channel = EmbeddedChannel()
            let reason = try RESP3Connection.configure(
                channel, timing: .init(), decoderLimits: .init(maxBlobLength: limit),
                onPush: { _ in }, onClose: { closes.append("\($0)") })
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            let connection = RESP3Connection(channel: channel, closeReason: reason)
            let batch = connection.sendReads(reads(["a", "b"]), keys: 2)
            _ = try? channel.writeInbound(buffer(wire))  // the decoder closes the channel: the write may throw
            #expect((try? completedResult(batch)?.get()) == nil, "\(wire)")
            #expect(closes.all.count == 1 && closes.all[0].contains("protocol"), "\(wire): \(closes.all)")
            #expect(!channel.isActive)
        }
    }

    @Test func anMGETErrorIsEveryKeysValueReplyAndTheRestStillLineUp() throws {
        let (channel, connection) = try makeEmbeddedConnection()
        let batch = connection.sendReads(reads(["a", "b"]), keys: 2)
        let after = connection.sendFuture([RESP3Command("PING")])
        try channel.writeInbound(buffer("-NOPERM no\r\n:-1\r\n:3\r\n+PONG\r\n"))
        let replies = try #require(try completedResult(batch)?.get())
        #expect(values(replies) == [.simpleError("NOPERM no"), .integer(-1), .simpleError("NOPERM no"), .integer(3)])
        #expect(try completedResult(after)?.get() == [.simpleString("PONG")])
    }

    @Test func repliesBuiltFromGetsAndPTTLsReadAsParsedOnes() {
        let replies = RESP3ReadReplies(getsAndPTTLs: [blob("v"), .integer(3), .null, .integer(-2),
                                                      .simpleError("ERR x"), .integer(1), blob("w"), blob("odd")])
        #expect(replies.keys == 4 && replies.isComplete)
        #expect(replies.get(0) == .value(0..<1) && replies.pttl(0) == .integer(3))
        #expect(replies.get(1) == .null)
        #expect(replies.get(2) == .other(.simpleError("ERR x")))
        #expect(replies.get(3) == .value(1..<2) && replies.pttl(3) == .other(blob("odd")))
    }

    /// What the handler's contract gives, worked out from the stream decoded on its own: pushes
    /// aside, and the batch's replies as the first `keys + 1` other values added in turn.
    private func model(_ wire: [UInt8], keys: Int) -> (replies: [RESP3Value], pushes: [RESP3Value]) {
        var decoder = RESP3Decoder()
        var buffer = ByteBuffer(bytes: wire)
        var replies = RESP3ReadReplies(keys: keys)
        var pushes: [RESP3Value] = []
        while !replies.isComplete, let value = try? decoder.decode(buffer: &buffer) {
            if case .push = value { pushes.append(value) } else { replies.add(value) }
        }
        return (values(replies), pushes)
    }

    @Test func anyStreamCutAnywhereGivesWhatTheGeneralDecoderGives() throws {
        let streams: [(String, Int)] = [
            ("*3\r\n$1\r\na\r\n_\r\n$-1\r\n:1\r\n:-2\r\n:-1\r\n", 3),
            ("*2\r\n$1\r\na\r\n_\r\n:1\r\n:2\r\n:3\r\n", 3),  // an array of the wrong size
            ("*3\r\n-ERR x\r\n|1\r\n+a\r\n+b\r\n$1\r\nv\r\n*1\r\n:1\r\n"
                + ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n:5\r\n+OK\r\n:-1\r\n", 3),
            ("*2\r\n>1\r\n+p\r\n$1\r\nv\r\n:1\r\n:2\r\n", 2),  // a push inside the array is an element
            ("-NOPERM x\r\n:1\r\n:2\r\n:3\r\n", 3),
            ("*-1\r\n:1\r\n_\r\n", 2),
            ("*1\r\n$-1\r\n:+7\r\n", 1),
            ("*1\r\n$3\r\nabc\r\n,1.5\r\n", 1),
        ]
        for (text, keys) in streams {
            let wire = bytes(text)
            let expected = model(wire, keys: keys)
            for cut in 0...wire.count {
                let pushes = EventLog<RESP3Value>()
                let (channel, connection) = try makeEmbeddedConnection(onPush: { pushes.append($0) })
                let batch = connection.sendReads(reads((0..<keys).map { "k\($0)" }), keys: keys)
                try channel.writeInbound(buffer(wire[..<cut]))
                try channel.writeInbound(buffer(wire[cut...]))
                let replies = try #require(try completedResult(batch)?.get(), "\(text) cut at \(cut)")
                #expect(values(replies) == expected.replies, "\(text) cut at \(cut)")
                #expect(pushes.all == expected.pushes, "\(text) cut at \(cut)")
                #expect(channel.isActive)
            }
        }
    }
}

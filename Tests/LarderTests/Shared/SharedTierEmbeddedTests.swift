import NIOCore
import NIOEmbedded
import RESP3
import Testing

@testable import Larder

/// The shared tier over an `EmbeddedChannel`: the test plays the server byte by byte, so the
/// orders that matter (a push between a reply and the next, a loss with reads in flight) are
/// exact rather than raced for. (A synchronous read that misses would wait for a loop nobody
/// runs: these tests look at memory with `contains` and read through the tier's own call.)
@Suite struct SharedTierEmbeddedTests {
    /// A cache whose shared tier connects to `EmbeddedChannel`s on one `EmbeddedEventLoop`.
    final class Harness: @unchecked Sendable {
        let loop = EmbeddedEventLoop()
        let channels = TestLock<[EmbeddedChannel]>([])
        var cache: Cache<String, String>!
        var tier: RedisSharedTier<String, String>!

        /// `handshake`: run HELLO and the tracking command over the channel (the test answers them).
        /// `batchFills`: the sink decodes and installs batches of fills in the cache's own code, as
        /// the public initializer sets it up (false: the tier does, one key at a time).
        init(handshake: Bool = false, batchFills: Bool = true) throws {
            let loop = self.loop
            let channels = self.channels
            let connector: RESP3Client.Connector = { configuration, _, onPush, onClose in
                let channel = EmbeddedChannel(loop: loop)
                do {
                    let reason = try RESP3Connection.configure(
                        channel, timing: .init(), onPush: onPush, onClose: onClose)
                    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
                    channels.withLock { $0.append(channel) }
                    if handshake {
                        return RESP3Connection.handshake(
                            channel: channel, closeReason: reason, configuration: configuration,
                            logger: RESP3Client.silentLogger)
                    }
                    return loop.makeSucceededFuture(RESP3Connection(channel: channel, closeReason: reason))
                } catch {
                    return loop.makeFailedFuture(error)
                }
            }
            tier = RedisSharedTier<String, String>(
                configuration: .redis(keyPrefix: "t:", heartbeatInterval: .seconds(60), heartbeatTimeout: .seconds(120)),
                eventLoop: loop, connector: connector, logger: nil)
            cache = try Cache<String, String>(configuration: .init(maxCount: 100), tier: nil, shared: tier,
                                              attachingShared: false)
            tier.attach(batchFills ? cache.fillingSharedTierSink() : cache.sharedTierSink())
            loop.run()
        }

        var channel: EmbeddedChannel { channels.withLock { $0.last! } }

        /// What the cache sent since the last call, as text.
        func sent() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: buffer)
            }
            return text
        }

        /// Bytes from the server.
        func receive(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
            loop.run()
        }

        /// Answers the CONFIG GET the tier sends on each connection; the tier is then connected.
        func finishConnecting() throws {
            #expect(try sent().contains("proto-max-bulk-len"))
            try receive("%1\r\n$18\r\nproto-max-bulk-len\r\n$9\r\n536870912\r\n")
            #expect(tier.statistics.connected)
        }

        /// Starts a read of `key` as a memory miss does (snapshot first); its result lands in the box.
        func startRead(_ key: String) -> TestLock<Result<String?, CacheError>?> {
            let box = TestLock<Result<String?, CacheError>?>(nil)
            let shard = cache.shards[cache.shardIndex(Cache<String, String>.hash(key))]
            tier.load(key, snapshot: shard.fillSnapshot()) { result in box.withLock { $0 = result } }
            loop.run()
            return box
        }

        /// Starts a read of several keys as `fetchValues` does (snapshots first).
        func startReads(_ keys: [String]) -> TestLock<Result<[Result<String?, CacheError>], CacheError>?> {
            let box = TestLock<Result<[Result<String?, CacheError>], CacheError>?>(nil)
            let snapshots = keys.map { cache.shards[cache.shardIndex(Cache<String, String>.hash($0))].fillSnapshot() }
            tier.loadMany(keys, snapshots: snapshots) { result in box.withLock { $0 = result } }
            loop.run()
            return box
        }

        /// A read answered in full: the value, then its PTTL (-1: none).
        func fill(_ key: String, _ value: String) throws {
            let read = startRead(key)
            let request = try sent()
            #expect(request.contains("GET") && request.contains("PTTL") && request.contains("t:\(key)"))
            try receive("*1\r\n$\(value.utf8.count)\r\n\(value)\r\n:-1\r\n")
            #expect(read.withLock { $0 } == .success(value))
        }

        static func invalidation(_ keys: [String]) -> String {
            ">2\r\n$10\r\ninvalidate\r\n*\(keys.count)\r\n" + keys.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
        }
    }

    @Test func aReadWithoutInvalidationIsKept() throws {
        let h = try Harness()
        try h.finishConnecting()
        try h.fill("k", "v1")
        #expect(h.cache.contains("k"))
        #expect(h.cache.value(forKey: "k") == "v1")
    }

    @Test func anInvalidationBetweenTheValueAndThePttlReplyKeepsTheValueOutOfMemory() throws {
        let h = try Harness()
        try h.finishConnecting()
        let read = h.startRead("k")
        _ = try h.sent()
        // The MGET's reply, then another client's write of the key, then the PTTL's reply.
        try h.receive("*1\r\n$2\r\nv1\r\n" + Harness.invalidation(["t:k"]) + ":-1\r\n")
        #expect(read.withLock { $0 } == .success("v1"), "the caller gets what it read (it started before the write)")
        #expect(!h.cache.contains("k"), "but memory does not keep a value the server has replaced")
        #expect(h.tier.statistics.invalidations == 1)
    }

    @Test func anInvalidationAfterTheFillDropsTheKeptValue() throws {
        let h = try Harness()
        try h.finishConnecting()
        try h.fill("k", "v1")
        try h.fill("other", "x")
        try h.receive(Harness.invalidation(["t:k", "elsewhere:k"]))
        #expect(!h.cache.contains("k"))
        #expect(h.cache.contains("other"), "an invalidation drops only its keys (and ignores other prefixes)")
    }

    @Test func aDisconnectWithReadsInFlightFailsThemAndDropsEverySharedEntry() throws {
        let h = try Harness()
        try h.finishConnecting()
        try h.fill("a", "1")
        try h.fill("b", "2")
        let inFlight = h.startRead("c")
        #expect(try h.sent().contains("t:c"))
        h.channel.pipeline.fireChannelInactive()
        h.loop.run()
        guard case .failure(let error) = inFlight.withLock({ $0 }) else {
            Issue.record("the read in flight did not fail: \(String(describing: inFlight.withLock { $0 }))")
            return
        }
        #expect(error.code == .sharedTierUnavailable)
        #expect(!h.tier.statistics.connected)
        #expect(!h.cache.contains("a") && !h.cache.contains("b") && !h.cache.contains("c"))
        #expect(h.cache.count == 0)
    }

    @Test func aMalformedReplyIsALostConnectionNotACrash() throws {
        let h = try Harness()
        try h.finishConnecting()
        try h.fill("a", "1")
        let inFlight = h.startRead("b")
        _ = try h.sent()
        try? h.receive("?not RESP\r\n")
        guard case .failure(let error) = inFlight.withLock({ $0 }) else {
            Issue.record("the read in flight did not fail: \(String(describing: inFlight.withLock { $0 }))")
            return
        }
        #expect(error.code == .sharedTierUnavailable)
        #expect(error.message.contains("protocol"), "\(error.message)")
        #expect(!h.tier.statistics.connected)
        #expect(!h.cache.contains("a"), "nothing from the broken connection stays")
    }

    @Test func aNullInvalidationDropsEverySharedEntry() throws {
        let h = try Harness()
        try h.finishConnecting()
        for key in ["a", "b", "c"] { try h.fill(key, "v") }
        #expect(h.cache.count == 3)
        try h.receive(">2\r\n$10\r\ninvalidate\r\n_\r\n")
        #expect(!h.cache.contains("a") && !h.cache.contains("b") && !h.cache.contains("c"))
        // Filling again works: the drop was of what was there, not of the shard for good.
        try h.fill("a", "v2")
        #expect(h.cache.value(forKey: "a") == "v2")
    }

    @Test func concurrentMissesOfOneKeyShareOneRead() throws {
        let h = try Harness()
        try h.finishConnecting()
        let first = h.startRead("k")
        let second = h.startRead("k")
        let request = try h.sent()
        #expect(request.components(separatedBy: "GET").count - 1 == 1, "one GET for two misses: \(request)")
        try h.receive("*1\r\n$1\r\nv\r\n:-1\r\n")
        #expect(first.withLock { $0 } == .success("v"))
        #expect(second.withLock { $0 } == .success("v"))
        #expect(h.tier.statistics.reads == 1)
    }

    @Test func aKeyTwiceInOneBatchIsReadOnce() throws {
        let h = try Harness()
        try h.finishConnecting()
        let reads = h.startReads(["k", "j", "k"])
        let request = try h.sent()
        #expect(request.components(separatedBy: "t:k").count - 1 == 2, "in the MGET and one PTTL: \(request)")
        try h.receive("*2\r\n$1\r\nv\r\n$1\r\nw\r\n:-1\r\n:-1\r\n")
        let results = try #require(try reads.withLock { $0 }?.get())
        #expect(results.map { try? $0.get() } == ["v", "w", "v"])
        #expect(h.tier.statistics.reads == 2)
    }

    @Test func aPushBeforeTheTrackingAcknowledgementIsNotAppliedAndTheConnectionStartsClean() throws {
        let h = try Harness(handshake: true)
        let hello = "%1\r\n$5\r\nproto\r\n:3\r\n"
        #expect(try h.sent().contains("TRACKING"))
        try h.receive(hello + "+OK\r\n")
        try h.finishConnecting()
        try h.fill("a", "1")
        #expect(h.cache.contains("a"))
        // The connection drops; the next one's handshake carries a push before the tracking
        // command's reply (tracking is not on yet, so the push cannot be about this connection).
        h.channel.pipeline.fireChannelInactive()
        h.loop.run()
        #expect(!h.cache.contains("a"))
        h.loop.advanceTime(by: .seconds(30))  // the reconnection backoff
        #expect(h.channels.withLock { $0.count } == 2)
        #expect(try h.sent().contains("TRACKING"))
        try h.receive(hello + Harness.invalidation(["t:a"]) + "+OK\r\n")
        try h.finishConnecting()
        #expect(h.tier.statistics.invalidations == 0, "the early push was not taken for this connection's")
        // Replies still line up with their commands after the early push.
        try h.fill("a", "2")
        #expect(h.cache.value(forKey: "a") == "2")
    }

    @Test(arguments: [true, false])
    func aBatchKeepsWhatLivesAndReturnsWhatExpiresNow(batchFills: Bool) throws {
        let h = try Harness(batchFills: batchFills)
        try h.finishConnecting()
        let reads = h.startReads(["a", "b", "c", "d"])
        let request = try h.sent()
        #expect(request.components(separatedBy: "PTTL").count - 1 == 4, "\(request)")
        // a: no expiry; b: missing; c: expires within the millisecond; d: lives 5 s.
        try h.receive("*4\r\n$2\r\nva\r\n_\r\n$2\r\nvc\r\n$2\r\nvd\r\n:-1\r\n:-2\r\n:0\r\n:5000\r\n")
        let results = try #require(try reads.withLock { $0 }?.get())
        #expect(results.map { try? $0.get() } == ["va", nil, "vc", "vd"])
        #expect(h.cache.contains("a") && !h.cache.contains("b") && !h.cache.contains("c") && h.cache.contains("d"))
        #expect(h.tier.statistics.reads == 4 && h.tier.statistics.readHits == 3)
    }

    @Test(arguments: [true, false])
    func anErrorReplyOrUndecodableBytesFailOnlyTheirKey(batchFills: Bool) throws {
        let h = try Harness(batchFills: batchFills)
        try h.finishConnecting()
        // Undecodable bytes in a batch of usual replies (the cache's own code decodes it)...
        let first = h.startReads(["a", "bad"])
        _ = try h.sent()
        try h.channel.writeInbound(ByteBuffer(bytes: Array("*2\r\n$1\r\nx\r\n$2\r\n".utf8) + [0xff, 0xfe]
                                                  + Array("\r\n:-1\r\n:-1\r\n".utf8)))
        h.loop.run()
        // ...and an error reply (the tier decodes that batch, key by key).
        let second = h.startReads(["list", "b"])
        _ = try h.sent()
        try h.receive("*2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n$1\r\ny\r\n:-1\r\n:-1\r\n")
        let results = try #require(try first.withLock { $0 }?.get()) + #require(try second.withLock { $0 }?.get())
        #expect((try? results[0].get()) == "x" && (try? results[3].get()) == "y")
        #expect(h.cache.contains("a") && h.cache.contains("b"))
        guard case .failure(let damaged) = results[1], case .failure(let rejected) = results[2] else {
            Issue.record("\(results)")
            return
        }
        #expect(rejected.code == .sharedTierRejected && rejected.message.contains("WRONGTYPE"), "\(rejected)")
        #expect(damaged.code == .storeDamaged && damaged.message.contains("bad"), "\(damaged)")
        #expect(!h.cache.contains("list") && !h.cache.contains("bad"))
        #expect(h.tier.statistics.readHits == 2)
        // The batch decoded on its own values only: a later fill lines up.
        try h.fill("k", "v")
        #expect(h.cache.contains("k"))
    }

    @Test func aBatchWhoseKeyIsInvalidatedBetweenItsRepliesDoesNotKeepThatKey() throws {
        let h = try Harness()
        try h.finishConnecting()
        let reads = h.startReads(["a", "b"])
        _ = try h.sent()
        try h.receive("*2\r\n$2\r\nva\r\n$2\r\nvb\r\n:-1\r\n" + Harness.invalidation(["t:b"]) + ":-1\r\n")
        let results = try #require(try reads.withLock { $0 }?.get())
        #expect(results.map { try? $0.get() } == ["va", "vb"], "the caller gets what it read")
        #expect(!h.cache.contains("b"), "memory does not keep the value the server replaced")
    }

    @Test func aNullValueOfAKeyThatExistsIsAskedAgainAndAnotherTypeIsARejection() throws {
        let h = try Harness()
        try h.finishConnecting()
        // MGET answers null for a list, or for a key written between it and the PTTL.
        let reads = h.startReads(["list", "late", "a"])
        _ = try h.sent()
        try h.receive("*3\r\n_\r\n_\r\n$1\r\nv\r\n:-1\r\n:5000\r\n:-1\r\n")
        #expect(reads.withLock { $0 } == nil, "waits for the second look")
        let again = try h.sent()
        #expect(again.contains("t:list") && again.contains("t:late") && !again.contains("t:a"), "\(again)")
        try h.receive("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n$1\r\nw\r\n")
        let results = try #require(try reads.withLock { $0 }?.get())
        guard case .failure(let rejected) = results[0] else {
            Issue.record("\(results)")
            return
        }
        #expect(rejected.code == .sharedTierRejected && rejected.message.contains("WRONGTYPE"), "\(rejected)")
        #expect((try? results[1].get()) == .some(nil), "a write after the read: the read's null stands")
        #expect((try? results[2].get()) == "v")
        #expect(h.cache.contains("a") && !h.cache.contains("late"))
    }
}

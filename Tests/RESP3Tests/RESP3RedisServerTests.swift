import NIOCore
import NIOPosix
import RedisTestSupport
import Testing

@testable import RESP3

/// Against a private Debian `redis-server` (see ``RedisTestServer``), one per test.
@Suite("RESP3 against redis-server", .serialized)
struct RESP3RedisServerTests {
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    private func configuration(
        _ server: RedisTestServer, password: String? = nil, setup: [RESP3Command] = []
    ) -> RESP3Connection.Configuration {
        .init(host: server.host, port: server.port, password: password, setupCommands: setup,
              connectTimeout: .seconds(2), timing: .init(replyTimeout: .seconds(5)))
    }

    @Test func helloAndARoundTrip() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let connection = try await RESP3Connection.connect(configuration: configuration(server), eventLoop: eventLoop)
        #expect(connection.hello.mapValue(forKey: "proto") == .integer(3))
        #expect(connection.hello.mapValue(forKey: "server")?.string == "redis")

        let value: [UInt8] = [0, 1, 2, 13, 10, 255]
        let replies = try await connection.send([
            RESP3Command("SET", "k", value, "PX", 60_000),
            RESP3Command("GET", "k"),
            RESP3Command("PTTL", "k"),
            RESP3Command("GET", "missing"),
            RESP3Command("INCR", "k"),
            RESP3Command("HSET", "h", "f", "v"),
            RESP3Command("HGETALL", "h"),
        ])
        #expect(replies.count == 7)
        #expect(replies[0] == .simpleString("OK"))
        #expect(replies[1] == .blobString(value))
        let ttl = replies[2].integer ?? -1
        #expect(ttl > 0 && ttl <= 60_000, "PTTL \(replies[2])")
        #expect(replies[3] == .null)
        #expect(replies[4].errorMessage?.hasPrefix("ERR") == true, "an error reply is a value: \(replies[4])")
        #expect(replies[5] == .integer(1))
        #expect(replies[6] == .map([.init(key: blob("f"), value: blob("v"))]), "RESP3 map: \(replies[6])")
        // The connection is still good after the error reply.
        #expect(try await connection.send(RESP3Command("PING")) == .simpleString("PONG"))
        await connection.close()
        await #expect(throws: RESP3Error.connectionClosed) {
            try await connection.send(RESP3Command("PING"))
        }
    }

    @Test func trackingInvalidationsArrivePushed() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let pushes = EventStream<RESP3Value>()
        let tracked = try await RESP3Connection.connect(
            configuration: configuration(server, setup: [RESP3Command("CLIENT", "TRACKING", "on")]),
            eventLoop: eventLoop, onPush: { pushes.yield($0) })
        let writer = try await RESP3Connection.connect(configuration: configuration(server), eventLoop: eventLoop)

        #expect(try await writer.send(RESP3Command("SET", "k", "v1")) == .simpleString("OK"))
        #expect(try await tracked.send(RESP3Command("GET", "k")) == blob("v1"))
        #expect(try await writer.send(RESP3Command("SET", "k", "v2")) == .simpleString("OK"))
        #expect(try await pushes.next(within: 10, "the invalidation of k")
            == .push([blob("invalidate"), .array([blob("k")])]))

        #expect(try await tracked.send(RESP3Command("GET", "k")) == blob("v2"))
        #expect(try await writer.send(RESP3Command("FLUSHALL")) == .simpleString("OK"))
        #expect(try await pushes.next(within: 10, "the null invalidation of FLUSHALL")
            == .push([blob("invalidate"), .null]))
        #expect(pushes.pending.isEmpty)
        await tracked.close()
        await writer.close()
    }

    @Test func aFullTrackingTableInvalidatesTheKeysItEvicts() async throws {
        // The shared tier must treat these like any invalidation: the server forgot it told us.
        let server = try RedisTestServer(extraArguments: ["--tracking-table-max-keys", "10"])
        defer { server.stop() }
        let pushes = EventStream<RESP3Value>()
        let tracked = try await RESP3Connection.connect(
            configuration: configuration(server, setup: [RESP3Command("CLIENT", "TRACKING", "on")]),
            eventLoop: eventLoop, onPush: { pushes.yield($0) })
        let keys = (0..<30).map { "key\($0)" }
        let replies = try await tracked.send(keys.map { RESP3Command("GET", $0) })
        #expect(replies == Array(repeating: .null, count: 30))
        // Redis evicts from the table before running later commands (and in its cron).
        var invalidated = Set<String>()
        while invalidated.count < 20 {
            _ = try await tracked.send(RESP3Command("PING"))
            let push = try await pushes.next(within: 10, "invalidations of evicted keys (have \(invalidated.count))")
            guard case .push(let items) = push, items.first == blob("invalidate"),
                let evicted = items.last?.elements
            else {
                Issue.record("not an invalidation: \(push)")
                break
            }
            invalidated.formUnion(evicted.compactMap(\.string))
        }
        #expect(invalidated.isSubset(of: Set(keys)))
        await tracked.close()
    }

    enum ClientEvent: Sendable, Equatable, CustomStringConvertible {
        case connected(UInt64)
        case lost(UInt64, String)
        case push(UInt64, RESP3Value)

        var description: String {
            switch self {
            case .connected(let e): return "connected(\(e))"
            case .lost(let e, let error): return "lost(\(e), \(error))"
            case .push(let e, let v): return "push(\(e), \(v))"
            }
        }
    }

    private func makeClient(
        _ server: RedisTestServer, events: EventStream<ClientEvent>,
        heartbeatInterval: TimeAmount = .milliseconds(200), heartbeatTimeout: TimeAmount = .seconds(2)
    ) -> RESP3Client {
        RESP3Client(
            configuration: .init(
                connection: configuration(server, setup: [
                    RESP3Command("CLIENT", "SETNAME", "resp3-test"),
                    RESP3Command("CLIENT", "TRACKING", "on"),
                ]),
                reconnectInitialDelay: .milliseconds(20), reconnectMaxDelay: .milliseconds(200),
                heartbeatInterval: heartbeatInterval, heartbeatTimeout: heartbeatTimeout),
            eventLoop: eventLoop,
            callbacks: .init(
                onConnected: { events.yield(.connected($0)) },
                onLost: { events.yield(.lost($0, "\($1)")) },
                onPush: { events.yield(.push($0, $1)) }))
    }

    /// Whether the client's current connection has run its setup commands.
    private func setupRan(on client: RESP3Client) async throws -> Bool {
        let replies = try await client.send([
            RESP3Command("CLIENT", "GETNAME"), RESP3Command("CLIENT", "TRACKINGINFO"),
        ])
        let flags = replies[1].mapValue(forKey: "flags")?.elements?.compactMap(\.string) ?? []
        return replies[0] == blob("resp3-test") && flags.contains("on")
    }

    @Test func clientReconnectsAfterTheServerDiesWithANewEpochAndSetupRerun() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let events = EventStream<ClientEvent>()
        let client = makeClient(server, events: events)
        client.start()
        #expect(try await events.next(within: 10, "the first connection") == .connected(1))
        #expect(try await setupRan(on: client))

        // Tracking works through the client: pushes carry the epoch.
        #expect(try await client.send(RESP3Command("GET", "k")) == .null)
        let other = try await RESP3Connection.connect(configuration: configuration(server), eventLoop: eventLoop)
        _ = try await other.send(RESP3Command("SET", "k", "v"))
        #expect(try await events.next(within: 10, "the invalidation")
            == .push(1, .push([blob("invalidate"), .array([blob("k")])])))

        server.kill()
        #expect(try await events.next(within: 10, "the loss") == .lost(1, "\(RESP3Error.connectionClosed)"))
        await #expect(throws: RESP3Error.notConnected) { try await client.send(RESP3Command("PING")) }

        try server.restart()
        #expect(try await events.next(within: 10, "the reconnection") == .connected(2))
        #expect(try await setupRan(on: client))
        #expect(try await client.currentEpoch().get() == 2)

        await client.close()
        #expect(try await events.next(within: 5, "the loss on close") == .lost(2, "\(RESP3Error.connectionClosed)"))
        await #expect(throws: RESP3Error.notConnected) { try await client.send(RESP3Command("PING")) }
        #expect(events.pending.isEmpty, "\(events.pending)")
        await other.close()
    }

    @Test func aPausedServerIsLostAtTheHeartbeatDeadline() async throws {
        let server = try RedisTestServer()
        defer { server.stop() }
        let events = EventStream<ClientEvent>()
        let client = makeClient(
            server, events: events, heartbeatInterval: .milliseconds(100), heartbeatTimeout: .milliseconds(400))
        client.start()
        #expect(try await events.next(within: 10, "the first connection") == .connected(1))

        server.pause()
        let clock = ContinuousClock()
        let paused = clock.now
        #expect(try await events.next(within: 10, "the heartbeat timeout") == .lost(1, "\(RESP3Error.timeout)"))
        let elapsed = clock.now - paused
        #expect(elapsed >= .milliseconds(300), "lost after \(elapsed): before the deadline could pass")
        // While paused, attempts connect (the kernel accepts) but HELLO gets no answer: no epoch.
        await #expect(throws: RESP3Error.notConnected) { try await client.send(RESP3Command("PING")) }

        server.resume()
        #expect(try await events.next(within: 15, "the reconnection") == .connected(2))
        #expect(try await setupRan(on: client))
        await client.close()
    }

    @Test func aWrongPasswordFailsTheHandshakeClearly() async throws {
        let server = try RedisTestServer(extraArguments: ["--requirepass", "s3cret"])
        defer { server.stop() }
        do {
            _ = try await RESP3Connection.connect(configuration: configuration(server, password: "wrong"), eventLoop: eventLoop)
            Issue.record("connected with a wrong password")
        } catch {
            guard case .handshakeFailed(let message)? = error as? RESP3Error else {
                Issue.record("expected handshakeFailed, got \(error)")
                return
            }
            #expect(message.contains("authentication to \(server.host):\(server.port) failed"), "\(message)")
            #expect(message.contains("WRONGPASS"), "\(message)")
        }
        // No password at all: HELLO 3 is refused too (NOAUTH).
        await #expect(throws: RESP3Error.self) {
            _ = try await RESP3Connection.connect(configuration: configuration(server), eventLoop: eventLoop)
        }
        let connection = try await RESP3Connection.connect(
            configuration: configuration(server, password: "s3cret"), eventLoop: eventLoop)
        #expect(try await connection.send(RESP3Command("PING")) == .simpleString("PONG"))
        await connection.close()
    }

    @Test func nothingListeningIsConnectFailedNamingTheAddress() async throws {
        let port = try RedisTestServer.freeLoopbackPort()
        do {
            _ = try await RESP3Connection.connect(
                configuration: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(2)), eventLoop: eventLoop)
            Issue.record("connected to a closed port")
        } catch {
            guard case .connectFailed(let host, let failedPort, _)? = error as? RESP3Error else {
                Issue.record("expected connectFailed, got \(error)")
                return
            }
            #expect(host == "127.0.0.1" && failedPort == port)
            #expect("\(error)".contains("127.0.0.1:\(port)"), "\(error)")
        }
    }

    @Test func aServerAnsweringHTTPIsAProtocolError() async throws {
        let server = try await HTTPAnswerServer()
        let port = server.port
        do {
            _ = try await RESP3Connection.connect(
                configuration: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(2),
                                     timing: .init(replyTimeout: .seconds(5))),
                eventLoop: eventLoop)
            Issue.record("connected to an HTTP server")
        } catch {
            guard case .protocolError(let message)? = error as? RESP3Error else {
                Issue.record("expected protocolError, got \(error)")
                try await server.close()
                return
            }
            #expect(message.contains("127.0.0.1:\(port) does not speak RESP3"), "\(message)")
            #expect(message.contains("0x48 ('H')"), "\(message)")
        }
        try await server.close()
    }
}


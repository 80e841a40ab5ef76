import Logging
import NIOCore
import NIOPosix
import RESP3
import Synchronization

/// The shared tier on one Redis server: one RESP3 connection with client-side caching
/// (`CLIENT TRACKING ON`, default mode: every read on this connection is a cache read, so
/// each is tracked without an extra `CLIENT CACHING YES`). Not `NOLOOP`: with it, Redis also
/// skips the invalidations it sends this client while running this client's own command,
/// which include the keys it evicts from a full tracking table; those keys would stay in
/// memory untracked. The price: a write to a key this instance tracks drops its own local
/// copy (the invalidation arrives right after the write's reply), and the next read fetches it.
///
/// Everything that touches memory runs on the connection's event loop in wire order
/// (see ``SharedBackingTier``): a fill is installed when its last reply arrives, an
/// invalidation push when it arrives, so an invalidation is never applied before the
/// reply it follows, and a fill whose key was invalidated meanwhile (the shard's removal
/// generation moved) is not installed. Any loss of contact, and every new connection,
/// drops all shared entries through the sink before the next reply is handled.
///
/// State marked "loop" is touched only on `eventLoop`, which makes `@unchecked Sendable` sound.
final class RedisSharedTier<Key: Hashable & Sendable & ByteCodable, Value: Sendable & ByteCodable>:
    SharedBackingTier, @unchecked Sendable
{
    let configuration: SharedTierConfiguration
    let eventLoop: any EventLoop
    /// The tier's own event loop thread (nil when one was injected): never one of the
    /// caller's, so a synchronous caller waiting for a reply cannot block the loop that
    /// would deliver it.
    let group: MultiThreadedEventLoopGroup?
    let prefix: [UInt8]
    let logger: Logger
    var transport: (any SharedTierTransport)!
    var sink: SharedTierSink<Key, Value>?  // set once by attach, before the client starts

    // Loop.
    /// Reads on the wire by the key's name on the server (bytes: a dictionary of a concrete
    /// type, fast where this generic class runs unspecialized).
    var inflight: [ReadName: InflightRead] = [:]
    var connectWaiters: [Int: (@Sendable (Result<Void, CacheError>) -> Void, Scheduled<Void>)] = [:]
    var nextWaiter = 0
    /// The epoch of the last connection lost.
    var lostEpoch: UInt64 = 0

    // Read from any thread.
    let connected = Atomic<Bool>(false)
    let closed = Atomic<Bool>(false)
    /// The server's `proto-max-bulk-len`, learnt at each connection (Int.max until known).
    let serverBulkLimit = Atomic<Int>(.max)
    let lastError = Locked<String?>(nil)
    let counters = SharedTierCounters()

    init(configuration: SharedTierConfiguration, eventLoop: (any EventLoop)? = nil,
         connector: RESP3Client.Connector? = nil, logger: Logger?) {
        self.configuration = configuration
        if let eventLoop {
            self.group = nil
            self.eventLoop = eventLoop
        } else {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.group = group
            self.eventLoop = group.next()
        }
        self.prefix = Array(configuration.keyPrefix.utf8)
        self.logger = logger ?? RESP3Client.silentLogger
        var connection = RESP3Connection.Configuration(
            host: configuration.host, port: configuration.port,
            username: configuration.username, password: configuration.password,
            setupCommands: [RESP3Command("CLIENT", "TRACKING", "ON")])
        connection.connectTimeout = Self.timeAmount(configuration.connectTimeout)
        var clientConfiguration = RESP3Client.Configuration(
            connection: connection,
            heartbeatInterval: Self.timeAmount(configuration.heartbeatInterval),
            heartbeatTimeout: Self.timeAmount(configuration.heartbeatTimeout))
        clientConfiguration.connector = connector
        let events = SharedTierTransportEvents(
            onReady: { [weak self] epoch in self?.connectionReady(epoch) },
            onLost: { [weak self] epoch, error in self?.connectionLost(epoch, error) },
            onPush: { [weak self] push in self?.pushed(push) },
            onConnectFailed: { [weak self] error in self?.lastError.withLock { $0 = "\(error)" } },
            onOwnersChanged: { [weak self] in self?.ownersChanged() })
        if let seeds = configuration.clusterSeeds {
            transport = ClusterConnections(
                seeds: seeds.map { ClusterSlotMap.Node(host: $0.host, port: $0.port, id: nil) },
                template: clientConfiguration, eventLoop: self.eventLoop, logger: self.logger,
                callbacks: .init(
                    onReady: events.onReady,
                    onLost: { node, epoch, error in events.onLost(epoch, NodeError(node: "\(node)", error: error)) },
                    onConnectFailed: { node, error in events.onConnectFailed(NodeError(node: "\(node)", error: error)) },
                    onPush: { _, push in events.onPush(push) },
                    onMapChanged: { _ in events.onOwnersChanged() },
                    onRefreshFailed: { error in events.onConnectFailed(error) }))
        } else {
            transport = SingleServerTransport(
                configuration: clientConfiguration, eventLoop: self.eventLoop, logger: self.logger, events: events)
        }
    }

    func attach(_ sink: SharedTierSink<Key, Value>) {
        self.sink = sink
        transport.start()
    }

    var whenUnavailable: SharedTierConfiguration.WhenUnavailable { configuration.whenUnavailable }

    var maxStalenessNanoseconds: UInt64 { configuration.effectiveMaxStaleness.saturatingNanoseconds }

    var statistics: SharedTierStatistics {
        var result = counters.snapshot()
        result.connected = connected.load(ordering: .relaxed) && transport.everyServerReady
        result.lastError = result.connected ? nil : lastError.withLock { $0 }
        return result
    }

    // MARK: Reads

    func load(_ key: Key, snapshot: UInt64, completion: @escaping @Sendable (Result<Value?, CacheError>) -> Void) {
        loadMany([key], snapshots: [snapshot]) { result in completion(result.flatMap { $0[0] }) }
    }

    // MARK: Writes

    func store(_ value: Value, forKey key: Key, deadline: UInt64?, weight: UInt64, snapshot: UInt64,
               completion: @escaping @Sendable (Result<Void, CacheError>) -> Void) {
        if let error = closedError() { return completion(.failure(error)) }
        let name = encode(key)
        let bytes = value.encodedBytes
        let limit = min(configuration.maxValueBytes, serverBulkLimit.load(ordering: .relaxed))
        guard bytes.count <= limit, name.count <= limit else {
            completion(.failure(CacheError(code: .valueTooLarge, message:
                "the value for \(describe(key)) encodes to \(bytes.count) bytes (key \(name.count)), more than the "
                + "shared tier accepts (\(limit) bytes: maxValueBytes, or the server's proto-max-bulk-len); "
                + "store a smaller value, or raise both limits. Nothing was written.")))
            return
        }
        let set: RESP3Command
        if let deadline, let now = sink?.now() {
            // Whole milliseconds, rounded up: the server's copy never expires before the local one.
            let remaining = deadline > now ? (deadline - now + 999_999) / 1_000_000 : 1
            set = RESP3Command("SET", name, bytes, "PX", String(remaining))
        } else {
            set = RESP3Command("SET", name, bytes)
        }
        eventLoop.execute {
            guard self.connected.load(ordering: .relaxed) else {
                completion(.failure(self.unavailable(nil)))
                return
            }
            // MULTI: the read that tracks the key (STRLEN, cheap) runs right after the write, with
            // no other client's write between them (a write untracks the key; a read after it outside
            // a transaction could track a later value than the one installed here).
            var commands = [RESP3Command("MULTI"), set, RESP3Command("STRLEN", name), RESP3Command("EXEC")]
            let replicas = self.configuration.waitForReplicas
            if replicas > 0 {
                let milliseconds = max(1, self.configuration.effectiveReplicaTimeout.saturatingNanoseconds / 1_000_000)
                commands.append(RESP3Command("WAIT", String(replicas), String(milliseconds)))
            }
            self.transport.send(name: name, commands).whenComplete { result in
                switch result {
                case .success(let replies):
                    if let problem = replies.first(where: \.isError) ?? Self.execFailure(replies[3]) {
                        completion(.failure(self.rejected(problem, command: "SET", key: key)))
                        return
                    }
                    if replicas > 0, case .integer(let held) = replies[4], held < replicas {
                        // Not installed: the write may not survive a failover, and the caller hears so.
                        completion(.failure(CacheError(code: .sharedTierRejected, message:
                            "the write of \(self.describe(key)) reached its primary but \(held) of the \(replicas) "
                            + "replicas asked for (waitForReplicas) held it within \(self.configuration.effectiveReplicaTimeout); "
                            + "a failover may lose it. Retry the write, or check the replicas' links.")))
                        return
                    }
                    self.counters.writes.add(1, ordering: .relaxed)
                    self.sink?.install(key, value, deadline, weight, snapshot)
                    completion(.success(()))
                case .failure(let error):
                    completion(.failure(self.cacheError(error)))
                }
            }
        }
    }

    private static func execFailure(_ reply: RESP3Value) -> RESP3Value? {
        if case .array(let results) = reply { return results.first(where: \.isError) }
        return reply
    }

    func remove(_ key: Key, completion: @escaping @Sendable (Result<Void, CacheError>) -> Void) {
        if let error = closedError() { return completion(.failure(error)) }
        let name = encode(key)
        eventLoop.execute {
            guard self.connected.load(ordering: .relaxed) else {
                completion(.failure(self.unavailable(nil)))
                return
            }
            self.transport.send(name: name, [RESP3Command("DEL", name)]).whenComplete { result in
                switch result {
                case .success(let replies) where replies[0].isError:
                    completion(.failure(self.rejected(replies[0], command: "DEL", key: key)))
                case .success:
                    self.counters.deletes.add(1, ordering: .relaxed)
                    completion(.success(()))
                case .failure(let error):
                    completion(.failure(self.cacheError(error)))
                }
            }
        }
    }

    func removeAll(completion: @escaping @Sendable (Result<Void, CacheError>) -> Void) {
        if let error = closedError() { return completion(.failure(error)) }
        eventLoop.execute {
            guard self.connected.load(ordering: .relaxed) else {
                completion(.failure(self.unavailable(nil)))
                return
            }
            let scans = self.transport.eachServer().map { self.scanAndUnlink(on: $0, cursor: "0") }
            EventLoopFuture.andAllSucceed(scans, on: self.eventLoop).whenComplete { result in
                completion(result.mapError { self.cacheError($0) })
            }
        }
    }

    /// `SCAN` steps over the prefix on one server, each followed by an `UNLINK` of what it found
    /// (sent by key: in a cluster each goes to its owner), until the cursor is back at 0.
    private func scanAndUnlink(on server: @escaping @Sendable ([RESP3Command]) -> EventLoopFuture<[RESP3Value]>,
                               cursor: String) -> EventLoopFuture<Void> {
        let pattern = Self.globEscaped(prefix) + [UInt8(ascii: "*")]
        return server([RESP3Command("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")])
            .flatMap { replies -> EventLoopFuture<String> in
                guard case .array(let parts) = replies[0], parts.count == 2, let next = parts[0].string,
                      case .array(let keys) = parts[1] else {
                    return self.eventLoop.makeFailedFuture(self.rejected(replies[0], command: "SCAN", key: nil))
                }
                let names = keys.compactMap { key -> [UInt8]? in
                    if case .blobString(let bytes) = key { return bytes }
                    return nil
                }
                guard !names.isEmpty else { return self.eventLoop.makeSucceededFuture(next) }
                return self.transport.send(names: names, perKey: 1, names.map { RESP3Command("UNLINK", $0) })
                    .flatMapThrowing { replies in
                        if let problem = replies.first(where: \.isError) { throw self.rejected(problem, command: "UNLINK", key: nil) }
                        return next
                    }
            }
            .flatMap { next in
                next == "0" ? self.eventLoop.makeSucceededVoidFuture() : self.scanAndUnlink(on: server, cursor: next)
            }
    }

    /// The prefix with glob metacharacters escaped, for `SCAN MATCH`.
    static func globEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        for byte in bytes {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "\\") {
                result.append(UInt8(ascii: "\\"))
            }
            result.append(byte)
        }
        return result
    }

    // MARK: Encoding and errors

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(Int64(clamping: duration.saturatingNanoseconds))
    }

    func encode(_ key: Key) -> [UInt8] {
        // Room for the key up front: a copy of the prefix has none, and the key's bytes would
        // move it again (two allocations per key of every fill).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.count + 32)
        bytes.append(contentsOf: prefix)
        key.appendBytes(to: &bytes)
        return bytes
    }

    /// Bytes under `key` that do not decode as a value.
    func damaged(_ key: Key, _ error: any Error) -> CacheError {
        CacheError(code: .storeDamaged, message:
            "the shared tier holds bytes under \(describe(key)) that do not decode as \(Value.self) "
            + "(\(error)); another program may write that key: give this cache a keyPrefix of its own.")
    }

    private func describe(_ key: Key) -> String {
        "key \(String(describing: key).prefix(80)) (\(configuration.keyPrefix)…)"
    }

    /// Set once `close()` began: the loop may be gone, so nothing more is queued on it.
    func closedError() -> CacheError? {
        guard closed.load(ordering: .acquiring) else { return nil }
        return CacheError(code: .closed, message: "the cache was closed; its shared tier takes no more calls.")
    }


    func unavailable(_ reason: String?) -> CacheError {
        counters.unavailable.add(1, ordering: .relaxed)
        let last = lastError.withLock { $0 }
        var message = "the shared tier's server (\(transport.serverDescription)) is unreachable"
        if let reason { message += " (\(reason))" }
        if let last { message += "; last connection error: \(last)" }
        message += ". Check that the server runs and the address and credentials are right; the cache reconnects "
            + "on its own. Use whenUnavailable: .degradeToMemory to serve from memory meanwhile."
        return CacheError(code: .sharedTierUnavailable, message: message)
    }

    func rejected(_ reply: RESP3Value, command: String, key: Key?) -> CacheError {
        let what = key.map { " for \(describe($0))" } ?? ""
        let text = reply.errorMessage ?? "unexpected reply \(String(describing: reply).prefix(120))"
        return CacheError(code: .sharedTierRejected, message:
            "\(transport.serverDescription) refused \(command)\(what) of the shared tier: \(text). "
            + "Check the server's configuration (maxmemory, ACLs) and that no other program writes the cache's keys.")
    }

    func cacheError(_ error: any Error) -> CacheError {
        if let error = error as? CacheError { return error }
        if let error = error as? RESP3Error { return unavailable("\(error)") }
        return unavailable("\(error)")
    }
}

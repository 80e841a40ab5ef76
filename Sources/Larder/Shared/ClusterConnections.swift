import Logging
import NIOCore
import RESP3
import Synchronization

/// One RESP3 client per primary of a Redis Cluster, kept in line with the slot map, and
/// commands routed by hash slot: `MOVED` refreshes the map and retries once on the new owner,
/// `ASK` sends the commands once to the migration's target behind `ASKING`. A lost connection
/// also refreshes the map (a failover may have promoted a replica elsewhere).
///
/// The shared tier's cluster mode uses it as its transport: each node's connection tracks the
/// keys read on it, and the tier drops shared entries on every loss and map change. State
/// marked "loop" is touched only on `eventLoop`, which makes `@unchecked Sendable` sound.
final class ClusterConnections: @unchecked Sendable {
    typealias Node = ClusterSlotMap.Node

    struct Callbacks: Sendable {
        /// Every primary of the current map has a ready connection (reported once per
        /// transition; `epoch` grows with every ready and every loss).
        var onReady: @Sendable (_ epoch: UInt64) -> Void = { _ in }
        /// A node's connection was lost.
        var onLost: @Sendable (_ node: Node, _ epoch: UInt64, _ error: any Error) -> Void = { _, _, _ in }
        /// A connection attempt to a node failed.
        var onConnectFailed: @Sendable (_ node: Node, _ error: any Error) -> Void = { _, _ in }
        /// A push arrived on a node's connection.
        var onPush: @Sendable (_ node: Node, _ value: RESP3Value) -> Void = { _, _ in }
        /// The slot map changed (the first map, a resharding, a failover).
        var onMapChanged: @Sendable (ClusterSlotMap) -> Void = { _ in }
        /// No seed or known node gave a usable map; the error names each node tried and why.
        var onRefreshFailed: @Sendable (CacheError) -> Void = { _ in }
    }

    let eventLoop: any EventLoop
    private let seeds: [Node]
    private let template: RESP3Client.Configuration
    private let callbacks: Callbacks
    private let logger: Logger

    // Loop.
    private(set) var map: ClusterSlotMap?
    private var clients: [String: RESP3Client] = [:]
    private var ready: Set<String> = []
    private var refreshing: EventLoopFuture<Void>?
    private var closed = false
    /// Whether `onReady` was reported since the last loss (mirrored, for any thread, in
    /// `everyPrimaryReady`).
    private var reportedReady = false {
        didSet { everyPrimaryReady.store(reportedReady, ordering: .relaxed) }
    }
    let everyPrimaryReady = Atomic<Bool>(false)
    private var retry: Scheduled<Void>?
    private var epoch: UInt64 = 0

    /// `template`'s connection settings (credentials, setup commands, timing) apply to every
    /// node; its host and port are replaced per node.
    init(seeds: [Node], template: RESP3Client.Configuration, eventLoop: any EventLoop,
         logger: Logger = RESP3Client.silentLogger, callbacks: Callbacks) {
        self.seeds = seeds
        self.template = template
        self.eventLoop = eventLoop
        self.logger = logger
        self.callbacks = callbacks
    }

    /// Reads the slot map and connects to every primary.
    func start() {
        eventLoop.execute { _ = self.refresh() }
    }

    /// Closes every connection.
    func close() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.closed = true
            self.retry?.cancel()
            let closing = self.clients.values.map { $0.closeFuture() }
            self.clients = [:]
            self.ready = []
            return EventLoopFuture.andAllComplete(closing, on: self.eventLoop)
        }
    }

    /// Sends `commands`, all for keys in `slot`, to the slot's owner and returns their replies.
    func send(slot: Int, _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        eventLoop.flatSubmit { self.send(slots: [slot], perKey: commands.count, commands) }
    }

    /// Sends `commands`, `perKey` of them for each of `slots` in turn, and returns the replies in
    /// the same order: one pipelined write per node that owns some of the slots, and a redirect
    /// followed per key. On the loop.
    func send(slots: [Int], perKey: Int, _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        eventLoop.preconditionInEventLoop()
        guard let map else { return eventLoop.makeFailedFuture(RESP3Error.notConnected) }
        if slots.count == 1 { return send(slot: slots[0], commands, to: map.primary(forSlot: slots[0])) }
        var byPrimary = [[Int]](repeating: [], count: map.primaries.count)
        for (position, slot) in slots.enumerated() { byPrimary[map.primaryIndex(forSlot: slot)].append(position) }
        // Per primary: the positions it got, and their replies in that order.
        let parts = zip(map.primaries, byPrimary).filter { !$0.1.isEmpty }.map {
            node, positions -> EventLoopFuture<(positions: [Int], replies: [RESP3Value])> in
            guard let client = clients[node.description] else { return eventLoop.makeFailedFuture(RESP3Error.notConnected) }
            let sent = positions.count == slots.count ? commands : positions.flatMap { commands[($0 * perKey)..<(($0 + 1) * perKey)] }
            return client.sendFuture(sent).flatMap { replies in
                // Redirects are rare (a resharding, a failover): only then a future per key.
                guard replies.contains(where: { ClusterRedirect($0) != nil }) else {
                    return self.eventLoop.makeSucceededFuture((positions, replies))
                }
                let each = positions.enumerated().map { n, position in
                    self.following(slot: slots[position], Array(sent[(n * perKey)..<((n + 1) * perKey)]),
                                   Array(replies[(n * perKey)..<((n + 1) * perKey)]), redirected: false)
                }
                return EventLoopFuture.whenAllSucceed(each, on: self.eventLoop).map { (positions, $0.flatMap { $0 }) }
            }
        }
        // One primary holds every key: its replies are already in order.
        if parts.count == 1 { return parts[0].map(\.replies) }
        return EventLoopFuture.whenAllSucceed(parts, on: eventLoop).map { parts in
            var replies = [RESP3Value](repeating: .null, count: commands.count)
            for part in parts {
                for (n, position) in part.positions.enumerated() {
                    replies.replaceSubrange((position * perKey)..<((position + 1) * perKey),
                                            with: part.replies[(n * perKey)..<((n + 1) * perKey)])
                }
            }
            return replies
        }
    }

    /// The map read again from a connected primary or, failing that, from any other node the
    /// last map named and each seed in turn. Concurrent calls share one refresh. Until every
    /// primary is connected, another refresh follows every `retryDelay` (a failover takes the
    /// cluster seconds; a lost node's own reconnection backs off further).
    func refresh() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        if let refreshing { return refreshing }
        var candidates: [Node] = []
        let known = (map?.primaries ?? []) + (map?.replicas.flatMap { $0 } ?? [])
        for node in known.filter({ ready.contains($0.description) }) + known + seeds
        where !candidates.contains(where: { $0.description == node.description }) {
            candidates.append(node)
        }
        let refreshed = fetchMap(from: candidates, errors: []).map { self.apply($0) }
        refreshing = refreshed
        refreshed.whenComplete { result in
            self.refreshing = nil
            if case .failure(let error) = result, let error = error as? CacheError { self.callbacks.onRefreshFailed(error) }
            self.retryUntilReady()
        }
        return refreshed
    }

    static let retryDelay = TimeAmount.milliseconds(500)

    private func retryUntilReady() {
        guard !closed, !reportedReady, retry == nil else { return }
        retry = eventLoop.scheduleTask(in: Self.retryDelay) {
            self.retry = nil
            if !self.closed, !self.reportedReady { _ = self.refresh() }
        }
    }

    // MARK: On the loop

    private func send(slot: Int, _ commands: [RESP3Command], to node: Node, redirected: Bool = false) -> EventLoopFuture<[RESP3Value]> {
        guard let client = clients[node.description] else { return eventLoop.makeFailedFuture(RESP3Error.notConnected) }
        return client.sendFuture(commands).flatMap { self.following(slot: slot, commands, $0, redirected: redirected) }
    }

    /// `replies` as they are, or the replies of `commands` sent where a redirect among them says.
    private func following(slot: Int, _ commands: [RESP3Command], _ replies: [RESP3Value],
                           redirected: Bool) -> EventLoopFuture<[RESP3Value]> {
        guard !redirected, let redirect = replies.lazy.compactMap(ClusterRedirect.init).first else {
            return eventLoop.makeSucceededFuture(replies)
        }
        switch redirect {
        case .moved:
            return refresh().flatMap {
                guard let map = self.map else { return self.eventLoop.makeFailedFuture(RESP3Error.notConnected) }
                return self.send(slot: slot, commands, to: map.primary(forSlot: slot), redirected: true)
            }
        case .ask(_, let target):
            guard let targetClient = clients[target.description] else {
                return eventLoop.makeFailedFuture(RESP3Error.notConnected)
            }
            // ASKING lets exactly the next command in, or a whole transaction when that command is MULTI.
            if commands.first?.name == "MULTI" {
                return targetClient.sendFuture([RESP3Command("ASKING")] + commands).map { Array($0.dropFirst()) }
            }
            let asking = commands.flatMap { [RESP3Command("ASKING"), $0] }
            return targetClient.sendFuture(asking).map { replies in
                replies.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            }
        }
    }

    private func fetchMap(from candidates: [Node], errors: [String]) -> EventLoopFuture<ClusterSlotMap> {
        guard let node = candidates.first else {
            return eventLoop.makeFailedFuture(CacheError(code: .sharedTierUnavailable, message:
                "no node of the cluster answered CLUSTER SLOTS with a usable map: " + errors.joined(separator: "; ")
                + ". Check the seed addresses and that the nodes run in cluster mode."))
        }
        var configuration = template.connection
        configuration.host = node.host
        configuration.port = node.port
        configuration.setupCommands = []
        return RESP3Connection.connect(configuration: configuration, eventLoop: eventLoop, logger: logger)
            .flatMap { connection in
                connection.sendFuture([RESP3Command("CLUSTER", "SLOTS")])
                    .flatMapThrowing { replies in try ClusterSlotMap(slotsReply: replies[0], from: node.description) }
                    .always { _ in connection.channel.close(promise: nil) }
            }
            .flatMapError { error in
                let reason = (error as? CacheError)?.message ?? "\(error)"
                return self.fetchMap(from: Array(candidates.dropFirst()), errors: errors + ["\(node): \(reason)"])
            }
    }

    private func apply(_ map: ClusterSlotMap) {
        guard !closed else { return }
        let changed = self.map != map
        self.map = map
        let wanted = Set(map.primaries.map(\.description))
        for (address, client) in clients where !wanted.contains(address) {
            client.closeFuture().whenComplete { _ in }
            clients[address] = nil
            ready.remove(address)
        }
        for node in map.primaries where clients[node.description] == nil {
            reportedReady = false
            connect(node)
        }
        if changed { callbacks.onMapChanged(map) }
        reportReadyIfComplete()
    }

    private func connect(_ node: Node) {
        var configuration = template
        configuration.connection.host = node.host
        configuration.connection.port = node.port
        let address = node.description
        let client = RESP3Client(
            configuration: configuration, eventLoop: eventLoop, logger: logger,
            callbacks: .init(
                onConnected: { [weak self] _ in
                    guard let self else { return }
                    self.ready.insert(address)
                    self.reportReadyIfComplete()
                },
                onLost: { [weak self] _, error in
                    guard let self else { return }
                    self.ready.remove(address)
                    self.reportedReady = false
                    self.epoch += 1
                    self.callbacks.onLost(node, self.epoch, error)
                    // A failover may have moved the node's slots to a promoted replica.
                    if !self.closed { _ = self.refresh() }
                },
                onPush: { [weak self] _, value in self?.callbacks.onPush(node, value) },
                onConnectFailed: { [weak self] error in
                    guard let self, !self.closed else { return }
                    self.callbacks.onConnectFailed(node, error)
                    _ = self.refresh()
                }))
        clients[address] = client
        client.start()
    }

    private func reportReadyIfComplete() {
        guard !reportedReady, !closed, let map, map.primaries.allSatisfy({ ready.contains($0.description) }) else { return }
        reportedReady = true
        epoch += 1
        callbacks.onReady(epoch)
    }
}

/// The cluster as the shared tier's transport: keys routed by their slot.
extension ClusterConnections: SharedTierTransport {
    func closeFuture() -> EventLoopFuture<Void> { close() }

    func send(names: [[UInt8]], perKey: Int, _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        send(slots: names.map(ClusterSlotMap.slot(of:)), perKey: perKey, commands)
    }

    func eachServer() -> [@Sendable ([RESP3Command]) -> EventLoopFuture<[RESP3Value]>] {
        eventLoop.preconditionInEventLoop()
        let connected = map?.primaries.compactMap { clients[$0.description] } ?? []
        return connected.map { client in { client.sendFuture($0) } }
    }

    /// A lost node makes only its slots' keys unavailable; the other primaries go on serving.
    var isolatesLosses: Bool { true }

    var everyServerReady: Bool { everyPrimaryReady.load(ordering: .relaxed) }

    var serverDescription: String {
        "the Redis Cluster seeded by " + seeds.map(\.description).joined(separator: ", ")
    }
}

import Logging
import NIOCore
import RESP3

/// One RESP3 client per primary of a Redis Cluster, kept in line with the slot map, and
/// commands routed by hash slot: `MOVED` refreshes the map and retries once on the new owner,
/// `ASK` sends the commands once to the migration's target behind `ASKING`. A lost connection
/// also refreshes the map (a failover may have promoted a replica elsewhere).
///
/// The groundwork of the shared tier's cluster mode: the tier will track keys on each node's
/// connection and drop shared entries on every loss and map change. State marked "loop" is
/// touched only on `eventLoop`, which makes `@unchecked Sendable` sound.
final class ClusterConnections: @unchecked Sendable {
    typealias Node = ClusterSlotMap.Node

    struct Callbacks: Sendable {
        /// Every primary of the current map has a ready connection.
        var onReady: @Sendable () -> Void = {}
        /// A node's connection was lost.
        var onLost: @Sendable (_ node: Node, _ error: any Error) -> Void = { _, _ in }
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
            let closing = self.clients.values.map { $0.closeFuture() }
            self.clients = [:]
            self.ready = []
            return EventLoopFuture.andAllComplete(closing, on: self.eventLoop)
        }
    }

    /// Sends `commands`, all for keys in `slot`, to the slot's owner and returns their replies.
    func send(slot: Int, _ commands: [RESP3Command]) -> EventLoopFuture<[RESP3Value]> {
        eventLoop.flatSubmit { self.send(slot: slot, commands, redirected: false) }
    }

    /// The map read again from a connected primary or, failing that, from each seed in turn.
    /// Concurrent calls share one refresh.
    func refresh() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        if let refreshing { return refreshing }
        let known = map?.primaries.filter { ready.contains($0.description) } ?? []
        let candidates = known + seeds.filter { seed in !known.contains { $0.description == seed.description } }
        let refreshed = fetchMap(from: candidates, errors: []).map { self.apply($0) }
        refreshing = refreshed
        refreshed.whenComplete { result in
            self.refreshing = nil
            if case .failure(let error) = result, let error = error as? CacheError { self.callbacks.onRefreshFailed(error) }
        }
        return refreshed
    }

    // MARK: On the loop

    private func send(slot: Int, _ commands: [RESP3Command], redirected: Bool) -> EventLoopFuture<[RESP3Value]> {
        guard let map, let client = clients[map.primary(forSlot: slot).description] else {
            return eventLoop.makeFailedFuture(RESP3Error.notConnected)
        }
        return client.sendFuture(commands).flatMap { replies in
            guard !redirected, let redirect = replies.lazy.compactMap(ClusterRedirect.init).first else {
                return self.eventLoop.makeSucceededFuture(replies)
            }
            switch redirect {
            case .moved:
                return self.refresh().flatMap { self.send(slot: slot, commands, redirected: true) }
            case .ask(_, let target):
                guard let targetClient = self.clients[target.description] else {
                    return self.eventLoop.makeFailedFuture(RESP3Error.notConnected)
                }
                // ASKING lets exactly the next command in: one before each.
                let asking = commands.flatMap { [RESP3Command("ASKING"), $0] }
                return targetClient.sendFuture(asking).map { replies in
                    replies.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
                }
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
        for node in map.primaries where clients[node.description] == nil { connect(node) }
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
                    self.callbacks.onLost(node, error)
                    // A failover may have moved the node's slots to a promoted replica.
                    if !self.closed { _ = self.refresh() }
                },
                onPush: { [weak self] _, value in self?.callbacks.onPush(node, value) },
                onConnectFailed: { [weak self] _ in
                    guard let self, !self.closed else { return }
                    _ = self.refresh()
                }))
        clients[address] = client
        client.start()
    }

    private func reportReadyIfComplete() {
        guard let map, map.primaries.allSatisfy({ ready.contains($0.description) }) else { return }
        callbacks.onReady()
    }
}

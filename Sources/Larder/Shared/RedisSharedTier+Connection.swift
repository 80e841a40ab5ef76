import NIOCore
import RESP3

/// The connection's life as the tier sees it: waiting for it, closing it, and what each
/// connection, loss and push does to memory (all on the tier's event loop).
extension RedisSharedTier {
    func waitUntilConnected(timeout: Duration, completion: @escaping @Sendable (Result<Void, CacheError>) -> Void) {
        if let error = closedError() { return completion(.failure(error)) }
        eventLoop.execute {
            if self.connected.load(ordering: .relaxed) { return completion(.success(())) }
            let id = self.nextWaiter
            self.nextWaiter += 1
            let expiry = self.eventLoop.scheduleTask(in: Self.timeAmount(timeout)) {
                guard let waiter = self.connectWaiters.removeValue(forKey: id) else { return }
                waiter.0(.failure(self.unavailable("no connection within \(timeout)")))
            }
            self.connectWaiters[id] = (completion, expiry)
        }
    }

    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let closing = transport.closeFuture()
        if let group {
            try? closing.wait()
            try? group.syncShutdownGracefully()
        }
    }

    func noteRevalidated(_ count: Int) { counters.revalidated.add(count, ordering: .relaxed) }

    func closeSoon() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let group = self.group
        transport.closeFuture().whenComplete { _ in group?.shutdownGracefully { _ in } }
    }

    func connectionReady(_ epoch: UInt64) {
        // Anything written locally while unreachable (degraded mode) goes before hits resume;
        // tracking was switched on by the connection's setup commands.
        sink?.dropAll()
        counters.fullDrops.add(1, ordering: .relaxed)
        counters.connections.add(1, ordering: .relaxed)
        // The server's value size limit before the first write (a larger bulk would make the
        // server drop the connection), where CONFIG is allowed (managed servers may rename it).
        let limits = transport.eachServer().map { $0([RESP3Command("CONFIG", "GET", "proto-max-bulk-len")]) }
        EventLoopFuture.whenAllComplete(limits, on: eventLoop).whenComplete { results in
            // The smallest limit of the servers (a cluster's nodes may differ).
            var least = Int.max
            for case .success(let replies) in (try? results.get()) ?? [] {
                if case .map(let pairs) = replies[0], let text = pairs.first?.value.string, let limit = Int(text) {
                    least = min(least, limit)
                }
            }
            if least < .max { self.serverBulkLimit.store(least, ordering: .relaxed) }
            guard epoch > self.lostEpoch else { return }  // lost meanwhile
            self.lastError.withLock { $0 = nil }
            self.connected.store(true, ordering: .releasing)
            let waiters = self.connectWaiters
            self.connectWaiters = [:]
            for (completion, expiry) in waiters.values {
                expiry.cancel()
                completion(.success(()))
            }
        }
    }

    func connectionLost(_ epoch: UInt64, _ error: any Error) {
        lostEpoch = epoch
        // Not connected first: a call arriving now fails (or degrades) instead of waiting. In a
        // cluster only the lost node's keys are unavailable: their calls fail on its connection.
        if !transport.isolatesLosses { connected.store(false, ordering: .releasing) }
        lastError.withLock { $0 = "\(error)" }
        sink?.dropAll()
        counters.fullDrops.add(1, ordering: .relaxed)
        counters.connectionLosses.add(1, ordering: .relaxed)
        logger.warning("Larder: shared tier connection lost; every shared entry dropped",
                       metadata: ["server": "\(transport.serverDescription)", "error": "\(error)"])
    }

    /// A cluster's slot map changed: keys may have new owners, whose connections never tracked
    /// this instance's copies. Everything shared goes.
    func ownersChanged() {
        sink?.dropAll()
        counters.fullDrops.add(1, ordering: .relaxed)
    }

    /// A push: an invalidation of keys (drop them), of everything (a flush: `null`), or a
    /// broken tracking redirection (drop everything).
    func pushed(_ push: RESP3Value) {
        guard case .push(let parts) = push, let kind = parts.first?.string else { return }
        switch kind {
        case "invalidate" where parts.count >= 2:
            guard case .array(let names) = parts[1] else {
                sink?.dropAll()
                counters.fullDrops.add(1, ordering: .relaxed)
                return
            }
            for name in names {
                guard case .blobString(let bytes) = name, bytes.starts(with: prefix) else { continue }
                counters.invalidations.add(1, ordering: .relaxed)
                let decoded = bytes.withUnsafeBytes { raw in
                    try? Key(bytes: UnsafeRawBufferPointer(rebasing: raw[prefix.count...]))
                }
                guard let key = decoded else {
                    // A key under our prefix that is not ours to decode: forget everything rather than guess.
                    sink?.dropAll()
                    counters.fullDrops.add(1, ordering: .relaxed)
                    continue
                }
                sink?.invalidate(key)
            }
        case "tracking-redir-broken":
            sink?.dropAll()
            counters.fullDrops.add(1, ordering: .relaxed)
        default:
            break
        }
    }
}

import NIOCore
import RESP3

/// Reads through the tier (a memory miss, a batch of them, revalidation): one `MGET` of the
/// batch's keys and a `PTTL` of each, pipelined in one write (see ``RESP3Reads``). A key whose
/// read is already in flight joins it. The values are installed on the loop when the batch's
/// last reply arrives, in wire order with the pushes around them.
extension RedisSharedTier {
    func loadMany(_ keys: [Key], snapshots: [UInt64],
                  completion: @escaping @Sendable (Result<[Result<Value?, CacheError>], CacheError>) -> Void) {
        if let error = closedError() { return completion(.failure(error)) }
        // Names and the request's bytes are made on the caller's thread: the loop is the
        // bottleneck of a busy tier, the callers are many.
        var encodedNames: [ReadName] = []
        encodedNames.reserveCapacity(keys.count)
        for key in keys { encodedNames.append(ReadName(encode(key))) }
        let names = encodedNames
        let encoded = transport.encodesReads ? Self.encodeReads(names, Array(names.indices)) : nil
        eventLoop.execute {
            guard self.connected.load(ordering: .relaxed) else {
                completion(.failure(self.unavailable(nil)))
                return
            }
            // Keys with a read in flight join it (concurrent misses of a key share one read); the
            // rest go out in one pipelined write, with one future for the batch, none per key. The
            // batch's promise comes first, so that one probe of the table per key both finds a
            // read in flight and enters this one.
            let promise = self.eventLoop.makePromise(of: RESP3ReadReplies.self)
            var sent: [Int] = []
            sent.reserveCapacity(keys.count)
            var joined: [(position: Int, read: InflightRead)] = []
            for position in keys.indices {
                let before = self.inflight.count
                let fresh = InflightRead(replies: promise.futureResult, index: sent.count)
                let entry = Self.entry(&self.inflight[names[position], default: fresh])
                if self.inflight.count != before {
                    sent.append(position)
                } else {
                    joined.append((position, entry))
                }
            }
            var batch: EventLoopFuture<RESP3ReadReplies>? = nil
            if sent.isEmpty {
                promise.succeed(RESP3ReadReplies(keys: 0))  // nothing of this batch waits on it
            } else {
                self.counters.reads.add(sent.count, ordering: .relaxed)
                let request = sent.count == keys.count || encoded == nil ? encoded : Self.encodeReads(names, sent)
                self.transport.sendReads(names: request == nil ? sent.map { names[$0].bytes } : [], keys: sent.count,
                                         encoded: request, promise: promise)
                batch = promise.futureResult
            }
            let sentPositions = sent
            let joinedReads = joined
            let finish: @Sendable (Result<RESP3ReadReplies, any Error>?) -> Void = { result in
                for position in sentPositions { self.inflight[names[position]] = nil }
                var results: [Result<Value?, CacheError>]
                if case .success(let replies)? = result, replies.unusualCount == 0,
                   let installed = self.installFills(keys, sentPositions, snapshots, replies) {
                    results = installed
                } else {
                    results = [Result<Value?, CacheError>](repeating: .success(nil), count: keys.count)
                    switch result {
                    case .success(let replies)?:
                        for (n, position) in sentPositions.enumerated() {
                            results[position] = self.filled(keys[position], replies, n, snapshot: snapshots[position])
                        }
                    case .failure(let error)?:
                        let failure = self.cacheError(error)
                        for position in sentPositions { results[position] = .failure(failure) }
                    case nil:
                        break
                    }
                }
                guard case .success(let replies)? = result, let odd = Self.nullButPresent(replies, sentPositions) else {
                    return self.join(joinedReads, keys: keys, into: results, completion: completion)
                }
                self.classify(odd, keys: keys, names: names, into: results) { results in
                    self.join(joinedReads, keys: keys, into: results, completion: completion)
                }
            }
            if let batch { batch.whenComplete { finish($0) } } else { finish(nil) }
        }
    }

    /// The table entry the subscript's default put there, or the one that was there.
    @inline(__always)
    private static func entry(_ entry: inout InflightRead) -> InflightRead { entry }

    /// The reads of `names[positions]` in one buffer.
    private static func encodeReads(_ names: [ReadName], _ positions: [Int]) -> ByteBuffer {
        let bytes = positions.map { names[$0].bytes }
        var buffer = ByteBufferAllocator().buffer(capacity: RESP3Reads.encodedLength(bytes))
        RESP3Reads.encode(bytes, into: &buffer)
        return buffer
    }

    /// The positions whose value `MGET` answered null while their `PTTL` says the key exists:
    /// a key of another type (`MGET` does not say so), or one written between the two commands.
    private static func nullButPresent(_ replies: RESP3ReadReplies, _ positions: [Int]) -> [Int]? {
        var odd: [Int]? = nil
        for n in positions.indices where replies.starts[n] == -1 && replies.ttls[n] != -2 {
            if case .integer = replies.pttl(n) { odd = (odd ?? []) + [positions[n]] }
        }
        return odd
    }

    /// Asks `GET` of the `odd` keys (rare): a key of another type fails as `GET` would have
    /// failed on it; any other answer is a write after the read, whose invalidation is on its way,
    /// and the read's null stands (nothing was installed for it).
    private func classify(_ odd: [Int], keys: [Key], names: [ReadName], into results: [Result<Value?, CacheError>],
                          then: @escaping @Sendable ([Result<Value?, CacheError>]) -> Void) {
        let oddNames = odd.map { names[$0].bytes }
        transport.send(names: oddNames, perKey: 1, oddNames.map { RESP3Command("GET", $0) }).whenComplete { result in
            var results = results
            for (n, position) in odd.enumerated() {
                switch result {
                case .success(let replies) where replies[n].isError:
                    results[position] = .failure(self.rejected(replies[n], command: "GET", key: keys[position]))
                case .success:
                    break
                case .failure(let error):
                    results[position] = .failure(self.cacheError(error))
                }
            }
            then(results)
        }
    }

    /// Completes a batch after the reads it joined: each joined key's value is decoded from the
    /// replies of the read it joined (that read's caller installs it).
    private func join(_ joined: [(position: Int, read: InflightRead)], keys: [Key],
                      into results: [Result<Value?, CacheError>],
                      completion: @escaping @Sendable (Result<[Result<Value?, CacheError>], CacheError>) -> Void) {
        guard let next = joined.first else { return completion(.success(results)) }
        next.read.replies.whenComplete { result in
            var results = results
            switch result {
            case .success(let replies):
                var ttl: Int64 = 0
                results[next.position] = Result { () throws(CacheError) in
                    try self.decoded(keys[next.position], replies, next.read.index, ttl: &ttl)
                }
            case .failure(let error):
                results[next.position] = .failure(self.cacheError(error))
            }
            self.join(Array(joined.dropFirst()), keys: keys, into: results, completion: completion)
        }
    }

    /// A batch of fills whose replies are all of the usual kind, decoded and installed by the
    /// cache's specialized code (see ``SharedFills``); nil when the cache cannot take them.
    private func installFills(_ keys: [Key], _ positions: [Int], _ snapshots: [UInt64],
                              _ replies: RESP3ReadReplies) -> [Result<Value?, CacheError>]? {
        guard let fill = sink?.fill else { return nil }
        let fills = SharedFills(bytes: replies.bytes, starts: replies.starts, lengths: replies.lengths, ttls: replies.ttls)
        var hits = 0
        let results = fill(keys, positions, snapshots, fills, { key, error in self.damaged(key, error) }, &hits)
        counters.readHits.add(hits, ordering: .relaxed)
        return results
    }

    /// A fill's replies (its value, then its `PTTL`, so that the local copy never outlives the
    /// server's): decodes and installs the value, on the loop, before any later byte is read.
    private func filled(_ key: Key, _ replies: RESP3ReadReplies, _ index: Int, snapshot: UInt64) -> Result<Value?, CacheError> {
        var ttl: Int64 = 0
        let value: Value
        do {
            guard let found = try decoded(key, replies, index, ttl: &ttl) else { return .success(nil) }
            value = found
        } catch {
            return .failure(error)
        }
        counters.readHits.add(1, ordering: .relaxed)
        // 0: expires within the millisecond: returned, not kept.
        if ttl == 0 { return .success(value) }
        guard let sink else { return .success(value) }
        let deadline = ttl < 0 ? nil : sink.now() &+ UInt64(ttl) &* 1_000_000
        sink.install(key, value, deadline, nil, snapshot)
        return .success(value)
    }

    /// The value and its PTTL (-1: none, in `ttl`) from key `index`'s replies; nil when the key is
    /// missing (or was deleted between the two commands: its invalidation is on its way). No
    /// tuple of a generic type: unspecialized, each would cost a metadata lookup.
    private func decoded(_ key: Key, _ replies: RESP3ReadReplies, _ index: Int, ttl: inout Int64) throws(CacheError) -> Value? {
        let value: Value
        switch replies.get(index) {
        case .null:
            return nil
        case .value(let range):
            do {
                value = try replies.bytes.withUnsafeBytes { try Value(bytes: UnsafeRawBufferPointer(rebasing: $0[range])) }
            } catch {
                throw damaged(key, error)
            }
        case .other(let reply):
            throw rejected(reply, command: "GET", key: key)
        }
        switch replies.pttl(index) {
        case .integer(let remaining):
            ttl = remaining
            return remaining == -2 ? nil : value
        case .other(let reply):
            throw rejected(reply, command: "PTTL", key: key)
        }
    }
}

/// A read on the wire: the future of its batch's replies, and which key of the batch it is.
struct InflightRead: Sendable {
    let replies: EventLoopFuture<RESP3ReadReplies>
    let index: Int
}

/// A key's name on the server, hashed once, on the caller's thread, as one run of bytes.
///
/// The in-flight table on the loop looks every name up, inserts it and removes it: with the hash
/// kept here none of the three hashes the bytes again (an array of bytes hashes byte by byte, and
/// even as one run each hash costs a seeded SipHash on the loop). The stored hash is Swift's own
/// (seeded per process), so the table is as hard to flood with collisions as any other.
struct ReadName: Hashable, Sendable {
    let bytes: [UInt8]
    let hash: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var hasher = Hasher()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        self.hash = hasher.finalize()
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    /// What Dictionary asks for: the stored hash, mixed with the table's seed (no Hasher run).
    func _rawHashValue(seed: Int) -> Int { hash ^ seed }

    static func == (a: ReadName, b: ReadName) -> Bool { a.hash == b.hash && a.bytes == b.bytes }
}

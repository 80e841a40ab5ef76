/// Where a ``Cache``'s shared tier lives, and the staleness bound it keeps.
///
/// With a shared tier, the cache's memory is a near-cache of a Redis server that every
/// instance of a service shares: a memory miss reads Redis, a set writes Redis and the local
/// copy, a removal deletes both. Redis's client-side caching (`CLIENT TRACKING`) tells each
/// instance when a key it read changes, and the instance drops its copy.
///
/// ## The guarantee
/// A read on any instance that starts more than ``effectiveMaxStaleness`` after a write was
/// acknowledged on another instance never returns the overwritten value, and an instance always
/// reads its own writes. The bound comes from the heartbeat: an invalidation travels on the
/// connection that read the key, in order with the replies, and a connection that stops
/// delivering is given up after at most ``heartbeatInterval`` + ``heartbeatTimeout``; giving it
/// up drops every entry that came from Redis before anything is served again.
///
/// ## When Redis is down
/// ``whenUnavailable`` says what reads and writes do while no connection is up (connecting,
/// reconnecting after a loss, a wrong password, nothing listening): ``WhenUnavailable/fail``
/// makes them throw ``CacheError/Code/sharedTierUnavailable`` at once, with the last connection
/// error in the message; ``WhenUnavailable/degradeToMemory`` serves from memory only, keeping each
/// local write no longer than ``effectiveMaxStaleness``. In both modes nothing that came from Redis
/// before the loss is served after it.
public struct SharedTierConfiguration: Sendable, Equatable {
    /// What reads and writes of the shared tier do while Redis cannot be reached.
    public enum WhenUnavailable: Sendable, Equatable {
        /// Throw ``CacheError/Code/sharedTierUnavailable`` (the non-throwing
        /// ``Cache/value(forKey:)`` returns `nil`).
        case fail
        /// Work as a memory-only cache: reads miss unless this instance wrote the key while
        /// Redis was unreachable, writes stay local and live at most ``effectiveMaxStaleness``
        /// (so no other instance's later write can be hidden for longer), removals are local
        /// only. Everything written locally is dropped when the connection comes back.
        case degradeToMemory
    }

    /// A server's address.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// The host name or address.
        public var host: String
        /// The TCP port.
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// The server's host name or address (a single server; unused with ``clusterSeeds``).
    public var host: String
    /// The server's TCP port (a single server; unused with ``clusterSeeds``).
    public var port: Int
    /// Nodes of a Redis Cluster to discover it from, or `nil` for the single server at
    /// ``host`` and ``port``. The cache reads the slot map (`CLUSTER SLOTS`) from the first seed
    /// that answers, keeps one connection with tracking on to each primary, and sends each key's
    /// commands to the primary that owns its hash slot. Replicas are never read from, so the
    /// guarantee is the single server's.
    public var clusterSeeds: [Endpoint]?
    /// The ACL user name, or `nil` for the default user.
    public var username: String?
    /// The password (`AUTH`), or `nil` when the server needs none.
    public var password: String?
    /// Put before every key's bytes on the server, so that several caches (or other
    /// data) can share one Redis database. Must not be empty.
    public var keyPrefix: String
    /// How often a quiet connection is checked with `PING`.
    public var heartbeatInterval: Duration
    /// How long any reply (the `PING`'s or a read's) may take before the connection is
    /// given up and every shared entry dropped.
    public var heartbeatTimeout: Duration
    /// The staleness bound promised to readers; `nil` derives it from the heartbeat
    /// (see ``effectiveMaxStaleness``). Must be at least `heartbeatInterval + heartbeatTimeout`.
    public var maxStaleness: Duration?
    /// What reads and writes do while Redis cannot be reached.
    public var whenUnavailable: WhenUnavailable
    /// How long a TCP connect may take.
    public var connectTimeout: Duration
    /// The largest encoded value the cache sends; the server's own `proto-max-bulk-len`, read at
    /// each connection, lowers it when smaller. A larger value is refused with
    /// ``CacheError/Code/valueTooLarge`` before it reaches the wire.
    public var maxValueBytes: Int
    /// How many replicas must hold a write before ``Cache/setValue(_:forKey:)-4fjdq`` returns
    /// (Redis's `WAIT`), so that a failover cannot lose an acknowledged write; 0 (the default)
    /// returns when the primary has it, as Redis's replication is asynchronous. A write that
    /// fewer replicas hold within ``replicaTimeout`` throws ``CacheError/Code/sharedTierRejected``:
    /// the primary has it, but a failover may lose it.
    public var waitForReplicas: Int = 0
    /// How long a write waits for ``waitForReplicas`` replicas; `nil` (the default) waits half
    /// of ``heartbeatTimeout``. Shorter than ``heartbeatTimeout``, since the wait holds back every
    /// later reply on the key's connection.
    public var replicaTimeout: Duration? = nil

    /// The wait for replicas that writes use: ``replicaTimeout``, or half of ``heartbeatTimeout``.
    public var effectiveReplicaTimeout: Duration { replicaTimeout ?? heartbeatTimeout / 2 }

    /// A single Redis server; see the properties for each setting.
    public static func redis(host: String = "127.0.0.1", port: Int = 6379, keyPrefix: String = "larder:",
                             username: String? = nil, password: String? = nil,
                             heartbeatInterval: Duration = .milliseconds(250),
                             heartbeatTimeout: Duration = .milliseconds(750),
                             maxStaleness: Duration? = nil,
                             whenUnavailable: WhenUnavailable = .fail,
                             connectTimeout: Duration = .seconds(1),
                             maxValueBytes: Int = 512 << 20) -> SharedTierConfiguration {
        SharedTierConfiguration(host: host, port: port, username: username, password: password,
                                keyPrefix: keyPrefix, heartbeatInterval: heartbeatInterval,
                                heartbeatTimeout: heartbeatTimeout, maxStaleness: maxStaleness,
                                whenUnavailable: whenUnavailable, connectTimeout: connectTimeout,
                                maxValueBytes: maxValueBytes)
    }

    /// A Redis Cluster, discovered from `seeds` (any of its nodes; one that answers is enough):
    /// each key goes to the primary that owns its hash slot. Keys whose names share a hash tag
    /// (the text between the first `{` and the next `}`, in the prefix or the key) share a slot,
    /// so they live on one node. The other settings are those of ``redis(host:port:keyPrefix:username:password:heartbeatInterval:heartbeatTimeout:maxStaleness:whenUnavailable:connectTimeout:maxValueBytes:)``,
    /// applied to every node's connection.
    ///
    /// The guarantee holds through resharding and failover: a slot's keys leave a node with an
    /// invalidation from that node (`MIGRATE` deletes them there), a node's lost connection drops
    /// every shared entry, and so does every change of the slot map. While any primary is
    /// unreachable (a failover in progress), the cache counts as unavailable.
    public static func redisCluster(seeds: [Endpoint], keyPrefix: String = "larder:", waitForReplicas: Int = 0,
                                    username: String? = nil, password: String? = nil,
                                    heartbeatInterval: Duration = .milliseconds(250),
                                    heartbeatTimeout: Duration = .milliseconds(750),
                                    maxStaleness: Duration? = nil,
                                    whenUnavailable: WhenUnavailable = .fail,
                                    connectTimeout: Duration = .seconds(1),
                                    maxValueBytes: Int = 512 << 20) -> SharedTierConfiguration {
        var configuration = redis(host: seeds.first?.host ?? "", port: seeds.first?.port ?? 0, keyPrefix: keyPrefix,
                                  username: username, password: password, heartbeatInterval: heartbeatInterval,
                                  heartbeatTimeout: heartbeatTimeout, maxStaleness: maxStaleness,
                                  whenUnavailable: whenUnavailable, connectTimeout: connectTimeout,
                                  maxValueBytes: maxValueBytes)
        configuration.clusterSeeds = seeds
        configuration.waitForReplicas = waitForReplicas
        return configuration
    }

    /// The bound the guarantee uses: ``maxStaleness`` when set, else the longest a silent
    /// connection can go unnoticed (`heartbeatInterval + heartbeatTimeout`) plus one more
    /// interval for the timer that notices it to run late.
    public var effectiveMaxStaleness: Duration {
        maxStaleness ?? heartbeatInterval * 2 + heartbeatTimeout
    }

    /// Checks every field; the error names the one to change.
    func validate(_ cache: CacheConfiguration) throws(CacheError) {
        func invalid(_ message: String) -> CacheError { .invalidConfiguration("shared tier: " + message) }
        if let clusterSeeds {
            guard !clusterSeeds.isEmpty else {
                throw invalid("clusterSeeds is empty; give at least one node of the cluster (host and port).")
            }
            for (index, seed) in clusterSeeds.enumerated() {
                guard !seed.host.isEmpty else { throw invalid("clusterSeeds[\(index)] has an empty host; give the node's host name or address.") }
                guard (1...65535).contains(seed.port) else {
                    throw invalid("clusterSeeds[\(index)] (\(seed)) has port \(seed.port); it must be in 1...65535.")
                }
            }
        } else {
            guard !host.isEmpty else { throw invalid("host is empty; give the Redis server's host name or address.") }
            guard (1...65535).contains(port) else { throw invalid("port is \(port); it must be in 1...65535.") }
        }
        guard !keyPrefix.isEmpty else {
            throw invalid("keyPrefix is empty; give a prefix (for example \"myservice:\") so that the cache's keys cannot collide with other data.")
        }
        guard heartbeatInterval > .zero else { throw invalid("heartbeatInterval is \(heartbeatInterval); it must be > 0.") }
        guard heartbeatTimeout > .zero else { throw invalid("heartbeatTimeout is \(heartbeatTimeout); it must be > 0.") }
        guard connectTimeout > .zero else { throw invalid("connectTimeout is \(connectTimeout); it must be > 0.") }
        guard waitForReplicas >= 0 else { throw invalid("waitForReplicas is \(waitForReplicas); it must be >= 0.") }
        if let replicaTimeout, replicaTimeout <= .zero { throw invalid("replicaTimeout is \(replicaTimeout); it must be > 0.") }
        if waitForReplicas > 0, effectiveReplicaTimeout >= heartbeatTimeout {
            throw invalid("replicaTimeout (\(effectiveReplicaTimeout)) must be shorter than heartbeatTimeout (\(heartbeatTimeout)): "
                + "a write waiting for replicas holds its connection's replies, and a reply later than heartbeatTimeout "
                + "gives the connection up. Lower replicaTimeout or raise heartbeatTimeout.")
        }
        guard maxValueBytes > 0 else { throw invalid("maxValueBytes is \(maxValueBytes); it must be > 0.") }
        if let maxStaleness, maxStaleness < heartbeatInterval + heartbeatTimeout {
            throw invalid("maxStaleness (\(maxStaleness)) is shorter than heartbeatInterval + heartbeatTimeout "
                + "(\(heartbeatInterval + heartbeatTimeout)), the longest a silent connection can go unnoticed; "
                + "raise maxStaleness or lower the heartbeat settings.")
        }
        guard cache.supportsExpiry else {
            throw invalid("the cache has supportsExpiry: false; a shared tier needs expiry so that no local copy "
                + "outlives the server's (PTTL) or, while Redis is unreachable, maxStaleness. Create the cache "
                + "with supportsExpiry: true.")
        }
    }
}

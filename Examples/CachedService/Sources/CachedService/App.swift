import HTTPTypes
import Hummingbird
import Larder
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization

/// A Hummingbird 2 service that serves a slow backend's answers through a
/// Larder `Cache` with a byte budget and the LMDB tier, memoizes a computed
/// endpoint, exposes `/metrics` for Prometheus, and shuts down gracefully on
/// SIGTERM (the cache's pending writes reach the disk, and the next start
/// serves them from there).
///
/// - `GET /item/{id}`: the backend's answer for `id`; header `X-Cache: hit` or `miss`.
/// - `GET /fib/{n}`: Fibonacci(n) mod 2^64, memoized.
/// - `GET /metrics`: Prometheus text format.
@main
struct App {
    static func main() async throws {
        let settings = try Settings.fromEnvironment()
        let logger = Logger(label: "cached-service")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let configuration = CacheConfiguration(maxCount: 100_000, maxBytes: 32 << 20, defaultTTL: .seconds(3600),
                                               name: "items")
        let items = if let durability = settings.durability {
            try Cache<String, [UInt8]>(
                configuration: configuration,
                persistence: .lmdb(directory: settings.cacheDirectory, maxBytes: 256 << 20, durability: durability),
                logger: logger)
        } else {
            try Cache<String, [UInt8]>(configuration: configuration, logger: logger)
        }
        let fibonacci = try AsyncMemoized(maxCount: 1_000) { (n: Int) async -> UInt64 in
            var (a, b): (UInt64, UInt64) = (0, 1)
            for _ in 0..<n { (a, b) = (b, a &+ b) }
            return a
        }
        let metrics = CacheMetrics(cache: items)
        let backend = SlowBackend(delay: settings.backendDelay)

        let router = Router()
        router.get("item/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            let (body, hit) = try await Self.item(id, cache: settings.cacheEnabled ? items : nil, backend: backend)
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; charset=utf-8", .xCache: hit ? "hit" : "miss"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("fib/:n") { _, context -> String in
            let n = try context.parameters.require("n", as: Int.self)
            guard (0...10_000).contains(n) else { throw HTTPError(.badRequest, message: "n must be in 0...10000") }
            return "\(await fibonacci(n))\n"
        }
        router.get("metrics") { _, _ -> String in
            metrics.update()  // at scrape time, besides CacheService's schedule
            return registry.emitToString()
        }

        let app = Application(router: router,
                              configuration: .init(address: .hostname("127.0.0.1", port: settings.port)),
                              logger: logger)
        // After the server: a group stops its services in reverse order, so the
        // server stops taking requests before the cache is flushed and closed.
        let group = ServiceGroup(configuration: .init(
            services: [app, try CacheService(items, metrics: metrics)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.notice("cache closed", metadata: ["entries": "\(items.count)"])
    }

    /// The cached answer for `id`, or the backend's, stored (one fetch per id at a
    /// time); and whether it was a hit (the fetch did not run for this request).
    static func item(_ id: String, cache: Cache<String, [UInt8]>?, backend: SlowBackend) async throws -> ([UInt8], Bool) {
        guard let cache else { return (try await backend.fetch(id), false) }
        let fetched = Fetched()
        let body = try await cache.value(forKey: id) {
            fetched.ran.store(true, ordering: .relaxed)
            return try await backend.fetch(id)
        }
        return (body, !fetched.ran.load(ordering: .relaxed))
    }
}

/// Whether a request's fetch ran.
final class Fetched: Sendable {
    let ran = Atomic<Bool>(false)
}

extension HTTPField.Name {
    static let xCache = Self("X-Cache")!
}

import Metrics

/// Stands in for a database or another service: every fetch takes `delay`
/// and returns about 2 KiB for the id. Fetches are counted in
/// `backend_fetches_total` (the cache's promise: one per id while it stays cached).
struct SlowBackend: Sendable {
    let delay: Duration
    let fetches = Counter(label: "backend_fetches_total")

    func fetch(_ id: String) async throws -> [UInt8] {
        fetches.increment()
        try await Task.sleep(for: delay)
        let line = Array("item \(id): the slow backend's answer.\n".utf8)
        var body: [UInt8] = []
        body.reserveCapacity(2048)
        while body.count + line.count <= 2048 { body += line }
        return body
    }
}

import Testing
@testable import Larder

/// Starts a get-or-compute of `value` for `key` that holds at `gate`, and
/// returns once its flight is registered (later callers wait on it).
func startGatedComputation(of value: Int, forKey key: String, in cache: Cache<String, Int>,
                           gate: Gate) async -> Task<Int, any Error> {
    let leader = Task {
        try await cache.value(forKey: key, orCompute: { @Sendable () async throws -> Int in
            await gate.wait()
            return value
        })
    }
    #expect(await eventually { cache.hasFlight(forKey: key) })
    return leader
}

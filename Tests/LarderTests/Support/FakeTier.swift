import Foundation
import Synchronization
@testable import Larder

/// An in-memory lower tier that records every call.
final class FakeTier: CacheBackingTier, Sendable {
    typealias Key = String
    typealias Value = Int
    let entries = TestLock<[String: (value: Int, deadline: UInt64?)]>([:])
    let calls = LockedList<String>()
    let failStores = Atomic<Bool>(false)
    /// Where a call stops once: it signals `paused` and waits for `resume`, so a
    /// test runs other calls in between.
    final class PausePoint: Sendable {
        let paused = DispatchSemaphore(value: 0)
        let resume = DispatchSemaphore(value: 0)
    }
    private let pauseLock = NSLock()
    nonisolated(unsafe) private var pausePoints: [String: PausePoint] = [:]

    /// Stops the next call `call`: "before store k" (nothing written yet), "store k"
    /// (written) or "load k" (read).
    func pause(at call: String) -> PausePoint {
        let point = PausePoint()
        pauseLock.withLock { pausePoints[call] = point }
        return point
    }

    private func pauseIfAsked(_ call: String) {
        guard let point = pauseLock.withLock({ pausePoints.removeValue(forKey: call) }) else { return }
        point.paused.signal()
        point.resume.wait()
    }

    func store(_ value: Int, forKey key: String, deadline: UInt64?) throws(CacheError) {
        pauseIfAsked("before store \(key)")
        calls.append("store \(key)")
        if failStores.load(ordering: .relaxed) {
            throw CacheError(code: .storeUnavailable, message: "fake store refuses writes")
        }
        entries.withLock { $0[key] = (value, deadline) }
        pauseIfAsked("store \(key)")
    }
    func load(forKey key: String) -> (value: Int, deadline: UInt64?)? {
        calls.append("load \(key)")
        let found = entries.withLock { $0[key] }
        pauseIfAsked("load \(key)")
        return found
    }
    func remove(forKey key: String) {
        calls.append("remove \(key)")
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
    func removeAll() {
        calls.append("removeAll")
        entries.withLock { $0.removeAll() }
    }
    let accessClock = AccessStampClock(after: 0)
    private let accessSource = TestLock<(@Sendable () -> [(key: String, stamp: UInt64)])?>(nil)
    var accessRecording: (clock: AccessStampClock, batchSize: Int)? { (accessClock, 1024) }
    func setAccessSource(_ source: @escaping @Sendable () -> [(key: String, stamp: UInt64)]) {
        accessSource.withLock { $0 = source }
    }
    func requestAccessDrain() {}
    /// The keys accessed since the last call, from least to most recent (as a tier takes them).
    func takeAccesses() -> [String] {
        guard let source = accessSource.withLock({ $0 }) else { return [] }
        return source().sorted { $0.stamp < $1.stamp }.map(\.key)
    }
}

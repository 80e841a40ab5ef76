import LarderFuzzSupport
import NIOEmbedded
import RESP3
import Synchronization

@testable import Larder

/// The shared tier's reading of pushes (RedisSharedTier.pushed) with a sink that records what it
/// was told to drop; the tier is never started, so it makes no connection.
enum TierPushes {
    static let prefix = "t:"
    static let invalidated = Mutex<[String]>([])
    static let tier: RedisSharedTier<String, String> = {
        let tier = RedisSharedTier<String, String>(configuration: .redis(keyPrefix: prefix), eventLoop: EmbeddedEventLoop(),
                                                   logger: nil)
        tier.sink = SharedTierSink(install: { _, _, _, _, _ in },
                                   invalidate: { key in TierPushes.invalidated.withLock { $0.append(key) } },
                                   dropAll: {}, now: { 0 })
        return tier
    }()

    static func check(_ push: RESP3Value) {
        invalidated.withLock { $0.removeAll() }
        tier.pushed(push)
        let keys = invalidated.withLock { $0 }
        guard !keys.isEmpty else { return }
        guard case .push(let parts) = push, parts.count >= 2, case .array(let names) = parts[1] else {
            return fuzzCheck(false, "keys \(keys) invalidated by \(push)")
        }
        let named = Set(names.compactMap(\.bytes))
        for key in keys { fuzzCheck(named.contains(Array((prefix + key).utf8)), "key \(key) invalidated by \(push)") }
    }
}

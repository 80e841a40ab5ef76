import CLarderCore
import CLarderSystem

/// Keys to hashes and hashes to shards, with the miss hint (larder_miss_hint.h) that
/// spares the set of cache-aside code a second hash of the key it just missed.
extension Cache {
    /// The key's hash, seeded per process (never persisted): for the
    /// fixed-width integer types a keyed multiply-fold of the key's bits
    /// (larder_integer_hash.h: a fraction of SipHash's instructions), for any
    /// other type Swift's `Hasher`.
    @inlinable
    static func hash(_ key: Key) -> UInt64 {
        if let bits = integerBits(of: key) { return larder_hash_integer(bits) }
        return UInt64(bitPattern: Int64(key.hashValue))
    }

    /// The bits of a key of a fixed-width integer type of 4 or 8 bytes (whose
    /// `==` is equality of bits), else nil. Constant-folds once specialized.
    @inlinable @inline(__always)
    static func integerBits(of key: Key) -> UInt64? {
        guard Key.self == Int.self || Key.self == UInt.self || Key.self == Int64.self || Key.self == UInt64.self
            || Key.self == Int32.self || Key.self == UInt32.self else { return nil }
        // By size, not by type: `Int` and `UInt` are 4 bytes on a 32-bit platform.
        switch MemoryLayout<Key>.size {
        case 8: return withUnsafeBytes(of: key) { $0.loadUnaligned(as: UInt64.self) }
        case 4: return UInt64(withUnsafeBytes(of: key) { $0.loadUnaligned(as: UInt32.self) })
        default: return nil
        }
    }

    /// Whether `Key`'s bytes are its whole value and fit the miss hint
    /// (larder_miss_hint.h): a trivial type of at most 16 bytes. Constant
    /// once specialized.
    @inlinable
    static var keyFitsMissHint: Bool { _isPOD(Key.self) && MemoryLayout<Key>.size <= 16 }

    /// `Key`'s identity in the miss hint: two key types with the same bytes
    /// may hash differently.
    @inlinable
    static var keyTypeIdentity: UnsafeRawPointer { unsafeBitCast(Key.self as Any.Type, to: UnsafeRawPointer.self) }

    /// `key`'s bytes, zero-padded to 16 (call only when `keyFitsMissHint`).
    @inlinable @inline(__always)
    static func hintBytes(of key: Key) -> (UInt64, UInt64) {
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeBytes(of: key) { source in
            withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: source) }
        }
        return bytes
    }

    /// Leaves a missed key's hash for a set of the same key on this thread.
    @inlinable @inline(__always)
    static func noteMiss(_ key: Key, hash: UInt64) {
        guard keyFitsMissHint else { return }
        let hint = larder_thread_miss_hint()!
        hint.pointee.key = hintBytes(of: key)
        hint.pointee.hash = hash
        hint.pointee.type = keyTypeIdentity
    }

    /// The hash of a key being stored: the miss hint's when this thread's last
    /// miss was the same key (the get-then-set of cache-aside code), else
    /// computed. Equal type and bytes give the same hash: for a trivial type
    /// the bytes are the whole value.
    @inlinable @inline(__always)
    static func hashForStore(_ key: Key) -> UInt64 {
        if keyFitsMissHint {
            let hint = larder_thread_miss_hint()!
            if hint.pointee.type == keyTypeIdentity && hint.pointee.key == hintBytes(of: key) {
                return hint.pointee.hash
            }
        }
        return hash(key)
    }

    /// The shard for a hash: Lemire's multiply-shift range reduction of the
    /// hash's low 16 bits. Every operation computes it before its first load
    /// of the index, so its latency is on each operation's chain of dependent
    /// loads: one multiply, not a mix first (a mix of all 64 bits then a
    /// reduction made a one-shard cache's operations 10 % slower when it went
    /// through them, docs/Performance.md). The low 16 bits are ones that
    /// nothing else reads as they are: the index takes its tag and home bucket
    /// from the high 32, W-TinyLFU's record of departures its slot from the
    /// top of the low 32 (where these bits move the slot by less than one),
    /// and the sketch and the ghost mix the whole hash first. So a shard's
    /// keys still spread over its whole index and tables.
    @inlinable
    func shardIndex(_ hash: UInt64) -> Int {
        let count = UInt64(shards.count)
        if count == 1 { return 0 }
        return Int(((hash & 0xFFFF) &* count) >> 16)
    }
}

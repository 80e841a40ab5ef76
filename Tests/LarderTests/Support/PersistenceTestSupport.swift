import Foundation
import Logging
import Synchronization
@testable import Larder

/// A fresh directory under the system temp dir (or `parent`), removed on deinit.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init(_ label: String = "larder", in parent: String = NSTemporaryDirectory()) {
        var template = Array((parent + "/\(label)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A path inside the directory (not created).
    func sub(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A settable wall clock for the byte-level store.
final class TestWallClock: Sendable {
    let now = TestLock<UInt64>(1_700_000_000_000_000_000)
    func advance(seconds: UInt64) { now.withLock { $0 += seconds * 1_000_000_000 } }
    var read: @Sendable () -> UInt64 { { [self] in now.withLock { $0 } } }
}

/// File permission bits of `path`.
func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return st.st_mode & 0o777
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A put of a UTF-8 key and value with the store's next stamp.
func stringPut(_ store: DiskStore, _ key: String, _ value: String) -> DiskStore.WriteOp {
    let record = DiskRecord.make(key: bytes(key), deadline: nil, stamp: store.nextStamp()) { $0.append(contentsOf: bytes(value)) }
    return .put(storageKey: StorageKey.make(bytes(key)), record: record)
}

/// The UTF-8 value stored for `key`, or nil.
func storedString(_ store: DiskStore, _ key: String) -> String? {
    if case .found(let v, _) = store.read(storageKey: StorageKey.make(bytes(key)), key: bytes(key),
                                          decode: { String(decoding: $0, as: UTF8.self) }) {
        return v
    }
    return nil
}

/// A suite whose persistent caches log to its captured logs.
protocol LoggingPersistenceSuite {
    var logs: CapturedLogs { get }
}

extension LoggingPersistenceSuite {
    /// ``makePersistentCache(_:maxCount:clock:durability:diskBytes:logger:)`` logging to `logs`.
    func makeCache<K: ByteCodable & Hashable, V: ByteCodable>(
        _ dir: String, maxCount: Int, clock: any CacheClock = ManualCacheClock(),
        durability: PersistenceConfiguration.Durability = .synchronous, diskBytes: Int = 64 << 20
    ) throws -> Cache<K, V> {
        try makePersistentCache(dir, maxCount: maxCount, clock: clock, durability: durability, diskBytes: diskBytes,
                                logger: logs.logger)
    }
}

/// A cache without a sweeper over an LMDB store in `dir`.
func makePersistentCache<K: ByteCodable & Hashable, V: ByteCodable>(
    _ dir: String, maxCount: Int, clock: any CacheClock = ManualCacheClock(),
    durability: PersistenceConfiguration.Durability = .synchronous, diskBytes: Int = 64 << 20, logger: Logger
) throws -> Cache<K, V> {
    try Cache<K, V>(configuration: .init(maxCount: maxCount, sweepInterval: nil),
                    persistence: .lmdb(directory: dir, maxBytes: diskBytes, durability: durability),
                    clock: clock, logger: logger)
}

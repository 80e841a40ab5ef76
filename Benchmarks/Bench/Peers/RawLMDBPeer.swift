import CLMDB
import Foundation

/// LMDB used directly, as a program without Larder would: one environment, the
/// unnamed database, one write transaction per put. The durability suite's
/// reference for what the disk and LMDB themselves cost.
///
/// `synced: true` commits with LMDB's defaults (data fdatasync'd, then the meta page
/// written through an O_DSYNC descriptor); `false` opens with `MDB_NOSYNC` (no sync
/// at commit; `sync()` forces one, used once at the end of a measurement).
final class RawLMDBPeer: @unchecked Sendable {
    private let env: OpaquePointer
    private let dbi: MDB_dbi

    init(directory: String, synced: Bool, mapSize: Int = 1 << 30) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env: OpaquePointer?
        try Self.check(mdb_env_create(&env), "mdb_env_create")
        self.env = env!
        try Self.check(mdb_env_set_mapsize(self.env, mapSize), "mdb_env_set_mapsize")
        let flags = synced ? 0 : UInt32(MDB_NOSYNC)
        try Self.check(mdb_env_open(self.env, directory, flags, 0o600), "mdb_env_open")
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(self.env, nil, 0, &txn), "mdb_txn_begin")
        var dbi = MDB_dbi()
        try Self.check(mdb_dbi_open(txn, nil, 0, &dbi), "mdb_dbi_open")
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
        self.dbi = dbi
    }

    /// One write transaction holding one put, committed. `key` is stored as its 8
    /// little-endian bytes (as Larder encodes an `Int`).
    @inline(__always)
    func put(_ key: Int, _ value: [UInt8]) throws {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var k = key.littleEndian
        let rc = withUnsafeMutableBytes(of: &k) { kb -> Int32 in value.withUnsafeBytes { value in
            var kv = MDB_val(mv_size: kb.count, mv_data: kb.baseAddress)
            var vv = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            return mdb_put(txn, dbi, &kv, &vv, 0)
        } }
        if rc != 0 {
            mdb_txn_abort(txn)
            try Self.check(rc, "mdb_put")
        }
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }

    /// Forces a sync (`mdb_env_sync(force: 1)`).
    func sync() throws { try Self.check(mdb_env_sync(env, 1), "mdb_env_sync") }

    func close() { mdb_env_close(env) }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    @inline(__always)
    static func check(_ rc: Int32, _ function: String) throws {
        if rc != 0 { throw Failure(description: "\(function): \(String(cString: mdb_strerror(rc))) (\(rc))") }
    }
}

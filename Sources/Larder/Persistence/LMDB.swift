import CLMDB

// A thin typed layer over LMDB's C API (in the manner of swift-system): each
// wrapper names the C function it calls, and every non-zero return code
// becomes a thrown `LMDBError` carrying `mdb_strerror`'s text. Policy (map
// growth, locking, durability) lives in `DiskStore`, not here.

/// A failed LMDB call: the C function and its return code.
struct LMDBError: Error, CustomStringConvertible, Equatable {
    /// The return code: an `errno` value or one of LMDB's `MDB_*` codes.
    var code: Int32
    /// The C function that returned it.
    var function: String

    /// `mdb_strerror`'s text for the code (LMDB's own codes and `strerror` for errno values).
    var message: String { String(cString: mdb_strerror(code)) }
    var description: String { "\(function): \(message) (\(code))" }

    var isMapFull: Bool { code == MDB_MAP_FULL }
    var isNotFound: Bool { code == MDB_NOTFOUND }
}

@inline(__always)
private func check(_ rc: Int32, _ function: @autoclosure () -> String) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc, function: function()) }
}

extension MDB_val {
    /// Borrows `bytes` for the duration of one call (LMDB never writes through a key or input value).
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer) {
        self.init(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
    }

    /// The bytes LMDB returned: valid until the transaction ends or the next write in it.
    @inline(__always)
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mv_data, count: mv_size)
    }
}

/// An LMDB environment (`MDB_env`): one memory-mapped data file plus its lock file.
///
/// Thread safety follows LMDB's rules with `MDB_NOTLS`: read transactions may be used
/// from any thread (one at a time each), a write transaction only on the thread that
/// began it, and `setMapSize` only while no transaction of this process is active.
final class LMDBEnvironment: @unchecked Sendable {
    let handle: OpaquePointer

    /// Creates an unopened environment: `mdb_env_create`, `mdb_env_set_maxdbs`, `mdb_env_set_mapsize`.
    init(maxDatabases: UInt32, mapSize: Int) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        handle = env!
        do {
            try check(mdb_env_set_maxdbs(handle, maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_mapsize(handle, mapSize), "mdb_env_set_mapsize")
        } catch {
            mdb_env_close(handle)
            throw error
        }
    }

    private var closed = false

    /// Opens the environment in `directory` (`mdb_env_open`), creating `data.mdb` and
    /// `lock.mdb` with `mode` when they do not exist. On failure the handle must still be closed.
    func open(directory: String, flags: UInt32, mode: mode_t) throws(LMDBError) {
        try check(mdb_env_open(handle, directory, flags, mode), "mdb_env_open(\(directory))")
    }

    /// Sets the map size (`mdb_env_set_mapsize`); only while no transaction is active in this process.
    func setMapSize(_ size: Int) throws(LMDBError) {
        try check(mdb_env_set_mapsize(handle, size), "mdb_env_set_mapsize")
    }

    /// Environment information (`mdb_env_info`): map size, last used page, last transaction id.
    func info() throws(LMDBError) -> MDB_envinfo {
        var info = MDB_envinfo()
        try check(mdb_env_info(handle, &info), "mdb_env_info")
        return info
    }

    /// Statistics of the main database (`mdb_env_stat`), including the page size.
    func stat() throws(LMDBError) -> MDB_stat {
        var stat = MDB_stat()
        try check(mdb_env_stat(handle, &stat), "mdb_env_stat")
        return stat
    }

    /// Flushes the data to disk (`mdb_env_sync`); `force` syncs even with `MDB_NOSYNC`.
    func sync(force: Bool) throws(LMDBError) {
        try check(mdb_env_sync(handle, force ? 1 : 0), "mdb_env_sync")
    }

    /// Clears reader slots left by dead processes (`mdb_reader_check`); returns how many.
    @discardableResult
    func clearStaleReaders() throws(LMDBError) -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(handle, &dead), "mdb_reader_check")
        return Int(dead)
    }

    /// The largest key LMDB accepts in this build (`mdb_env_get_maxkeysize`; 511 by default).
    var maxKeySize: Int { Int(mdb_env_get_maxkeysize(handle)) }

    /// Begins a transaction (`mdb_txn_begin`).
    func begin(readOnly: Bool) throws(LMDBError) -> LMDBTransaction {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin")
        return LMDBTransaction(handle: txn!)
    }

    /// Closes the environment (`mdb_env_close`); all transactions must have ended. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        mdb_env_close(handle)
    }

    deinit { close() }
}

/// A named database inside an environment (`MDB_dbi`).
struct LMDBDatabase: Sendable, Equatable {
    let dbi: MDB_dbi
}

/// A transaction (`MDB_txn`). It ends with exactly one `commit()` or `abort()`.
struct LMDBTransaction {
    let handle: OpaquePointer

    /// Opens (and with `create`, creates) a named database (`mdb_dbi_open`).
    func openDatabase(_ name: String, create: Bool) throws(LMDBError) -> LMDBDatabase {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(handle, name, create ? UInt32(MDB_CREATE) : 0, &dbi), "mdb_dbi_open(\(name))")
        return LMDBDatabase(dbi: dbi)
    }

    /// Looks up `key` (`mdb_get`); nil when absent. The bytes live until the transaction ends.
    func get(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(key)
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get")
        return v.bytes
    }

    /// Stores `value` under `key` (`mdb_put`).
    func put(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
             flags: UInt32 = 0) throws(LMDBError) {
        var k = MDB_val(key)
        var v = MDB_val(value)
        try check(mdb_put(handle, db.dbi, &k, &v, flags), "mdb_put")
    }

    /// Deletes `key` (`mdb_del`); false when it was absent.
    @discardableResult
    func delete(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> Bool {
        var k = MDB_val(key)
        let rc = mdb_del(handle, db.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del")
        return true
    }

    /// Empties a database, keeping it open (`mdb_drop` with del = 0).
    func empty(_ db: LMDBDatabase) throws(LMDBError) {
        try check(mdb_drop(handle, db.dbi, 0), "mdb_drop")
    }

    /// A database's statistics (`mdb_stat`): entry count, depth, pages.
    func stat(_ db: LMDBDatabase) throws(LMDBError) -> MDB_stat {
        var stat = MDB_stat()
        try check(mdb_stat(handle, db.dbi, &stat), "mdb_stat")
        return stat
    }

    /// Opens a cursor over `db` (`mdb_cursor_open`); close it before the transaction ends.
    func cursor(_ db: LMDBDatabase) throws(LMDBError) -> LMDBCursor {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(handle, db.dbi, &cursor), "mdb_cursor_open")
        return LMDBCursor(handle: cursor!)
    }

    /// Commits (`mdb_txn_commit`): with the environment's default flags this writes and
    /// fsyncs the data and meta pages before returning. The handle is freed even on failure.
    func commit() throws(LMDBError) {
        try check(mdb_txn_commit(handle), "mdb_txn_commit")
    }

    /// Abandons the transaction (`mdb_txn_abort`) and frees the handle.
    func abort() {
        mdb_txn_abort(handle)
    }

    /// Ends a read-only transaction but keeps its handle and reader slot (`mdb_txn_reset`),
    /// so `renew()` can start the next read without searching the reader table.
    func reset() {
        mdb_txn_reset(handle)
    }

    /// Starts a fresh snapshot on a reset read-only handle (`mdb_txn_renew`).
    func renew() throws(LMDBError) {
        try check(mdb_txn_renew(handle), "mdb_txn_renew")
    }
}

/// A cursor (`MDB_cursor`) for ordered traversal.
struct LMDBCursor {
    let handle: OpaquePointer

    /// Positions the cursor (`mdb_cursor_get` with `op`); nil at either end / not found.
    /// `key` is the search key for `MDB_SET_RANGE` and similar operations.
    func get(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError)
        -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
        var k = key.map { MDB_val($0) } ?? MDB_val()
        var v = MDB_val()
        let rc = mdb_cursor_get(handle, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get")
        return (k.bytes, v.bytes)
    }

    /// Deletes the entry under the cursor (`mdb_cursor_del`).
    func deleteCurrent() throws(LMDBError) {
        try check(mdb_cursor_del(handle, 0), "mdb_cursor_del")
    }

    /// Closes the cursor (`mdb_cursor_close`).
    func close() {
        mdb_cursor_close(handle)
    }
}

// Read-only handles may move between threads under MDB_NOTLS (the store pools reset ones);
// write transactions never leave the thread that began them (DiskStore's writer lock scope).
extension LMDBTransaction: @unchecked Sendable {}

import CLMDB
import Foundation
import Larder

/// What the LMDB tier's `data.mdb` takes on disk per record: `String` keys and
/// `[UInt8]` values of a few sizes are written through a cache with the tier, in a
/// seeded random key order, the cache is closed, and the file is measured (`st_size`,
/// and `st_blocks` × 512 for what the file system allocated). LMDB's own page counts,
/// read from the closed environment, show where the pages went: leaf and branch pages
/// of the `entries` and `recency` databases, overflow pages (a record too large for a
/// leaf node takes whole pages of its own), and free pages that copy-on-write released.
/// Sizes on disk do not depend on the build, so a debug build measures the same.
enum FootprintSuite {
    static let valueSizes = [100, 2_048, 8_192]

    struct Measured {
        var records: Int
        var valueBytes: Int
        /// Header + key + value: what the disk budget counts per record.
        var recordBytes: Int
        var fileBytes: Int
        var allocatedBytes: Int
        var pageSize: Int
        var pages: Pages
    }

    /// LMDB's page counts of a closed environment.
    struct Pages {
        var entriesLeaf = 0, entriesBranch = 0, entriesOverflow = 0
        var recencyPages = 0, otherPages = 0
        /// Pages below the file's high-water mark that no database uses: free (reusable)
        /// pages, including those listed in LMDB's free list.
        var freePages = 0
        var lastPage = 0
    }

    static func run(_ c: BenchConfig) throws -> SuiteResult {
        var result = SuiteResult(name: "footprint")
        let records = c.quick ? 2_000 : 30_000
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("larder-footprint-\(getpid())").path
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var table = Table("value", "records", "record (hdr+key+value)", "data.mdb st_size", "st_blocks×512",
                          "bytes/record (size)", "bytes/record (blocks)", "entries leaf+branch", "overflow",
                          "recency", "free")
        var pageSize = 0
        for valueBytes in valueSizes {
            progress("footprint: \(records) records of \(valueBytes)-byte values")
            let m = try measure(records: records, valueBytes: valueBytes, dir: root + "/v\(valueBytes)")
            let perRecord = Double(m.fileBytes) / Double(records)
            let perRecordBlocks = Double(m.allocatedBytes) / Double(records)
            let group = "data.mdb, \(valueBytes)-byte values"
            result.rows.append(ResultRow(
                group: group, peer: "Larder .groupCommit", unit: "B/record", value: Spread([perRecord]),
                extra: ["records": Double(records), "record_bytes": Double(m.recordBytes),
                        "file_bytes": Double(m.fileBytes), "allocated_bytes": Double(m.allocatedBytes),
                        "allocated_per_record": perRecordBlocks, "page_size": Double(m.pageSize),
                        "entries_leaf_pages": Double(m.pages.entriesLeaf),
                        "entries_branch_pages": Double(m.pages.entriesBranch),
                        "entries_overflow_pages": Double(m.pages.entriesOverflow),
                        "recency_pages": Double(m.pages.recencyPages), "free_pages": Double(m.pages.freePages)]))
            table.add("\(valueBytes) B", "\(records)", "\(m.recordBytes) B", "\(m.fileBytes)", "\(m.allocatedBytes)",
                      fmt(perRecord, 0), fmt(perRecordBlocks, 0),
                      "\(m.pages.entriesLeaf)+\(m.pages.entriesBranch)", "\(m.pages.entriesOverflow)",
                      "\(m.pages.recencyPages)", "\(m.pages.freePages)")
            pageSize = m.pageSize
        }
        print(table.render())
        result.notes = [
            "String keys of 10 UTF-8 bytes (\"k\" and 9 digits) in a seeded random order, [UInt8] values, "
                + ".groupCommit, disk budget 1 GiB, memory tier maxCount 1000; the cache is closed before measuring. "
                + "Page columns are LMDB pages (\(pageSize) bytes here).",
        ]
        for note in result.notes { print("  note: " + note) }
        return result
    }

    static func measure(records: Int, valueBytes: Int, dir: String) throws -> Measured {
        let value = [UInt8](repeating: 0x5A, count: valueBytes)
        var rng = SplitMix64(seed: 0x464F_4F54 ^ UInt64(valueBytes))
        let order = shuffledRange(records, &rng)
        func key(_ i: Int) -> String {
            let digits = String(i)
            return "k" + String(repeating: "0", count: 9 - digits.count) + digits
        }
        do {
            let cache = try Cache<String, [UInt8]>(
                configuration: .init(maxCount: 1_000),
                persistence: .lmdb(directory: dir, maxBytes: 1 << 30, durability: .groupCommit))
            for i in order { try cache.setValue(value, forKey: key(i)) }
            try cache.flushPersistence()
            cache.close()
        }
        var info = stat()
        guard stat(dir + "/data.mdb", &info) == 0 else {
            throw DurabilitySuite.BenchFailure(description: "stat \(dir)/data.mdb failed: errno \(errno)")
        }
        let recordBytes = 48 + key(0).utf8.count + valueBytes
        let (pageSize, pages) = try pageCounts(dir)
        return Measured(records: records, valueBytes: valueBytes, recordBytes: recordBytes, fileBytes: Int(info.st_size),
                        allocatedBytes: Int(info.st_blocks) * 512, pageSize: pageSize, pages: pages)
    }

    /// Opens the closed environment read-only and counts its pages by database.
    static func pageCounts(_ dir: String) throws -> (pageSize: Int, pages: Pages) {
        var envPointer: OpaquePointer?
        try RawLMDBPeer.check(mdb_env_create(&envPointer), "mdb_env_create")
        let env = envPointer!
        defer { mdb_env_close(env) }
        try RawLMDBPeer.check(mdb_env_set_maxdbs(env, 8), "mdb_env_set_maxdbs")
        try RawLMDBPeer.check(mdb_env_open(env, dir, UInt32(MDB_RDONLY), 0o600), "mdb_env_open")
        var txnPointer: OpaquePointer?
        try RawLMDBPeer.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txnPointer), "mdb_txn_begin")
        let txn = txnPointer!
        defer { mdb_txn_abort(txn) }
        func stat(_ dbi: MDB_dbi) throws -> MDB_stat {
            var s = MDB_stat()
            try RawLMDBPeer.check(mdb_stat(txn, dbi, &s), "mdb_stat")
            return s
        }
        func pages(_ s: MDB_stat) -> Int { Int(s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages) }
        func named(_ name: String) throws -> MDB_stat {
            var dbi = MDB_dbi()
            try RawLMDBPeer.check(mdb_dbi_open(txn, name, 0, &dbi), "mdb_dbi_open \(name)")
            return try stat(dbi)
        }
        let main = try stat(MDB_dbi(1)), free = try stat(MDB_dbi(0))
        let entries = try named("entries"), recency = try named("recency"), meta = try named("meta")
        var envInfo = MDB_envinfo()
        try RawLMDBPeer.check(mdb_env_info(env, &envInfo), "mdb_env_info")
        var result = Pages()
        result.entriesLeaf = Int(entries.ms_leaf_pages)
        result.entriesBranch = Int(entries.ms_branch_pages)
        result.entriesOverflow = Int(entries.ms_overflow_pages)
        result.recencyPages = pages(recency)
        result.otherPages = pages(meta) + pages(main) + pages(free) + 2  // + the two meta pages
        result.lastPage = Int(envInfo.me_last_pgno)
        result.freePages = result.lastPage + 1 - pages(entries) - result.recencyPages - result.otherPages
        return (Int(main.ms_psize), result)
    }
}

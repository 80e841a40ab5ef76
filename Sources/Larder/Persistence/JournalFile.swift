#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Group commit's journal: `larder.journal` in the store directory, a file of fixed size
/// written once with zeros when created, into which each round appends one frame and
/// `fdatasync`s it.
///
/// Why a file beside LMDB: a synced LMDB commit is two device flushes (its data pages,
/// then its meta page), and a round appended to an LMDB database still rewrote a leaf,
/// the catalog and the free list; a frame written over blocks the file already owns is
/// one write and one flush (no size or extent change for the file system to journal).
///
/// Frame (little-endian): magic `"LJF1"`, payload length u32, generation u64, sequence
/// u64, checksum u64 (xxHash64 of the payload, seeded with the other four fields), then
/// the payload (`DiskStore.journalValue`). The store's `meta` records the generation in
/// force; applying the journal to the records bumps it in the same transaction, which
/// makes every frame in the file stale at once, and appending starts again at offset 0.
/// Replay accepts frames of the current generation with consecutive sequence numbers
/// from offset 0 and stops at the first that is not one: a torn frame is the round that
/// was being written, never acknowledged.
final class JournalFile: @unchecked Sendable {
    static let fileName = "larder.journal"
    static let capacity = 8 << 20

    let path: String
    private let fd: Int32

    /// Whether the file is `capacity` bytes long, as `create` makes it: only such a file
    /// is appended to (a shorter one would grow, and its syncs would write metadata).
    let isFullSize: Bool

    /// Opens the journal in `directory` for appending, creating it (zero-filled, synced,
    /// then renamed into place) when it is missing or not `capacity` bytes long.
    convenience init(creatingIn directory: String) throws(CacheError) {
        let path = directory + "/" + Self.fileName
        var st = stat()
        if stat(path, &st) != 0 || Int(st.st_size) != Self.capacity {
            try Self.create(path: path, directory: directory)
        }
        let (fd, full) = try Self.openExisting(path)
        guard fd >= 0 else { throw Self.failure("open", path) }
        self.init(path: path, fd: fd, isFullSize: full)
    }

    /// Opens an existing journal in `directory` (for replay); nil when there is none.
    convenience init?(existingIn directory: String) throws(CacheError) {
        let path = directory + "/" + Self.fileName
        let (fd, full) = try Self.openExisting(path)
        guard fd >= 0 else { return nil }
        self.init(path: path, fd: fd, isFullSize: full)
    }

    /// The file's descriptor (-1 when it does not exist) and whether it is `capacity` long.
    private static func openExisting(_ path: String) throws(CacheError) -> (fd: Int32, isFullSize: Bool) {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return (-1, false) }
            throw failure("open", path)
        }
        var st = stat()
        return (fd, fstat(fd, &st) == 0 && Int(st.st_size) == capacity)
    }

    private init(path: String, fd: Int32, isFullSize: Bool) {
        self.path = path
        self.fd = fd
        self.isFullSize = isFullSize
    }

    deinit { close(fd) }

    private static func failure(_ what: String, _ path: String) -> CacheError {
        CacheError(code: .storeUnavailable,
                   message: "cannot \(what) the group-commit journal \(path): \(String(cString: strerror(errno))); check disk space and permissions")
    }

    private static func create(path: String, directory: String) throws(CacheError) {
        let temporary = path + ".new"
        let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", temporary) }
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(temporary) }  // a failed creation must not keep the space it took
        }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < capacity {
            let written = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, min($0.count, capacity - offset), off_t(offset)) }
            guard written > 0 else { throw failure("write", temporary) }
            offset += written
        }
        guard fsync(fd) == 0, rename(temporary, path) == 0 else { throw failure("create", path) }
        renamed = true
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)  // the rename itself, durable
            close(dirFD)
        }
    }

    /// Writes `frame` at `offset` and syncs it: on return the round is durable.
    func append(_ frame: [UInt8], at offset: Int) throws(CacheError) {
        precondition(isFullSize && offset + frame.count <= Self.capacity, "journal frame past the end of the file")
        var done = 0
        while done < frame.count {
            let written = frame.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw Self.failure("write", path) }
            done += written
        }
        guard fdatasync(fd) == 0 else { throw Self.failure("sync", path) }
    }

    /// The payloads of the replayable frames of `generation`, in order.
    func payloads(generation: UInt64) throws(CacheError) -> [[UInt8]] {
        var bytes = [UInt8](repeating: 0, count: Self.capacity)
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Self.failure("read", path) }
            if count == 0 { break }
            done += count
        }
        return Self.payloads(in: bytes[..<done], generation: generation)
    }
}

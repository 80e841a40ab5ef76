#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

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
    private let fd: FileDescriptor

    /// Whether the file is `capacity` bytes long, as `create` makes it: only such a file
    /// is appended to (a shorter one would grow, and its syncs would write metadata).
    let isFullSize: Bool

    /// Opens the journal in `directory` for appending, creating it (zero-filled, synced,
    /// then renamed into place) when it is missing or not `capacity` bytes long, and syncs
    /// the directory.
    convenience init(creatingIn directory: String) throws(CacheError) {
        let path = directory + "/" + Self.fileName
        var st = stat()
        // stat(2) by path: swift-system has no call for it.
        if stat(path, &st) != 0 || Int(st.st_size) != Self.capacity {
            try Self.requireRoom(in: directory, for: path)
            try Self.create(path: path)
        }
        // The file's name, durable before a frame in it is acknowledged: a crash would
        // otherwise lose the name and the frames with it. Also for a file an earlier process
        // created, in case its sync failed.
        try Self.syncDirectory(directory)
        guard let file = try Self.openExisting(path) else { throw Self.failure("open", path, Errno.noSuchFileOrDirectory) }
        self.init(path: path, fd: file.fd, isFullSize: file.isFullSize)
    }

    /// Opens an existing journal in `directory` (for replay); nil when there is none.
    convenience init?(existingIn directory: String) throws(CacheError) {
        let path = directory + "/" + Self.fileName
        guard let file = try Self.openExisting(path) else { return nil }
        self.init(path: path, fd: file.fd, isFullSize: file.isFullSize)
    }

    /// The file's descriptor (nil when it does not exist) and whether it is `capacity` long.
    private static func openExisting(_ path: String) throws(CacheError) -> (fd: FileDescriptor, isFullSize: Bool)? {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .readWrite, options: [.closeOnExec])
        } catch Errno.noSuchFileOrDirectory {
            return nil
        } catch {
            throw failure("open", path, error)
        }
        // The size is the end's offset (every read and write names its own offset).
        return (fd, (try? fd.seek(offset: 0, from: .end)) == Int64(capacity))
    }

    private init(path: String, fd: FileDescriptor, isFullSize: Bool) {
        self.path = path
        self.fd = fd
        self.isFullSize = isFullSize
    }

    deinit { try? fd.close() }

    /// `error` is an `Errno` (its description is `strerror`'s text).
    private static func failure(_ what: String, _ path: String, _ error: any Error) -> CacheError {
        CacheError(code: .storeUnavailable,
                   message: "cannot \(what) the group-commit journal \(path): \(error); check disk space and permissions")
    }

    private static func syncDirectory(_ directory: String) throws(CacheError) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(directory, .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw failure("open the directory of", directory + "/" + fileName, error)
        }
        defer { try? fd.close() }
        // fsync(2): swift-system has no call for it.
        guard fsync(fd.rawValue) == 0 else { throw failure("sync the directory of", directory + "/" + fileName, Errno(rawValue: errno)) }
    }

    /// The free space a new journal needs: its size and a quarter more for the records.
    static let roomToCreate = capacity + capacity / 4

    /// Refuses to create the journal, before writing a byte, on a disk with less than
    /// `roomToCreate` free. Zero-filling it there would take the disk's last blocks until
    /// the write failed and the file went: meanwhile every other write to that disk would
    /// fail too, the store's own LMDB commits of recorded accesses among them. A disk that
    /// fills while the journal is written is still handled by `create`.
    private static func requireRoom(in directory: String, for path: String) throws(CacheError) {
        var vfs = statvfs()
        // statvfs(2): swift-system has no call for it. Unknown free space is no reason to refuse.
        guard statvfs(directory, &vfs) == 0 else { return }
        let available = UInt64(vfs.f_bavail) &* UInt64(vfs.f_frsize)
        if available < UInt64(roomToCreate) {
            throw CacheError(code: .storeUnavailable, message:
                "cannot create the group-commit journal \(path): \(available) bytes free on its disk, fewer than the "
                + "\(roomToCreate) it needs; free disk space, or use another durability mode")
        }
    }

    private static func create(path: String) throws(CacheError) {
        let temporary = path + ".new"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(temporary, .readWrite, options: [.create, .truncate, .closeOnExec],
                                         permissions: .ownerReadWrite)
        } catch {
            throw failure("create", temporary, error)
        }
        var renamed = false
        defer {
            try? fd.close()
            // unlink(2): swift-system has no call for it.
            if !renamed { unlink(temporary) }  // a failed creation must not keep the space it took
        }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < capacity {
            do {
                offset += try fd.writeAll(toAbsoluteOffset: Int64(offset), zeros[..<min(zeros.count, capacity - offset)])
            } catch {
                throw failure("write", temporary, error)
            }
        }
        // fsync(2) and rename(2): swift-system has no call for either.
        guard fsync(fd.rawValue) == 0, rename(temporary, path) == 0 else { throw failure("create", path, Errno(rawValue: errno)) }
        renamed = true
    }

    /// Writes `frame` at `offset` and syncs it: on return the round is durable.
    func append(_ frame: [UInt8], at offset: Int) throws(CacheError) {
        precondition(isFullSize && offset + frame.count <= Self.capacity, "journal frame past the end of the file")
        do {
            try fd.writeAll(toAbsoluteOffset: Int64(offset), frame)
        } catch {
            throw Self.failure("write", path, error)
        }
        // fdatasync(2): swift-system has no call for it.
        guard fdatasync(fd.rawValue) == 0 else { throw Self.failure("sync", path, Errno(rawValue: errno)) }
    }

    /// The payloads of the replayable frames of `generation`, in order.
    func payloads(generation: UInt64) throws(CacheError) -> [[UInt8]] {
        var bytes = [UInt8](repeating: 0, count: Self.capacity)
        var done = 0
        do {
            while done < bytes.count {
                let count = try bytes.withUnsafeMutableBytes { buffer in
                    try fd.read(fromAbsoluteOffset: Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                }
                if count == 0 { break }
                done += count
            }
        } catch {
            throw Self.failure("read", path, error)
        }
        return Self.payloads(in: bytes[..<done], generation: generation)
    }
}

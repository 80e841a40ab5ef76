#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

/// Exclusive ownership of a store directory for as long as one store is open.
///
/// One open store per directory at a time, across threads and processes: the
/// in-memory tier of a second cache could not see the first one's writes, and
/// LMDB forbids opening one environment twice in a process. Two locks give the
/// rule: a process-wide registry of open directories (by real path), and
/// `flock(LOCK_EX | LOCK_NB)` on `larder.lock` inside the directory, which the
/// kernel releases when the owning process exits or is killed, so a crash never
/// leaves the directory locked.
final class StoreDirectoryLock: Sendable {
    private static let openDirectories = Locked<Set<String>>([])

    let path: String
    private let fd: FileDescriptor

    /// Creates `directory` (mode 0700) when missing and locks it.
    ///
    /// - Throws: `.storeUnavailable` when the directory cannot be created or used,
    ///   or is already open in this or another process.
    init(directory: String) throws(CacheError) {
        // mkdir(2), realpath(3) and stat(2): swift-system has no call for them.
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw CacheError(code: .storeUnavailable,
                             message: "cannot create the store directory \(directory): \(String(cString: strerror(errno))); pass a directory path the process can create and write")
        }
        guard let resolved = realpath(directory, nil) else {
            throw CacheError(code: .storeUnavailable,
                             message: "cannot resolve the store directory \(directory): \(String(cString: strerror(errno)))")
        }
        let real = String(cString: resolved)
        free(resolved)
        var st = stat()
        guard stat(real, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CacheError(code: .storeUnavailable,
                             message: "the store path \(directory) is not a directory; pass a directory (it is created when missing)")
        }
        let inserted = Self.openDirectories.withLock { $0.insert(real).inserted }
        guard inserted else {
            throw CacheError(code: .storeUnavailable,
                             message: "the store directory \(real) is already open in this process; close the other cache first or use another directory")
        }
        let lockPath = real + "/larder.lock"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(lockPath, .readWrite, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
        } catch {
            _ = Self.openDirectories.withLock { $0.remove(real) }
            throw CacheError(code: .storeUnavailable,
                             message: "cannot open \(lockPath): \(error); the store directory must be writable by this process")
        }
        // flock(2): swift-system has no call for it.
        guard flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            let err = errno
            let owner = Self.readOwner(fd)
            try? fd.close()
            _ = Self.openDirectories.withLock { $0.remove(real) }
            let who = owner.map { "process \($0)" } ?? "another process"
            throw CacheError(code: .storeUnavailable,
                             message: err == EWOULDBLOCK
                                 ? "the store directory \(real) is already open by \(who); close it there first or use another directory"
                                 : "cannot lock \(lockPath): \(String(cString: strerror(err)))")
        }
        // Our pid, for the message a second opener gets.
        _ = try? fd.resize(to: 0)
        _ = try? fd.writeAll(toAbsoluteOffset: 0, "\(getpid())\n".utf8)
        self.path = real
        self.fd = fd
    }

    private static func readOwner(_ fd: FileDescriptor) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = (try? buffer.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<15])) }) ?? 0
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace)
    }

    private let released = Locked(false)

    /// Releases the directory (idempotent).
    func release() {
        let first = released.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        flock(fd.rawValue, LOCK_UN)
        try? fd.close()
        _ = Self.openDirectories.withLock { $0.remove(path) }
    }

    deinit { release() }
}

private extension String {
    var trimmingWhitespace: String {
        String(self.drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}

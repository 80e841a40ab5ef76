#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// Reading and parsing the kernel's memory files. Every parser returns nil on
/// anything it does not recognise.
enum MemoryFiles {
    /// The whole of a small file (up to 1 MiB), or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        // /proc and cgroup files report size 0: read to the end, in chunks.
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec) else { return nil }
        defer { try? fd.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            guard let n = try? chunk.withUnsafeMutableBytes({ try fd.read(into: $0) }) else { return nil }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A byte count such as `memory.current`'s `123456\n`.
    static func parseByteCount(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace()
        guard let value = Int(trimmed), value >= 0 else { return nil }
        return value
    }

    /// A limit such as `memory.max`: bytes, or nil for `max` (unlimited) and garbage.
    static func parseLimit(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "max" { return nil }
        return parseByteCount(trimmed)
    }

    /// `memory.pressure`'s `some avg10=` figure, in percent.
    static func parsePressureSomeAvg10(_ text: String) -> Double? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.first == "some" else { continue }
            for field in fields.dropFirst() where field.hasPrefix("avg10=") {
                guard let value = Double(field.dropFirst("avg10=".count)), value >= 0, value.isFinite
                else { return nil }
                return value
            }
        }
        return nil
    }

    /// `/proc/meminfo`'s `MemAvailable:  24223812 kB`, in bytes.
    static func parseMemAvailable(_ text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.dropFirst("MemAvailable:".count).split(separator: " ")
            guard let number = fields.first.flatMap({ Int($0) }), number >= 0 else { return nil }
            if fields.count == 1 { return number }
            guard fields.count == 2, fields[1] == "kB" else { return nil }
            let (bytes, overflow) = number.multipliedReportingOverflow(by: 1024)
            return overflow ? nil : bytes
        }
        return nil
    }

    /// The cgroup v2 path from `/proc/self/cgroup` (the `0::/path` line).
    static func parseCgroupV2Path(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let path = line.dropFirst(3)
            guard path.hasPrefix("/") else { return nil }
            return String(path)
        }
        return nil
    }

    /// The cgroup v1 `memory` controller's path from `/proc/self/cgroup`: the
    /// `N:controllers:/path` line (N > 0) whose comma-separated controllers include
    /// `memory`, e.g. `4:memory:/a` or `7:memory,hugetlb:/a`.
    static func parseCgroupV1MemoryPath(_ text: String) -> String? {
        for line in text.split(separator: "\n") {
            // The path may itself contain ':', so split only twice.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let id = Int(fields[0]), id > 0,
                  fields[1].split(separator: ",").contains("memory") else { continue }
            return fields[2].hasPrefix("/") ? String(fields[2]) : nil
        }
        return nil
    }

    /// A cgroup filesystem mount from `/proc/self/mountinfo`.
    struct CgroupMount: Equatable {
        /// The cgroup, relative to the hierarchy's root, that appears at `mountPoint`.
        var root: String
        var mountPoint: String
    }

    /// The mounts of filesystem type `fstype` (`cgroup2`, or `cgroup` for v1) whose super
    /// options include every one of `options` (for v1: `memory`), in mountinfo order.
    static func parseCgroupMounts(_ text: String, fstype: String, options: [String] = []) -> [CgroupMount] {
        var mounts: [CgroupMount] = []
        for line in text.split(separator: "\n") {
            // mount-id parent-id major:minor root mount-point options [optional...] - fstype source super-options
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6,
                  dash + 1 < fields.count, fields[dash + 1] == fstype else { continue }
            if !options.isEmpty {
                guard dash + 3 < fields.count else { continue }
                let superOptions = fields[dash + 3].split(separator: ",")
                guard options.allSatisfy({ superOptions.contains(Substring($0)) }) else { continue }
            }
            mounts.append(CgroupMount(root: unescapeMountField(fields[3]), mountPoint: unescapeMountField(fields[4])))
        }
        return mounts
    }

    /// The mount point of the cgroup2 filesystem from `/proc/self/mountinfo`.
    static func parseCgroup2MountPoint(_ text: String) -> String? {
        parseCgroupMounts(text, fstype: "cgroup2").first?.mountPoint
    }

    /// The directory of cgroup `path` (as `/proc/self/cgroup` names it) under one of
    /// `mounts`, with that mount's point: the path relative to the mount's root, joined
    /// to the mount point. When no mount's root holds the path, or that directory does
    /// not exist (a container that sees only its own cgroup, mounted at the mount
    /// point), the first mount point itself.
    static func resolveCgroupDirectory(_ path: String, mounts: [CgroupMount]) -> (directory: String, mountPoint: String)? {
        guard let first = mounts.first else { return nil }
        for mount in mounts {
            let root = mount.root.hasSuffix("/") ? String(mount.root.dropLast()) : mount.root
            let relative: Substring
            if path == root || path == "/" && root.isEmpty {
                relative = "/"
            } else if path.hasPrefix(root + "/") {
                relative = path.dropFirst(root.count)
            } else {
                continue
            }
            // A cgroup outside the process's cgroup namespace reads `/../x`: never follow it.
            guard !relative.split(separator: "/").contains("..") else { continue }
            let directory = join(mount.mountPoint, String(relative))
            if isDirectory(directory) { return (directory, mount.mountPoint) }
        }
        return (first.mountPoint, first.mountPoint)
    }

    /// Where the process's memory cgroup is and how to read it, from the texts of
    /// `/proc/self/cgroup` and `/proc/self/mountinfo`: v2 when its cgroup has
    /// `memory.current`, else the v1 `memory` controller, else v2 without memory
    /// accounting; nil when there is no cgroup hierarchy at all.
    static func locateCgroup(
        cgroupText: String?, mountinfoText: String?
    ) -> (directory: String, mountPoint: String, version: CgroupSignalSource.Version, unified: String?)? {
        guard let cgroupText, let mountinfoText else { return nil }
        var v2: (directory: String, mountPoint: String)?
        if let path = parseCgroupV2Path(cgroupText) {
            v2 = resolveCgroupDirectory(path, mounts: parseCgroupMounts(mountinfoText, fstype: "cgroup2"))
            if let v2, access(v2.directory + "/memory.current", F_OK) == 0 {
                return (v2.directory, v2.mountPoint, .v2, nil)
            }
        }
        if let path = parseCgroupV1MemoryPath(cgroupText),
           let v1 = resolveCgroupDirectory(
               path, mounts: parseCgroupMounts(mountinfoText, fstype: "cgroup", options: ["memory"])) {
            return (v1.directory, v1.mountPoint, .v1, v2?.directory)
        }
        return v2.map { ($0.directory, $0.mountPoint, .v2, nil) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// A cgroup v1 limit: nil when it means "unlimited". v1 stores limits in pages and
    /// reports "none" as `LONG_MAX` rounded down to the page size (9223372036854771712
    /// with 4 KiB pages, 9223372036854710272 with 64 KiB pages); anything within 1 GiB of
    /// `Int.max` counts as unlimited.
    static func v1Limit(_ bytes: Int) -> Int? {
        bytes >= Int.max - (1 << 30) ? nil : bytes
    }

    /// A `name value` line of a cgroup `memory.stat`, e.g. `hierarchical_memory_limit`.
    static func parseMemoryStatField(_ text: String, named name: String) -> Int? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2, fields[0] == name else { continue }
            guard let value = Int(fields[1]), value >= 0 else { return nil }
            return value
        }
        return nil
    }

    /// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
    private static func unescapeMountField(_ field: Substring) -> String {
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 4 <= bytes.count,
               let code = UInt8(String(decoding: bytes[(i + 1)..<(i + 4)], as: UTF8.self), radix: 8) {
                out.append(code)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func join(_ mount: String, _ relative: String) -> String {
        let base = mount.hasSuffix("/") ? String(mount.dropLast()) : mount
        return relative == "/" ? base : base + relative
    }

    /// `directory` and its parents up to and including `mountPoint`; just `directory`
    /// when no mount point is known. The mount point is included because inside a
    /// container with its own cgroup namespace it is the container's cgroup, which holds
    /// the container's limit; on the host it is the root cgroup, whose limit files are
    /// absent (v2) or read unlimited (v1), so reading it costs nothing.
    static func ancestry(of directory: String, within mountPoint: String?) -> [String] {
        guard let mountPoint else { return [directory] }
        let root = mountPoint.hasSuffix("/") ? String(mountPoint.dropLast()) : mountPoint
        var result: [String] = []
        var current = directory
        while current.hasPrefix(root + "/") {
            result.append(current)
            guard let slash = current.lastIndex(of: "/") else { break }
            current = String(current[..<slash])
        }
        if current == root { result.append(root.isEmpty ? "/" : root) }
        return result
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One reading of the memory signals a ``MemoryGovernor`` acts on. Every field is
/// optional: a source fills what it can read and leaves the rest nil.
public struct MemorySample: Sendable, Equatable {
    /// Bytes in live heap allocations (jemalloc `stats.allocated`).
    public var allocatedBytes: Int?
    /// Bytes of heap pages resident in memory (jemalloc `stats.resident`): the process's
    /// heap footprint as the kernel sees it.
    public var residentBytes: Int?
    /// The cgroup's charged memory (v2 `memory.current`, v1 `memory.usage_in_bytes`),
    /// which includes page cache and every process in the cgroup.
    public var cgroupCurrentBytes: Int?
    /// The cgroup's hard limit (v2 `memory.max`, the lowest along the cgroup's ancestors;
    /// v1 `memory.stat` `hierarchical_memory_limit`); nil when unlimited or unknown.
    public var cgroupMaxBytes: Int?
    /// The cgroup's throttling limit (v2 `memory.high`, lowest along the ancestors); nil
    /// when unlimited or unknown, and always nil on cgroup v1, which has no equivalent.
    public var cgroupHighBytes: Int?
    /// The share of the last 10 seconds in which some task of the cgroup stalled on
    /// memory, in percent (v2 `memory.pressure`, `some avg10`; on a hybrid host read
    /// through v1, the unified cgroup's); nil on a pure cgroup v1 host.
    public var pressureSomeAvg10: Double?
    /// Memory the system could give without swapping (`/proc/meminfo` `MemAvailable`),
    /// read only when the cgroup sets no limit.
    public var availableBytes: Int?

    /// Creates a sample; fields left nil are unknown.
    public init(
        allocatedBytes: Int? = nil, residentBytes: Int? = nil,
        cgroupCurrentBytes: Int? = nil, cgroupMaxBytes: Int? = nil, cgroupHighBytes: Int? = nil,
        pressureSomeAvg10: Double? = nil, availableBytes: Int? = nil
    ) {
        self.allocatedBytes = allocatedBytes
        self.residentBytes = residentBytes
        self.cgroupCurrentBytes = cgroupCurrentBytes
        self.cgroupMaxBytes = cgroupMaxBytes
        self.cgroupHighBytes = cgroupHighBytes
        self.pressureSomeAvg10 = pressureSomeAvg10
        self.availableBytes = availableBytes
    }

    /// Fills this sample's missing fields from `other` (the first source to report a
    /// field wins).
    mutating func fillMissing(from other: MemorySample) {
        allocatedBytes = allocatedBytes ?? other.allocatedBytes
        residentBytes = residentBytes ?? other.residentBytes
        cgroupCurrentBytes = cgroupCurrentBytes ?? other.cgroupCurrentBytes
        cgroupMaxBytes = cgroupMaxBytes ?? other.cgroupMaxBytes
        cgroupHighBytes = cgroupHighBytes ?? other.cgroupHighBytes
        pressureSomeAvg10 = pressureSomeAvg10 ?? other.pressureSomeAvg10
        availableBytes = availableBytes ?? other.availableBytes
    }
}

/// Something a ``MemoryGovernor`` samples at each tick: the process allocator, the
/// cgroup, the system, or a test's scripted figures.
///
/// `sample()` runs on the governor's thread (or the caller of
/// ``MemoryGovernor/tick()``), never on a cache operation, so it may read files and
/// make system calls. It reports what it cannot read as nil rather than failing.
public protocol MemorySignalSource: Sendable {
    /// Reads the signals now; unreadable fields are nil.
    func sample() -> MemorySample
}

/// The process allocator's view: refreshes jemalloc's statistics `epoch`, then reads
/// `stats.allocated` and `stats.resident`.
public struct JemallocSignalSource: MemorySignalSource {
    /// Creates the source; jemalloc's controls are resolved once per process.
    public init() {}

    /// Advances the statistics epoch and reads `stats.allocated` and `stats.resident`
    /// (nil fields when jemalloc's controls are unavailable).
    public func sample() -> MemorySample {
        guard let stats = JemallocStatistics.shared else { return MemorySample() }
        do {
            try stats.refresh()
            return MemorySample(allocatedBytes: try stats.allocated(), residentBytes: try stats.resident())
        } catch {
            return MemorySample()
        }
    }
}

/// The cgroup view: the process's cgroup memory usage and limit, and `/proc/meminfo`'s
/// `MemAvailable` when no cgroup limit applies.
///
/// - **cgroup v2**: `memory.current`, `memory.max` and `memory.high` (limits: the lowest
///   along the cgroup's ancestors) and `memory.pressure`.
/// - **cgroup v1** (the `memory` controller of a legacy or hybrid hierarchy):
///   `memory.usage_in_bytes` as usage, and as the hard limit `memory.stat`'s
///   `hierarchical_memory_limit` (the lowest `memory.limit_in_bytes` along the ancestors,
///   as the kernel enforces it), or the lowest `memory.limit_in_bytes` along the
///   ancestors this process can see when `memory.stat` lacks it. v1 reports "no limit" as
///   `LONG_MAX` rounded down to the page size (`9223372036854771712` with 4 KiB pages),
///   which reads as nil. v1 has no `memory.high` (that field stays nil) and no pressure
///   file: on a hybrid host the process's unified (v2) cgroup's `memory.pressure` is
///   read instead, and on a pure v1 host pressure stays nil.
///
/// Both `memory.current` and `memory.usage_in_bytes` include the page cache charged to
/// the cgroup (and every process in it), not only this process's heap: the margin must
/// cover it. (`memory.usage_in_bytes` is also a slightly fuzzy, batched figure.)
///
/// The cgroup is found once, at initialisation, from `/proc/self/cgroup` and
/// `/proc/self/mountinfo`. The v2 hierarchy (the `0::` line and the `cgroup2` mount) is
/// used when its cgroup has `memory.current`; otherwise the v1 `memory` controller (the
/// `N:…memory…:/path` line and the `cgroup` mount whose options include `memory`) when
/// there is one; otherwise the v2 hierarchy without memory accounting, if any. The path
/// in `/proc/self/cgroup` is taken relative to the mount's root; when the resulting
/// directory does not exist (a container that sees only its own cgroup at the mount
/// point), the mount point itself is read. Missing files, `max`, unlimited values and
/// unparsable contents all read as "unknown" (nil).
public struct CgroupSignalSource: MemorySignalSource {
    /// The cgroup interface a source reads.
    public enum Version: Sendable, Equatable {
        /// The unified hierarchy: `memory.current`, `memory.max`, `memory.high`,
        /// `memory.pressure`.
        case v2
        /// The legacy `memory` controller: `memory.usage_in_bytes`, `memory.stat`
        /// `hierarchical_memory_limit`, `memory.limit_in_bytes`.
        case v1
    }

    /// The cgroup directory read, or nil when the process has no cgroup hierarchy with
    /// a memory controller (or none at all).
    public let directory: String?
    /// Which interface ``directory`` is read through.
    public let version: Version
    /// The cgroup mount point; ancestors above it are not read.
    let mountPoint: String?
    let meminfoPath: String
    /// On a hybrid host read through v1: the process's v2 (unified) cgroup, whose
    /// `memory.pressure` still works (PSI is per cgroup, not per controller).
    private(set) var pressureDirectory: String? = nil

    /// Locates the process's own cgroup, preferring cgroup v2 when it accounts memory.
    public init() {
        self.init(procSelfCgroup: "/proc/self/cgroup", mountinfo: "/proc/self/mountinfo")
    }

    /// Locates the cgroup from the given `/proc/self/cgroup` and `/proc/self/mountinfo`
    /// files (tests point these at fixtures).
    init(procSelfCgroup: String, mountinfo: String, meminfoPath: String = "/proc/meminfo") {
        let located = MemoryFiles.locateCgroup(
            cgroupText: MemoryFiles.read(procSelfCgroup), mountinfoText: MemoryFiles.read(mountinfo))
        self.init(directory: located?.directory, mountPoint: located?.mountPoint,
                  meminfoPath: meminfoPath, version: located?.version ?? .v2)
        pressureDirectory = located?.version == .v1 ? located?.unified : nil
    }

    /// Reads a given cgroup directory (for tests and for services that know their
    /// cgroup); limits are also read from its parents up to `mountPoint` when given.
    /// `version` says which interface's files the directory holds.
    public init(directory: String?, mountPoint: String? = nil, meminfoPath: String = "/proc/meminfo",
                version: Version = .v2) {
        self.directory = directory
        self.mountPoint = mountPoint
        self.meminfoPath = meminfoPath
        self.version = version
    }

    /// Reads the cgroup files, and `MemAvailable` when no cgroup limit applies.
    public func sample() -> MemorySample {
        var sample = MemorySample()
        if let directory {
            switch version {
            case .v2: sampleV2(directory, into: &sample)
            case .v1:
                sampleV1(directory, into: &sample)
                if let pressureDirectory {
                    sample.pressureSomeAvg10 = MemoryFiles.read(pressureDirectory + "/memory.pressure")
                        .flatMap(MemoryFiles.parsePressureSomeAvg10)
                }
            }
        }
        if sample.cgroupMaxBytes == nil && sample.cgroupHighBytes == nil {
            sample.availableBytes = MemoryFiles.read(meminfoPath).flatMap(MemoryFiles.parseMemAvailable)
        }
        return sample
    }

    private func sampleV2(_ directory: String, into sample: inout MemorySample) {
        sample.cgroupCurrentBytes = MemoryFiles.read(directory + "/memory.current")
            .flatMap(MemoryFiles.parseByteCount)
        sample.pressureSomeAvg10 = MemoryFiles.read(directory + "/memory.pressure")
            .flatMap(MemoryFiles.parsePressureSomeAvg10)
        for dir in MemoryFiles.ancestry(of: directory, within: mountPoint) {
            if let max = MemoryFiles.read(dir + "/memory.max").flatMap(MemoryFiles.parseLimit) {
                sample.cgroupMaxBytes = Swift.min(sample.cgroupMaxBytes ?? .max, max)
            }
            if let high = MemoryFiles.read(dir + "/memory.high").flatMap(MemoryFiles.parseLimit) {
                sample.cgroupHighBytes = Swift.min(sample.cgroupHighBytes ?? .max, high)
            }
        }
    }

    // cgroupHighBytes stays nil in v1 on purpose. The nearest file,
    // memory.soft_limit_in_bytes, is not a ceiling like v2's memory.high (which throttles
    // and reclaims the cgroup as soon as it is passed): the kernel acts on a soft limit
    // only when the whole host runs short, and it is often set as a reservation well
    // below the hard limit (Docker's --memory-reservation). Treating it as a limit would
    // keep the caches shrunk to the reservation on an idle host.
    private func sampleV1(_ directory: String, into sample: inout MemorySample) {
        sample.cgroupCurrentBytes = MemoryFiles.read(directory + "/memory.usage_in_bytes")
            .flatMap(MemoryFiles.parseByteCount)
        // hierarchical_memory_limit includes ancestors the process cannot see (inside a
        // container the mount point is its own cgroup); walk the visible ones only when
        // memory.stat does not say.
        if let hierarchical = MemoryFiles.read(directory + "/memory.stat")
            .flatMap({ MemoryFiles.parseMemoryStatField($0, named: "hierarchical_memory_limit") }) {
            sample.cgroupMaxBytes = MemoryFiles.v1Limit(hierarchical)
            return
        }
        for dir in MemoryFiles.ancestry(of: directory, within: mountPoint) {
            if let max = MemoryFiles.read(dir + "/memory.limit_in_bytes")
                .flatMap(MemoryFiles.parseByteCount).flatMap(MemoryFiles.v1Limit) {
                sample.cgroupMaxBytes = Swift.min(sample.cgroupMaxBytes ?? .max, max)
            }
        }
    }
}

/// Reading and parsing the kernel's memory files. Every parser returns nil on
/// anything it does not recognise.
enum MemoryFiles {
    /// The whole of a small file (up to 1 MiB), or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
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

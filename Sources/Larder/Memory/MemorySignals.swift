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
    /// The cgroup's charged memory (`memory.current`), which includes page cache and
    /// every process in the cgroup.
    public var cgroupCurrentBytes: Int?
    /// The cgroup's hard limit (`memory.max`, the lowest along the cgroup's ancestors);
    /// nil when unlimited (`max`) or unknown.
    public var cgroupMaxBytes: Int?
    /// The cgroup's throttling limit (`memory.high`, lowest along the ancestors); nil
    /// when unlimited or unknown.
    public var cgroupHighBytes: Int?
    /// The share of the last 10 seconds in which some task of the cgroup stalled on
    /// memory, in percent (`memory.pressure`, `some avg10`).
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

/// The cgroup v2 view: `memory.current`, `memory.max`, `memory.high` and
/// `memory.pressure` of the process's cgroup (limits: the lowest along its ancestors),
/// and `/proc/meminfo`'s `MemAvailable` when no cgroup limit applies.
///
/// The cgroup is found once, at initialisation, from `/proc/self/cgroup` (the `0::`
/// line) and the cgroup2 mount in `/proc/self/mountinfo`. Missing files, `max` and
/// unparsable contents all read as "unknown" (nil).
public struct CgroupSignalSource: MemorySignalSource {
    /// The cgroup directory read, or nil when the process has no cgroup v2 hierarchy.
    public let directory: String?
    /// The cgroup2 mount point; ancestors above it are not read.
    let mountPoint: String?
    let meminfoPath: String

    /// Locates the process's own cgroup.
    public init() {
        let mount = MemoryFiles.read("/proc/self/mountinfo").flatMap(MemoryFiles.parseCgroup2MountPoint)
        let relative = MemoryFiles.read("/proc/self/cgroup").flatMap(MemoryFiles.parseCgroupV2Path)
        if let mount, let relative {
            self.init(directory: MemoryFiles.join(mount, relative), mountPoint: mount)
        } else {
            self.init(directory: nil, mountPoint: nil)
        }
    }

    /// Reads a given cgroup directory (for tests and for services that know their
    /// cgroup); limits are also read from its parents up to `mountPoint` when given.
    public init(directory: String?, mountPoint: String? = nil, meminfoPath: String = "/proc/meminfo") {
        self.directory = directory
        self.mountPoint = mountPoint
        self.meminfoPath = meminfoPath
    }

    /// Reads the cgroup files, and `MemAvailable` when no cgroup limit applies.
    public func sample() -> MemorySample {
        var sample = MemorySample()
        if let directory {
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
        if sample.cgroupMaxBytes == nil && sample.cgroupHighBytes == nil {
            sample.availableBytes = MemoryFiles.read(meminfoPath).flatMap(MemoryFiles.parseMemAvailable)
        }
        return sample
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

    /// The mount point of the cgroup2 filesystem from `/proc/self/mountinfo`.
    static func parseCgroup2MountPoint(_ text: String) -> String? {
        for line in text.split(separator: "\n") {
            // mount-id parent-id major:minor root mount-point options [optional...] - fstype source super-options
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields.count > 4 else { continue }
            guard fields[dash + 1] == "cgroup2" else { continue }
            return unescapeMountField(fields[4])
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

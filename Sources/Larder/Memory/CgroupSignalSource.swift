#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
/// the cgroup (and every process in it), not only this process's heap: among it the
/// mapped pages of a durable tier's `data.mdb`, which the kernel reclaims under pressure.
/// The source therefore also reads the cgroup's inactive file pages from `memory.stat`
/// (v2 `inactive_file`; v1 `total_inactive_file`, which counts the cgroup's descendants
/// as `usage_in_bytes` does, else `inactive_file`) into
/// ``MemorySample/cgroupInactiveFileBytes``, and the governor compares the limit with the
/// working set the kubelet computes, ``MemorySample/cgroupWorkingSetBytes``: usage less
/// inactive file pages, at least 0; the raw usage when `memory.stat` is missing or
/// lacks the field. Active file pages, anonymous memory and the rest of the page cache
/// stay in it, and the margin must cover what of them this process does not own.
/// (`memory.usage_in_bytes` is also a slightly fuzzy, batched figure.)
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
        if sample.cgroupCurrentBytes != nil {
            sample.cgroupInactiveFileBytes = MemoryFiles.read(directory + "/memory.stat")
                .flatMap { MemoryFiles.parseMemoryStatField($0, named: "inactive_file") }
        }
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
        let stat = MemoryFiles.read(directory + "/memory.stat")
        if sample.cgroupCurrentBytes != nil, let stat {
            // usage_in_bytes counts the cgroup's descendants: so does the total_ field.
            sample.cgroupInactiveFileBytes = MemoryFiles.parseMemoryStatField(stat, named: "total_inactive_file")
                ?? MemoryFiles.parseMemoryStatField(stat, named: "inactive_file")
        }
        // hierarchical_memory_limit includes ancestors the process cannot see (inside a
        // container the mount point is its own cgroup); walk the visible ones only when
        // memory.stat does not say.
        if let hierarchical = stat
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

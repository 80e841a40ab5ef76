import Foundation
import Testing
@testable import Larder

@Suite("Memory signal sources")
struct MemorySignalTests {
    @Test func limitsParseBytesAndMax() {
        #expect(MemoryFiles.parseLimit("536870912\n") == 536_870_912)
        #expect(MemoryFiles.parseLimit("max\n") == nil)
        #expect(MemoryFiles.parseLimit("  max ") == nil)
        #expect(MemoryFiles.parseLimit("") == nil)
        #expect(MemoryFiles.parseLimit("12k") == nil)
        #expect(MemoryFiles.parseLimit("-5") == nil)
        #expect(MemoryFiles.parseLimit("99999999999999999999999") == nil)
        #expect(MemoryFiles.parseByteCount("4096") == 4096)
        #expect(MemoryFiles.parseByteCount("\u{0}\u{1}garbage") == nil)
    }

    @Test func pressureParsesSomeAvg10() {
        let text = """
            some avg10=12.50 avg60=3.00 avg300=0.40 total=123456
            full avg10=1.00 avg60=0.00 avg300=0.00 total=100
            """
        #expect(MemoryFiles.parsePressureSomeAvg10(text) == 12.5)
        #expect(MemoryFiles.parsePressureSomeAvg10("full avg10=1.00 avg60=0.00") == nil)
        #expect(MemoryFiles.parsePressureSomeAvg10("some avg10=abc avg60=0.00") == nil)
        #expect(MemoryFiles.parsePressureSomeAvg10("some avg10=-1 avg60=0.00") == nil)
        #expect(MemoryFiles.parsePressureSomeAvg10("") == nil)
        #expect(MemoryFiles.parsePressureSomeAvg10("some") == nil)
    }

    @Test func meminfoParsesMemAvailable() {
        let text = """
            MemTotal:       24684092 kB
            MemFree:        20000000 kB
            MemAvailable:   24223812 kB
            Buffers:           12345 kB
            """
        #expect(MemoryFiles.parseMemAvailable(text) == 24_223_812 * 1024)
        #expect(MemoryFiles.parseMemAvailable("MemTotal: 1 kB\n") == nil)
        #expect(MemoryFiles.parseMemAvailable("MemAvailable: lots kB") == nil)
        #expect(MemoryFiles.parseMemAvailable("MemAvailable: 10 MB") == nil)
        #expect(MemoryFiles.parseMemAvailable("MemAvailable: 99999999999999999 kB") == nil)
    }

    @Test func cgroupPathAndMountPoint() {
        let cgroup = """
            12:memory:/legacy
            0::/system.slice/app.service
            """
        #expect(MemoryFiles.parseCgroupV2Path(cgroup) == "/system.slice/app.service")
        #expect(MemoryFiles.parseCgroupV2Path("4:memory:/x\n") == nil)
        #expect(MemoryFiles.parseCgroupV2Path("0::garbage") == nil)

        let mountinfo = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            41 31 0:38 / /sys/fs/cgroup/my\\040unified rw,relatime shared:9 - cgroup2 cgroup2 rw
            """
        #expect(MemoryFiles.parseCgroup2MountPoint(mountinfo) == "/sys/fs/cgroup/my unified")
        #expect(MemoryFiles.parseCgroup2MountPoint("garbage\n- -\n") == nil)
        #expect(MemoryFiles.join("/sys/fs/cgroup", "/a/b") == "/sys/fs/cgroup/a/b")
        #expect(MemoryFiles.join("/sys/fs/cgroup", "/") == "/sys/fs/cgroup")
        #expect(MemoryFiles.ancestry(of: "/m/a/b", within: "/m") == ["/m/a/b", "/m/a", "/m"])
        #expect(MemoryFiles.ancestry(of: "/m", within: "/m") == ["/m"])
        #expect(MemoryFiles.ancestry(of: "/elsewhere", within: "/m") == [])
    }

    /// A fake cgroup hierarchy: limits come from the lowest ancestor, `max` and missing
    /// files are "unlimited", garbage is ignored, and MemAvailable is read only when no
    /// limit applies.
    @Test func cgroupSourceReadsAFixtureHierarchy() throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-cgroup-\(UUID().uuidString)").path
        let leaf = root + "/parent/leaf"
        try FileManager.default.createDirectory(atPath: leaf, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ path: String, _ text: String) throws {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        try write(root + "/meminfo", "MemAvailable: 1000 kB\n")
        try write(leaf + "/memory.current", "1000000\n")
        try write(leaf + "/memory.max", "max\n")
        try write(leaf + "/memory.high", "garbage\n")
        try write(leaf + "/memory.pressure", "some avg10=0.25 avg60=0.00 avg300=0.00 total=1\n")

        let source = CgroupSignalSource(directory: leaf, mountPoint: root, meminfoPath: root + "/meminfo")
        var sample = source.sample()
        #expect(sample.cgroupCurrentBytes == 1_000_000)
        #expect(sample.cgroupMaxBytes == nil)
        #expect(sample.cgroupHighBytes == nil)
        #expect(sample.pressureSomeAvg10 == 0.25)
        #expect(sample.availableBytes == 1_024_000)

        try write(root + "/parent/memory.max", "2000000\n")
        try write(root + "/parent/memory.high", "1500000\n")
        try write(leaf + "/memory.high", "1800000\n")
        sample = source.sample()
        #expect(sample.cgroupMaxBytes == 2_000_000)
        #expect(sample.cgroupHighBytes == 1_500_000)
        #expect(sample.availableBytes == nil)

        let missing = CgroupSignalSource(directory: root + "/nowhere", mountPoint: root, meminfoPath: root + "/none")
        #expect(missing.sample() == MemorySample())
    }

    /// Inside a container with its own cgroup namespace, `/proc/self/cgroup` reads `0::/`
    /// and the container's limit sits at the mount point itself.
    @Test func cgroupLimitAtTheMountPointIsRead() throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-cgroupns-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "1000000\n".write(toFile: root + "/memory.current", atomically: false, encoding: .utf8)
        try "4000000\n".write(toFile: root + "/memory.max", atomically: false, encoding: .utf8)
        let source = CgroupSignalSource(directory: root, mountPoint: root, meminfoPath: root + "/none")
        #expect(source.sample() == MemorySample(cgroupCurrentBytes: 1_000_000, cgroupMaxBytes: 4_000_000))
    }

    @Test func cgroupV1MemoryPathParses() {
        let alone = """
            9:name=systemd:/
            4:memory:/process_api/164c12c0
            3:cpuset:/
            0::/
            """
        #expect(MemoryFiles.parseCgroupV1MemoryPath(alone) == "/process_api/164c12c0")
        #expect(MemoryFiles.parseCgroupV1MemoryPath("7:cpu,cpuacct:/a\n6:hugetlb,memory:/b:c\n") == "/b:c")
        #expect(MemoryFiles.parseCgroupV1MemoryPath("3:cpuset:/\n2:name=memory:/x\n0::/y\n") == nil)
        #expect(MemoryFiles.parseCgroupV1MemoryPath("4:memoryx:/a\n") == nil)
        #expect(MemoryFiles.parseCgroupV1MemoryPath("4:memory:relative\n") == nil)
        #expect(MemoryFiles.parseCgroupV1MemoryPath("") == nil)
    }

    @Test func cgroupV1MountsParse() {
        let mountinfo = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 /docker/abc /sys/fs/cgroup/mem\\040ory rw,relatime shared:7 - cgroup cgroup rw,hugetlb,memory
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        #expect(MemoryFiles.parseCgroupMounts(mountinfo, fstype: "cgroup", options: ["memory"])
            == [.init(root: "/docker/abc", mountPoint: "/sys/fs/cgroup/mem ory")])
        #expect(MemoryFiles.parseCgroupMounts(mountinfo, fstype: "cgroup", options: ["cpu"])
            == [.init(root: "/", mountPoint: "/sys/fs/cgroup/cpu")])
        #expect(MemoryFiles.parseCgroupMounts(mountinfo, fstype: "cgroup2")
            == [.init(root: "/", mountPoint: "/sys/fs/cgroup/unified")])
        let others = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n40 31 0:37 / /x rw - cgroup cgroup rw,name=memory\n"
        #expect(MemoryFiles.parseCgroupMounts(others, fstype: "cgroup", options: ["memory"]).isEmpty)
        #expect(MemoryFiles.parseCgroupMounts("garbage\n- -\n1 2 3 - cgroup\n", fstype: "cgroup", options: ["memory"]).isEmpty)
    }

    /// The path in /proc/self/cgroup is relative to the hierarchy root; the mount's root
    /// field says which cgroup sits at the mount point.
    @Test func cgroupDirectoryRespectsTheMountRoot() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.mkdir("/mnt/kubepods/pod1")
        let mountPoint = fixture.root + "/mnt"
        func resolve(_ path: String, root: String) -> String? {
            MemoryFiles.resolveCgroupDirectory(path, mounts: [.init(root: root, mountPoint: mountPoint)])?.directory
        }
        #expect(resolve("/kubepods/pod1", root: "/") == mountPoint + "/kubepods/pod1")
        #expect(resolve("/", root: "/") == mountPoint)
        // Mounted from the container's own cgroup: its path maps to the mount point.
        #expect(resolve("/docker/abc", root: "/docker/abc") == mountPoint)
        #expect(resolve("/docker/abc/kubepods/pod1", root: "/docker/abc/") == mountPoint + "/kubepods/pod1")
        // The directory is not there (only the container's own cgroup is visible), the
        // path lies outside the mount's root, or it leaves the namespace: the mount point.
        #expect(resolve("/docker/abc", root: "/") == mountPoint)
        #expect(resolve("/elsewhere/x", root: "/docker/abc") == mountPoint)
        #expect(resolve("/../kubepods/pod1", root: "/") == mountPoint)
        #expect(MemoryFiles.resolveCgroupDirectory("/x", mounts: []) == nil)
    }

    @Test func cgroupV1UnlimitedReadsAsNil() {
        #expect(MemoryFiles.v1Limit(9_223_372_036_854_771_712) == nil)  // 4 KiB pages
        #expect(MemoryFiles.v1Limit(9_223_372_036_854_710_272) == nil)  // 64 KiB pages
        #expect(MemoryFiles.v1Limit(Int.max) == nil)
        #expect(MemoryFiles.v1Limit(536_870_912) == 536_870_912)
        #expect(MemoryFiles.v1Limit(1 << 50) == 1 << 50)
        let stat = "cache 123\nrss 456\nhierarchical_memory_limit 1073741824\nhierarchical_memsw_limit 9\n"
        #expect(MemoryFiles.parseMemoryStatField(stat, named: "hierarchical_memory_limit") == 1_073_741_824)
        #expect(MemoryFiles.parseMemoryStatField(stat, named: "missing") == nil)
        #expect(MemoryFiles.parseMemoryStatField("hierarchical_memory_limit x\n", named: "hierarchical_memory_limit") == nil)
    }

    /// A v1 memory cgroup: usage from memory.usage_in_bytes, the limit from memory.stat's
    /// hierarchical_memory_limit over the cgroup's own memory.limit_in_bytes, the visible
    /// ancestors' limits when memory.stat does not say, no high limit from the soft
    /// limit, and MemAvailable when unlimited.
    @Test func cgroupV1SourceReadsAFixtureHierarchy() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let mount = fixture.root + "/memory"
        let leaf = mount + "/parent/leaf"
        try fixture.mkdir("/memory/parent/leaf")
        try fixture.write("/meminfo", "MemAvailable: 1000 kB\n")
        try fixture.write("/memory/parent/leaf/memory.usage_in_bytes", "12013568\n")
        try fixture.write("/memory/parent/leaf/memory.limit_in_bytes", "9223372036854771712\n")
        try fixture.write("/memory/parent/leaf/memory.soft_limit_in_bytes", "1000000\n")
        try fixture.write("/memory/parent/leaf/memory.stat", "rss 1\nhierarchical_memory_limit 9223372036854771712\n")
        let source = CgroupSignalSource(directory: leaf, mountPoint: mount, meminfoPath: fixture.root + "/meminfo",
                                        version: .v1)
        #expect(source.sample() == MemorySample(cgroupCurrentBytes: 12_013_568, availableBytes: 1_024_000))

        // The kernel's effective limit (an ancestor's, here) wins over the cgroup's own.
        try fixture.write("/memory/parent/leaf/memory.limit_in_bytes", "4000000000\n")
        try fixture.write("/memory/parent/leaf/memory.stat", "rss 1\nhierarchical_memory_limit 2000000000\n")
        #expect(source.sample() == MemorySample(cgroupCurrentBytes: 12_013_568, cgroupMaxBytes: 2_000_000_000))

        // Without it, the lowest limit_in_bytes of the visible ancestors.
        try fixture.write("/memory/parent/leaf/memory.stat", "rss 1\n")
        try fixture.write("/memory/parent/memory.limit_in_bytes", "3000000000\n")
        try fixture.write("/memory/memory.limit_in_bytes", "9223372036854771712\n")
        #expect(source.sample() == MemorySample(cgroupCurrentBytes: 12_013_568, cgroupMaxBytes: 3_000_000_000))

        // The same files read through the v2 interface find nothing but MemAvailable.
        let asV2 = CgroupSignalSource(directory: leaf, mountPoint: mount, meminfoPath: fixture.root + "/meminfo")
        #expect(asV2.sample() == MemorySample(availableBytes: 1_024_000))
    }

    /// The default initialiser's choice from /proc/self/cgroup and mountinfo: v2 when its
    /// cgroup accounts memory, else v1's memory controller, else v2 without accounting.
    @Test func cgroupVersionSelection() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let v1 = fixture.root + "/memory", v2 = fixture.root + "/unified"
        try fixture.mkdir("/memory/app")
        try fixture.mkdir("/unified/app.slice")
        try fixture.write("/meminfo", "MemAvailable: 2 kB\n")
        try fixture.write("/memory/app/memory.usage_in_bytes", "1000\n")
        try fixture.write("/memory/app/memory.stat", "hierarchical_memory_limit 5000\n")
        try fixture.write("/unified/app.slice/memory.pressure", "some avg10=1.50 avg60=0 avg300=0 total=1\n")
        try fixture.write("/mountinfo", """
            35 31 0:32 / \(v1) rw,relatime - cgroup cgroup rw,memory
            41 31 0:38 / \(v2) rw,relatime - cgroup2 cgroup2 rw
            """)
        try fixture.write("/cgroup", "4:memory:/app\n1:cpu:/\n0::/app.slice\n")
        func located() -> CgroupSignalSource {
            CgroupSignalSource(procSelfCgroup: fixture.root + "/cgroup", mountinfo: fixture.root + "/mountinfo",
                               meminfoPath: fixture.root + "/meminfo")
        }

        // Hybrid host, memory controller on v1 (this is what a v1 machine looks like);
        // the unified hierarchy still gives the cgroup's memory pressure.
        var source = located()
        #expect(source.version == .v1)
        #expect(source.directory == v1 + "/app")
        #expect(source.sample() == MemorySample(cgroupCurrentBytes: 1000, cgroupMaxBytes: 5000, pressureSomeAvg10: 1.5))

        // Once the v2 cgroup accounts memory, v2 is preferred.
        try fixture.write("/unified/app.slice/memory.current", "3000\n")
        try fixture.write("/unified/app.slice/memory.max", "8000\n")
        source = located()
        #expect(source.version == .v2)
        #expect(source.directory == v2 + "/app.slice")
        #expect(source.sample() == MemorySample(cgroupCurrentBytes: 3000, cgroupMaxBytes: 8000, pressureSomeAvg10: 1.5))

        // No v1 memory controller and no v2 accounting: v2 as before (pressure, MemAvailable).
        try FileManager.default.removeItem(atPath: v2 + "/app.slice/memory.current")
        try FileManager.default.removeItem(atPath: v2 + "/app.slice/memory.max")
        try fixture.write("/cgroup", "1:cpu:/\n0::/app.slice\n")
        source = located()
        #expect(source.version == .v2)
        #expect(source.sample() == MemorySample(pressureSomeAvg10: 1.5, availableBytes: 2048))

        // No cgroup hierarchy at all: MemAvailable only.
        try fixture.write("/cgroup", "1:cpu:/\n")
        source = located()
        #expect(source.directory == nil)
        #expect(source.sample() == MemorySample(availableBytes: 2048))
        let unreadable = CgroupSignalSource(procSelfCgroup: fixture.root + "/none", mountinfo: fixture.root + "/none",
                                            meminfoPath: fixture.root + "/meminfo")
        #expect(unreadable.directory == nil)
    }

    /// cgroup v2: the usage compared with the limit is the working set, memory.current
    /// less memory.stat's inactive_file (page cache the kernel reclaims first, such as a
    /// durable tier's mapped data.mdb). Raw usage above the governor's high-water mark
    /// with a small working set shrinks nothing; the same usage with few inactive file
    /// pages does.
    @Test func cgroupV2WorkingSetLeavesOutInactiveFilePages() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let mib = 1 << 20
        try fixture.mkdir("/app")
        try fixture.write("/app/memory.current", "\(900 * mib)\n")
        try fixture.write("/app/memory.max", "\(1024 * mib)\n")
        try fixture.write("/app/memory.stat", """
            anon 209715200
            file 734003200
            active_anon 0
            inactive_anon 209715200
            active_file 104857600
            inactive_file \(600 * mib)
            unevictable 0
            """)
        let source = CgroupSignalSource(directory: fixture.root + "/app", mountPoint: fixture.root,
                                        meminfoPath: fixture.root + "/none")
        let sample = source.sample()
        #expect(sample == MemorySample(cgroupCurrentBytes: 900 * mib, cgroupInactiveFileBytes: 600 * mib,
                                       cgroupMaxBytes: 1024 * mib))
        #expect(sample.cgroupWorkingSetBytes == 300 * mib)

        // Margin 20 %: the high-water mark is 819.2 MiB, below the raw 900 MiB.
        let (governor, cache) = try governedByOne(source: source)
        var report = governor.tick()
        #expect(report.action == .none)
        #expect(report.usageBytes == 300 * mib)
        #expect(report.limitBytes == 1024 * mib)
        #expect(report.excessBytes == 0)
        #expect(cache.entries.count == 100)
        #expect(cache.budget == nil)
        // The log names the compared figure and the raw one beside it.
        let meta = governor.metadata(try #require(governor.bounds(for: sample).first), excess: 0)
        #expect(meta["signal"] == "cgroup working set")
        #expect(meta["usage"] == "\(300 * mib)")
        #expect(meta["cgroupUsage"] == "\(900 * mib)")
        #expect(meta["inactiveFile"] == "\(600 * mib)")

        // Most of the file pages active again: the working set passes the mark, and the
        // governor cuts the excess (about 900 − 50 − 819.2 MiB).
        try fixture.write("/app/memory.stat", "anon 209715200\nactive_file 681574400\ninactive_file \(50 * mib)\n")
        report = governor.tick()
        #expect(report.action == .evicted)
        #expect(report.usageBytes == 850 * mib)
        #expect(cache.entries.count < 100)
    }

    /// cgroup v1: memory.stat's total_inactive_file (the cgroup and its descendants, as
    /// memory.usage_in_bytes counts them), else inactive_file.
    @Test func cgroupV1WorkingSetLeavesOutTotalInactiveFile() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let mib = 1 << 20
        try fixture.mkdir("/memory/app")
        try fixture.write("/memory/app/memory.usage_in_bytes", "\(900 * mib)\n")
        try fixture.write("/memory/app/memory.stat", """
            cache 734003200
            rss 209715200
            inactive_file \(10 * mib)
            hierarchical_memory_limit \(1024 * mib)
            total_cache 734003200
            total_inactive_file \(600 * mib)
            """)
        let source = CgroupSignalSource(directory: fixture.root + "/memory/app", mountPoint: fixture.root + "/memory",
                                        meminfoPath: fixture.root + "/none", version: .v1)
        var sample = source.sample()
        #expect(sample == MemorySample(cgroupCurrentBytes: 900 * mib, cgroupInactiveFileBytes: 600 * mib,
                                       cgroupMaxBytes: 1024 * mib))
        #expect(sample.cgroupWorkingSetBytes == 300 * mib)

        let (governor, cache) = try governedByOne(source: source)
        let report = governor.tick()
        #expect(report.action == .none)
        #expect(report.usageBytes == 300 * mib)
        #expect(cache.entries.count == 100)

        // Without the total_ field, the cgroup's own inactive_file.
        try fixture.write("/memory/app/memory.stat",
                          "inactive_file \(10 * mib)\nhierarchical_memory_limit \(1024 * mib)\n")
        sample = source.sample()
        #expect(sample.cgroupInactiveFileBytes == 10 * mib)
        #expect(sample.cgroupWorkingSetBytes == 890 * mib)
    }

    /// No inactive_file in memory.stat, or no memory.stat: the raw usage is compared, and
    /// the governor evicts on it.
    @Test func cgroupWorkingSetWithoutTheFieldIsTheRawUsage() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let mib = 1 << 20
        try fixture.mkdir("/app")
        try fixture.mkdir("/memory/app")
        try fixture.write("/app/memory.current", "\(900 * mib)\n")
        try fixture.write("/app/memory.max", "\(1024 * mib)\n")
        try fixture.write("/app/memory.stat", "anon 209715200\nfile 734003200\n")
        let v2 = CgroupSignalSource(directory: fixture.root + "/app", mountPoint: fixture.root,
                                    meminfoPath: fixture.root + "/none")
        #expect(v2.sample() == MemorySample(cgroupCurrentBytes: 900 * mib, cgroupMaxBytes: 1024 * mib))
        #expect(v2.sample().cgroupWorkingSetBytes == 900 * mib)

        let (governor, cache) = try governedByOne(source: v2)
        let report = governor.tick()
        #expect(report.action == .evicted)
        #expect(report.usageBytes == 900 * mib)
        #expect(cache.entries.count < 100)

        try FileManager.default.removeItem(atPath: fixture.root + "/app/memory.stat")
        #expect(v2.sample().cgroupInactiveFileBytes == nil)
        #expect(v2.sample().cgroupWorkingSetBytes == 900 * mib)

        // v1 with neither total_inactive_file nor inactive_file.
        try fixture.write("/memory/app/memory.usage_in_bytes", "\(900 * mib)\n")
        try fixture.write("/memory/app/memory.stat", "cache 1\nhierarchical_memory_limit \(1024 * mib)\n")
        let v1 = CgroupSignalSource(directory: fixture.root + "/memory/app", mountPoint: fixture.root + "/memory",
                                    meminfoPath: fixture.root + "/none", version: .v1)
        #expect(v1.sample() == MemorySample(cgroupCurrentBytes: 900 * mib, cgroupMaxBytes: 1024 * mib))
        #expect(v1.sample().cgroupWorkingSetBytes == 900 * mib)
    }

    /// memory.stat and memory.current are read at slightly different moments: inactive
    /// file pages above the usage give a working set of 0, never a negative one.
    @Test func cgroupWorkingSetIsClampedAtZero() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let mib = 1 << 20
        try fixture.mkdir("/app")
        try fixture.write("/app/memory.current", "\(900 * mib)\n")
        try fixture.write("/app/memory.max", "\(1024 * mib)\n")
        try fixture.write("/app/memory.stat", "inactive_file \(2048 * mib)\n")
        let source = CgroupSignalSource(directory: fixture.root + "/app", mountPoint: fixture.root,
                                        meminfoPath: fixture.root + "/none")
        let sample = source.sample()
        #expect(sample.cgroupInactiveFileBytes == 2048 * mib)
        #expect(sample.cgroupWorkingSetBytes == 0)

        let (governor, cache) = try governedByOne(source: source)
        let report = governor.tick()
        #expect(report.usageBytes == 0)
        #expect(report.action == .none)
        #expect(cache.entries.count == 100)
    }

    /// Merging sources keeps the usage and its inactive file pages together: a second
    /// source's inactive_file never joins the first source's usage.
    @Test func mergedSamplesKeepTheCgroupPairTogether() {
        var merged = MemorySample(cgroupCurrentBytes: 1_000)
        merged.fillMissing(from: MemorySample(cgroupCurrentBytes: 5_000, cgroupInactiveFileBytes: 900))
        #expect(merged.cgroupCurrentBytes == 1_000)
        #expect(merged.cgroupInactiveFileBytes == nil)
        #expect(merged.cgroupWorkingSetBytes == 1_000)

        var empty = MemorySample(residentBytes: 7)
        empty.fillMissing(from: MemorySample(cgroupCurrentBytes: 5_000, cgroupInactiveFileBytes: 900))
        #expect(empty == MemorySample(residentBytes: 7, cgroupCurrentBytes: 5_000, cgroupInactiveFileBytes: 900))
        #expect(empty.cgroupWorkingSetBytes == 4_100)
        #expect(MemorySample().cgroupWorkingSetBytes == nil)
    }

    @Test func systemSourcesReadSomething() {
        let jemalloc = JemallocSignalSource().sample()
        #expect((jemalloc.allocatedBytes ?? 0) > 0)
        #expect((jemalloc.residentBytes ?? 0) >= (jemalloc.allocatedBytes ?? 0))
        // Whatever this machine's cgroup setup, either a cgroup limit or MemAvailable is known.
        let cgroup = CgroupSignalSource()
        let system = cgroup.sample()
        #expect(system.cgroupMaxBytes != nil || system.cgroupHighBytes != nil || system.availableBytes != nil)
        // A v1 memory controller is chosen only when it was found, so its usage is readable.
        if cgroup.version == .v1 { #expect((system.cgroupCurrentBytes ?? 0) > 0) }
    }
}

/// A temporary directory for fake cgroup and proc files; the caller removes it (a
/// `defer` keeps it alive to the end of the test, which ARC would not promise).
private struct Fixture {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-cgroup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: root + relative, withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        try text.write(toFile: root + relative, atomically: false, encoding: .utf8)
    }
}

/// A governor with a 20 % margin over `source` alone, governing a cache of 100
/// entries of 1 MiB each (the working-set tests' setting).
func governedByOne(source: CgroupSignalSource) throws -> (MemoryGovernor, FakeGovernedCache) {
    let cache = FakeGovernedCache(entries: 100, bytesEach: 1 << 20)
    let governor = try MemoryGovernor(
        configuration: .init(margin: .fraction(0.2), releasesMemoryAfterEviction: false), sources: [source])
    governor.register(governed: cache)
    return (governor, cache)
}

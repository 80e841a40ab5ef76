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

    @Test func systemSourcesReadSomething() {
        let jemalloc = JemallocSignalSource().sample()
        #expect((jemalloc.allocatedBytes ?? 0) > 0)
        #expect((jemalloc.residentBytes ?? 0) >= (jemalloc.allocatedBytes ?? 0))
        // Whatever this machine's cgroup setup, either a cgroup limit or MemAvailable is known.
        let system = CgroupSignalSource().sample()
        #expect(system.cgroupMaxBytes != nil || system.cgroupHighBytes != nil || system.availableBytes != nil)
    }
}

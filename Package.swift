// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Larder",
    products: [
        .library(name: "Larder", targets: ["Larder"]),
        .executable(name: "Bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
    ],
    targets: [
        // The single-threaded bookkeeping core: arena, lists, index, timer wheel. C11, no
        // dependencies, no threads, no system calls.
        .target(
            name: "CLarderCore",
            path: "CSupport/CLarderCore",
            cSettings: [.define("NDEBUG", .when(configuration: .release))]
        ),
        // C for threads and the OS, which Swift cannot write itself (variadic syscall, thread-locals,
        // atomics on raw memory): the futex mutex, read buffers, group-commit rounds, huge-page blocks.
        .target(
            name: "CLarderSystem",
            path: "CSupport/CLarderSystem",
            cSettings: [.define("NDEBUG", .when(configuration: .release))]
        ),
        // Debian's jemalloc exports malloc, so linking it makes it the process allocator.
        .systemLibrary(
            name: "CJemalloc",
            path: "CSupport/CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),
        .systemLibrary(
            name: "CLMDB",
            path: "CSupport/CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(
            name: "Larder",
            dependencies: [
                "CLarderCore",
                "CLarderSystem",
                "CJemalloc",
                "CLMDB",
                "RESP3",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "Larder",
                "CLarderCore",
                "CJemalloc",
                "CLMDB",
                "RESP3",
                "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/Bench",
            exclude: ["README.md"]
        ),
        // A small RESP3 client on swift-nio, the transport of the Redis shared tier. Internal: not a
        // product, and free of Larder types (the Larder side adapts it).
        .target(
            name: "RESP3",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Starts and controls a private redis-server on a loopback port; used by test targets only.
        .target(
            name: "RedisTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/RedisTestSupport"
        ),
        .testTarget(
            name: "RESP3Tests",
            dependencies: [
                "RESP3",
                "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CLarderCoreTests",
            dependencies: ["CLarderCore", "Larder"]
        ),
        .testTarget(
            name: "CLarderSystemTests",
            dependencies: ["CLarderSystem"]
        ),
        // The child process of the persistence crash tests (writes, acknowledges, gets SIGKILLed).
        .executableTarget(
            name: "LarderCrashWriter",
            dependencies: ["Larder"],
            path: "Tests/CrashWriter"
        ),
        // The child process of the disk-fault tests (a scripted workload under a preloaded
        // fault shim, Tests/FaultShim, which the tests compile themselves).
        .executableTarget(
            name: "LarderFaultWriter",
            dependencies: ["Larder", .product(name: "Logging", package: "swift-log")],
            path: "Tests/FaultWriter"
        ),
        // One instance of the shared tier's multi-process coherence check.
        .executableTarget(
            name: "LarderCoherenceWorker",
            dependencies: ["Larder"],
            path: "Tests/CoherenceWorker"
        ),
        .testTarget(
            name: "LarderTests",
            dependencies: [
                "Larder",
                "LarderCrashWriter",
                "LarderFaultWriter",
                "LarderCoherenceWorker",
                "RedisTestSupport",
                "RESP3",
                "CLarderSystem",
                "CJemalloc",
                "CLMDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets over the decoders of untrusted bytes (Fuzz/README.md). Each is an entry point
// without a main, which links only with -sanitize=fuzzer, so they exist only when `make fuzz`
// sets LARDER_FUZZ: plain builds and test builds never see them.
if Context.environment["LARDER_FUZZ"] != nil {
    package.targets.append(.target(name: "LarderFuzzSupport", dependencies: ["RESP3"], path: "Fuzz/Support"))
    for name in ["FuzzDiskRecord", "FuzzJournalFrames", "FuzzJournalOps", "FuzzRecencyKey", "FuzzCallKey",
                 "FuzzByteCodable", "FuzzRESP3Reply", "FuzzRESP3Push"] {
        package.targets.append(.executableTarget(
            name: name,
            dependencies: [
                "Larder", "RESP3", "LarderFuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/Targets/\(name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}

import Foundation
@testable import Larder

/// The path of a test-support executable target (LarderCrashWriter, LarderFaultWriter, …):
/// SwiftPM builds it into the directory that holds the test bundle.
func testExecutable(_ name: String) throws -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let path = exe.deletingLastPathComponent().appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw CacheError(code: .storeUnavailable, message: "\(name) not found at \(path); build with `swift build --build-tests`")
    }
    return path
}

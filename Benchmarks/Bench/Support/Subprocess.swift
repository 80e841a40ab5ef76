import Foundation

/// Runs `executable` with `arguments` and returns its exit status and standard output
/// (standard error discarded): the trace reader's `gzip -dc` and the shared suite's
/// `redis-benchmark`.
func runCapturingOutput(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
}

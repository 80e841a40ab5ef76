import Foundation
@testable import Larder

/// Tests/FaultShim/larder_fault_shim.c, compiled by the C compiler, and a way to run a
/// child process under it.
enum FaultShim {
    /// Compiles the shim into `directory`; returns the library's path. Throws when there is
    /// no C compiler or it fails.
    static func build(in directory: String) throws -> String {
        let source = URL(fileURLWithPath: #filePath)  // Tests/LarderTests/Support/FaultShim.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FaultShim/larder_fault_shim.c").path
        guard FileManager.default.fileExists(atPath: source) else {
            throw CacheError(code: .storeUnavailable, message: "the fault shim's source is not at \(source)")
        }
        guard let compiler = findCompiler() else {
            throw CacheError(code: .storeUnavailable, message: "no C compiler (cc or clang on PATH, or CC) to build the fault shim")
        }
        let library = directory + "/larder_fault_shim.so"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-std=gnu11", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", library, source, "-ldl"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CacheError(code: .storeUnavailable, message: "\(compiler) could not build the fault shim: \(output)")
        }
        return library
    }

    /// `$CC`, else `cc` or `clang` from PATH (the Swift toolchain ships clang).
    private static func findCompiler() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let cc = environment["CC"], !cc.isEmpty, cc.hasPrefix("/") { return cc }
        let wanted = environment["CC"].flatMap { $0.isEmpty ? nil : [$0] } ?? ["cc", "clang"]
        let directories = (environment["PATH"] ?? "/usr/bin").split(separator: ":")
        for name in wanted {
            for directory in directories {
                let path = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return nil
    }

    /// Which call to fail, and how.
    struct Fault: CustomStringConvertible {
        var call: Int
        var errno: String  // "EIO" or "ENOSPC", as the shim reads it
        /// Every later call fails too: a disk that stays full or broken.
        var sticky = false
        var description: String { sticky ? "calls from \(call) on failing with \(errno)" : "call \(call) failing with \(errno)" }
    }

    /// What a child run under the shim did.
    struct Run {
        /// The covered calls, one "<n> <call> <file>" line each (with " FAILED <errno>" on failed ones).
        var calls: [String]
        var status: Int32
        var exitedNormally: Bool
        var standardError: String
    }

    /// Runs `executable` with `arguments` under the shim `library`, counting the calls on
    /// files under `directory` and failing `fault` (nil: count only).
    static func run(_ executable: String, _ arguments: [String], library: String, directory: String,
                    fault: Fault?, scratch: String) throws -> Run {
        let callLog = scratch + "/calls"
        let errorLog = scratch + "/stderr"
        guard FileManager.default.createFile(atPath: errorLog, contents: nil) else {
            throw CacheError(code: .storeUnavailable, message: "cannot create \(errorLog)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = library
        environment["LARDER_FAULT_DIR"] = directory
        environment["LARDER_FAULT_LOG"] = callLog
        environment["LARDER_FAULT_AT"] = String(fault?.call ?? 0)
        environment["LARDER_FAULT_ERRNO"] = fault?.errno ?? "EIO"
        environment["LARDER_FAULT_STICKY"] = fault?.sticky == true ? "1" : "0"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: errorLog)
        try process.run()
        process.waitUntilExit()
        let calls = (try? String(contentsOfFile: callLog, encoding: .utf8)) ?? ""
        return Run(calls: calls.split(separator: "\n").map(String.init),
                   status: process.terminationStatus,
                   exitedNormally: process.terminationReason == .exit,
                   standardError: (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "")
    }
}

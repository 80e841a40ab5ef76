import Foundation

/// Access traces: one unsigned decimal key per line, plain text or gzip.
enum TraceFile {
    struct TraceError: Error, CustomStringConvertible {
        let description: String
    }

    /// The traces folder: `option`, else Benchmarks/Traces found by walking up
    /// from the current directory and from the executable (.build/<config>/Bench).
    static func folder(_ option: String?) throws -> URL {
        let fm = FileManager.default
        func isFolder(_ url: URL) -> Bool {
            var dir: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
        }
        if let option {
            let url = URL(fileURLWithPath: option)
            guard isFolder(url) else {
                throw TraceError(description: "--traces \(option): no such folder; pass the folder holding the *.keys.gz files")
            }
            return url
        }
        var starts = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        if let exe = Bundle.main.executableURL { starts.append(exe.deletingLastPathComponent()) }
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("Benchmarks/Traces")
                if isFolder(candidate) { return candidate }
                if dir.path == "/" { break }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw TraceError(description: "no Benchmarks/Traces folder above \(fm.currentDirectoryPath): run from the package root or pass --traces PATH")
    }

    /// A trace's name in tables and JSON groups: the file name without `.keys.gz`
    /// (or `.gz`, or the last extension).
    static func name(of url: URL) -> String {
        var name = url.lastPathComponent
        for suffix in [".keys.gz", ".gz", ".keys", ".txt"] where name.hasSuffix(suffix) && name.count > suffix.count {
            name.removeLast(suffix.count)
            return name
        }
        return name
    }

    /// The keys of the file at `url`, in order. A gzip file (by its magic bytes) is
    /// read through `gzip -dc`, so no compression library is linked for the benchmark.
    /// - Throws: when the file is missing, does not decompress, holds a line that is not
    ///   an unsigned decimal number, or holds no key.
    static func load(_ url: URL) throws -> [Int] {
        guard let raw = FileManager.default.contents(atPath: url.path) else {
            throw TraceError(description: "cannot read trace \(url.path): pass a file of one unsigned decimal key per line, plain or gzip")
        }
        let data = raw.starts(with: [0x1f, 0x8b]) ? try gunzip(url) : raw
        var keys: [Int] = []
        keys.reserveCapacity(data.count / 4)
        var current = 0
        var digits = 0
        var line = 1
        for byte in data {
            switch byte {
            case 48...57:
                let (times, o1) = current.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(byte - 48))
                guard !o1, !o2 else {
                    throw TraceError(description: "\(url.path) line \(line): the key does not fit in 63 bits")
                }
                current = sum
                digits += 1
            case 10, 13, 32, 9:
                if digits > 0 { keys.append(current) }
                if byte == 10 { line += 1 }
                current = 0
                digits = 0
            default:
                throw TraceError(description: "\(url.path) line \(line): '\(Character(UnicodeScalar(byte)))' is not part of an unsigned decimal key; the file must hold one key per line")
            }
        }
        if digits > 0 { keys.append(current) }
        guard !keys.isEmpty else { throw TraceError(description: "\(url.path) holds no key") }
        return keys
    }

    private static func gunzip(_ url: URL) throws -> Data {
        let (status, data) = try runCapturingOutput("/usr/bin/env", ["gzip", "-dc", url.path])
        guard status == 0 else {
            throw TraceError(description: "gzip -dc \(url.path) failed with status \(status): is it a complete gzip file?")
        }
        return data
    }
}

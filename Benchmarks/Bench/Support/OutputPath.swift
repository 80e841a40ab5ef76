import ArgumentParser
import Foundation

/// The files Bench writes (`--json`, `--plot`). Their paths are checked before
/// any suite runs, so that a run of minutes does not end in an error that loses
/// its results; a write that still fails (a full disk) says which option and
/// why, not a Foundation error dump.
enum OutputPath {
    /// Throws a `ValidationError` naming `option` when `path` cannot be written:
    /// it is a folder, or its folder does not exist or cannot be written.
    static func check(_ path: String, option: String) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isFolder) {
            if isFolder.boolValue {
                throw ValidationError("--\(option) \(path) is a folder: name a file to write, such as \(url.appendingPathComponent(defaultName(option)).path)")
            }
            if !fm.isWritableFile(atPath: url.path) {
                throw ValidationError("--\(option) \(path) cannot be written (permissions): name a file you may write")
            }
            return
        }
        let folder = url.deletingLastPathComponent()
        guard fm.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ValidationError("--\(option) \(path): the folder \(folder.path) does not exist; create it first or name a file in an existing folder")
        }
        if !fm.isWritableFile(atPath: folder.path) {
            throw ValidationError("--\(option) \(path): the folder \(folder.path) cannot be written (permissions); name a file in a folder you may write")
        }
    }

    struct WriteFailure: Error, CustomStringConvertible { let description: String }

    /// Writes `data` to `path` (replacing it whole), or throws a `WriteFailure` naming `option`.
    static func write(_ data: Data, to path: String, option: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw WriteFailure(description: "could not write --\(option) \(path): \(reason) (the figures above are the run's results)")
        }
    }

    private static func defaultName(_ option: String) -> String { option == "plot" ? "hitratio.svg" : "bench.json" }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Seed writing for `make fuzz-seeds`: a target started with LARDER_FUZZ_WRITE_SEEDS=<dir> writes
/// its seeds there (seed-000, seed-001, ...) and exits instead of fuzzing, so that the seeds come
/// from the real encoders (valid records, frames, keys) and can be regenerated after a format change.
package enum FuzzSeeds {
    /// Call from LLVMFuzzerInitialize; returns only when no seeds were asked for.
    package static func writeIfAsked(_ seeds: () -> [[UInt8]]) {
        guard let dir = getenv("LARDER_FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) else { return }
        mkdir(dir, 0o755)
        for (i, seed) in seeds().enumerated() {
            let path = dir + "/seed-" + String(repeating: "0", count: max(0, 3 - String(i).count)) + String(i)
            guard let file = fopen(path, "wb") else { fatalError("cannot write \(path)") }
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
        exit(0)
    }
}

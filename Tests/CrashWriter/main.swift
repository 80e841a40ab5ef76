// LarderCrashWriter: the child process of the persistence crash tests.
//
//   LarderCrashWriter <directory> <synchronous|groupCommit|writeBack> <threads> <round>
//
// Opens a persistent Cache<String, String> on <directory>, prints "READY", then each
// writer thread sets keys "r<round>-t<thread>-<n>" (n = 0, 1, 2, …) to
// `expectedValue(forKey:)` (the parent test has the same function) and, after each setValue returns, prints
// "ACK <key>". The parent SIGKILLs the process at a random moment and checks that every
// acknowledged key survived. Each line is one write(2) of fewer than PIPE_BUF bytes to
// the pipe, so lines from several threads never interleave and an ack, once read by
// the parent, was printed after its write returned.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Larder

/// The value written for `key`: about 100 bytes, derived from the key alone.
func expectedValue(forKey key: String) -> String {
    "value-of-\(key)-" + String(repeating: "x", count: 80)
}

func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if n <= 0 { exit(3) }
            offset += n
        }
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 5, let threads = Int(arguments[3]), threads > 0, let round = Int(arguments[4]) else {
    say("usage: LarderCrashWriter <directory> <synchronous|groupCommit|writeBack> <threads> <round>")
    exit(2)
}
let durability: PersistenceConfiguration.Durability
switch arguments[2] {
case "synchronous": durability = .synchronous
case "groupCommit": durability = .groupCommit
case "writeBack": durability = .writeBack(interval: .milliseconds(2))
default:
    say("unknown durability \(arguments[2])")
    exit(2)
}

let cache: Cache<String, String>
do {
    cache = try Cache<String, String>(
        configuration: .init(maxCount: 256, sweepInterval: nil),
        persistence: .lmdb(directory: arguments[1], maxBytes: 256 << 20, durability: durability))
} catch {
    say("OPEN-FAILED \(error)")
    exit(1)
}
say("READY")

let finished = DispatchSemaphore(value: 0)
for thread in 0..<threads {
    Thread {
        var n = 0
        while true {
            let key = "r\(round)-t\(thread)-\(n)"
            do {
                try cache.setValue(expectedValue(forKey: key), forKey: key)
            } catch {
                say("WRITE-FAILED \(key) \(error)")
                exit(1)
            }
            say("ACK \(key)")
            n += 1
            // Write-back acknowledges at memory speed; pace it so kills land across flushes.
            if case .writeBack = durability { usleep(200) }
        }
    }.start()
}
finished.wait()  // never signalled: the parent kills us

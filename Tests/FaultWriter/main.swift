// LarderFaultWriter: the child process of the disk-fault tests.
//
//   LarderFaultWriter <store directory> <synchronous|groupCommit|writeBack> <event file>
//
// Runs a fixed script of three sessions on one store (a fresh store closed cleanly, a
// reopen closed cleanly, a reopen left without closing, as a killed process would) and
// appends what happened to <event file>, one tab-separated line per event, unbuffered
// as it happens, so that the file is complete whatever the process does next:
//
//   session <name>                      a session begins
//   open ok | open error <message>
//   set <key> <value> ok|error [<message>]
//   remove <key> <outcome>              removeValue and removeAll cannot throw: the outcome
//   removeAll <outcome>                 is "ok", or "counted" when the store's writeErrors
//   close <outcome>                     grew during the call (the error it logged)
//   flush ok | flush error <message>
//   read <key> <value>|-                what value(forKey:) returned (- for nil)
//   done                                the script ran to its end
//
// In .synchronous and .groupCommit a set or removal that returned "ok" is acknowledged:
// durable. In .writeBack (whose interval is an hour, so that only the script's flushes
// and closes write) a write is acknowledged by the first "flush ok" or "close ok" of its
// session after it. The parent preloads larder_fault_shim to fail one I/O call of the
// run, then checks the store against these lines.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Larder
import Logging

/// Writes a usage or argument error to stderr and exits with status 2.
func fail(_ message: String) -> Never {
    var text = "LarderFaultWriter: " + message + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    fail("usage: LarderFaultWriter <store directory> <synchronous|groupCommit|writeBack> <event file>")
}
let directory = arguments[1]
let modes: [String: PersistenceConfiguration.Durability] = [
    "synchronous": .synchronous, "groupCommit": .groupCommit, "writeBack": .writeBack(interval: .seconds(3600)),
]
guard let durability = modes[arguments[2]] else {
    fail("unknown durability \"\(arguments[2])\"; use synchronous, groupCommit or writeBack")
}
let eventFile = open(arguments[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
guard eventFile >= 0 else {
    fail("cannot open the event file \(arguments[3]): \(String(cString: strerror(errno)))")
}

let events = FileHandle(fileDescriptor: eventFile, closeOnDealloc: true)

/// Appends one event line (tabs and newlines in fields become spaces).
func record(_ fields: String...) {
    let clean = fields.map { String($0.map { $0 == "\t" || $0 == "\n" ? " " : $0 }) }
    do {
        try events.write(contentsOf: Data((clean.joined(separator: "\t") + "\n").utf8))
    } catch {
        exit(3)
    }
}

// The store's warnings and errors go to stderr, which the parent reads: a fault the store
// absorbed leaves a trace there.
let logger: Logger = {
    var logger = Logger(label: "larder.fault-writer") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}()

func openCache() -> Cache<String, String>? {
    do {
        let cache = try Cache<String, String>(
            configuration: .init(maxCount: 64, sweepInterval: nil),
            persistence: .lmdb(directory: directory, maxBytes: 1 << 20, durability: durability),
            logger: logger)
        record("open", "ok")
        return cache
    } catch {
        record("open", "error", "\(error)")
        return nil
    }
}

/// "ok", or "counted" when `body` made the store count a write error (the only sign a
/// removal or a close gives of a failed disk write).
func outcome(_ cache: Cache<String, String>, _ body: () -> Void) -> String {
    let before = cache.persistenceStatistics?.writeErrors ?? 0
    body()
    return (cache.persistenceStatistics?.writeErrors ?? 0) > before ? "counted" : "ok"
}

func set(_ cache: Cache<String, String>, _ key: String, _ value: String) {
    do {
        try cache.setValue(value, forKey: key)
        record("set", key, value, "ok")
    } catch {
        record("set", key, value, "error", "\(error)")
    }
}

func remove(_ cache: Cache<String, String>, _ key: String) {
    record("remove", key, outcome(cache) { cache.removeValue(forKey: key) })
}

func removeAll(_ cache: Cache<String, String>) {
    record("removeAll", outcome(cache) { cache.removeAll() })
}

func flush(_ cache: Cache<String, String>) {
    do {
        try cache.flushPersistence()
        record("flush", "ok")
    } catch {
        record("flush", "error", "\(error)")
    }
}

func read(_ cache: Cache<String, String>, _ key: String) {
    record("read", key, cache.value(forKey: key) ?? "-")
}

func close(_ cache: Cache<String, String>) {
    record("close", outcome(cache) { cache.close() })
}

// A: a fresh store (the parent creates the empty directory), closed cleanly.
record("session", "A")
if let cache = openCache() {
    for n in 0..<4 { set(cache, "k\(n)", "a\(n)") }
    set(cache, "k1", "a1-again")
    remove(cache, "k2")
    flush(cache)
    set(cache, "k4", "a4")
    remove(cache, "k3")
    close(cache)
}

// B: reopened (restores A's entries), read, emptied, written again, closed cleanly.
record("session", "B")
if let cache = openCache() {
    for n in 0..<6 { read(cache, "k\(n)") }
    set(cache, "k0", "b0")
    set(cache, "k5", "b5")
    removeAll(cache)
    set(cache, "k1", "b1")
    set(cache, "k2", "b2")
    flush(cache)
    set(cache, "k2", "b2-again")
    remove(cache, "k1")
    for n in 0..<6 { read(cache, "k\(n)") }
    close(cache)
}

// C: reopened and left open at exit, as by a crash: the next open recovers (the index
// rebuilt; in group commit, the journal replayed).
record("session", "C")
if let cache = openCache() {
    set(cache, "k3", "c3")
    set(cache, "k0", "c0")
    flush(cache)
    set(cache, "k4", "c4")
    remove(cache, "k2")
    record("done")
    exit(0)  // without close, and without the cache's deinit
}
record("done")

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private `redis-server` for tests: Debian's binary, on a free port of 127.0.0.1, with its own
/// temporary directory and no persistence.
///
/// Tests of the Redis tier need a server they can break on purpose (kill, pause, restart), so
/// they never touch a system instance or any other address. The server is stopped and its
/// directory removed by ``stop()`` or, at the latest, when the object is released.
public final class RedisTestServer: @unchecked Sendable {
    /// Why the server could not be run.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        /// Whether the server exited because a port it was given had been taken meanwhile.
        var addressInUse = false
    }

    /// The loopback address the server binds (and the only one it binds).
    public let host = "127.0.0.1"
    /// The port, kept across ``restart()``.
    public private(set) var port: Int
    /// The cluster bus port when the server was started with `clusterBus: true`, kept across
    /// ``restart()``.
    public private(set) var busPort: Int?
    /// The server's working directory (removed by ``stop()``).
    public let directory: URL
    private let extraArguments: [String]
    private let lock = NSLock()
    private var process: Process?
    private var stopped = false

    /// Starts a server and waits until it answers PING.
    ///
    /// A port found free can be taken by another socket before the server binds it (tests run in
    /// parallel and open many connections), so a start that fails with "Address already in use"
    /// is tried again on fresh ports, up to ``bindAttempts`` times.
    ///
    /// - Parameters:
    ///   - extraArguments: more `redis-server` options, e.g. `["--requirepass", "x"]` or
    ///     `["--tracking-table-max-keys", "10"]`.
    ///   - clusterBus: whether to give the server a free cluster bus port (`--cluster-port`), for
    ///     a server started with `--cluster-enabled yes`.
    ///   - firstPort: the port of the first attempt instead of a free one (a test of the retry
    ///     passes one it holds).
    public init(extraArguments: [String] = [], clusterBus: Bool = false, firstPort: Int? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw Failure(description: "\(Self.executable) is missing: run `make deps` (Debian package redis-server)")
        }
        self.extraArguments = extraArguments
        self.port = try firstPort ?? Self.freeLoopbackPort()
        self.busPort = clusterBus ? try Self.freeLoopbackPort(avoiding: [port]) : nil
        self.directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("larder-redis-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var attempt = 1
        while true {
            do {
                try launch()
                return
            } catch let failure as Failure where failure.addressInUse && attempt < Self.bindAttempts {
                attempt += 1
                port = try Self.freeLoopbackPort()
                if clusterBus { busPort = try Self.freeLoopbackPort(avoiding: [port]) }
                try? FileManager.default.removeItem(at: directory.appendingPathComponent("redis.log"))
            } catch {
                stop()
                throw error
            }
        }
    }

    /// How many times a start that lost its port to another socket is tried.
    public static let bindAttempts = 5

    deinit { stop() }

    /// Debian's redis-server.
    public static let executable = "/usr/bin/redis-server"

    /// The server's process id while it runs.
    public var pid: Int32? {
        lock.lock(); defer { lock.unlock() }
        return process?.processIdentifier
    }

    /// Stops the process (SIGSTOP): it keeps its sockets but answers nothing, like a hung server.
    public func pause() { signal(SIGSTOP) }

    /// Lets a paused process run again (SIGCONT).
    public func resume() { signal(SIGCONT) }

    /// Kills the server (SIGKILL) and waits for it to exit; its clients see their connections drop.
    public func kill() {
        lock.lock()
        let p = process
        process = nil
        lock.unlock()
        guard let p else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Starts the server again on the same port and directory (killing it first if it runs).
    public func restart() throws {
        kill()
        try launch()
    }

    /// Kills the server and removes its directory. Safe to call more than once.
    public func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if already { return }
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs one command with Debian's `redis-cli` against this server (as another client would:
    /// a fault to inject, a value to write behind a cache's back) and returns its output, trimmed.
    @discardableResult
    public func cli(_ arguments: String...) throws -> String {
        try cli(arguments: arguments, useAddress: true)
    }

    /// ``cli(_:)`` with the arguments as an array; `useAddress: false` leaves out `-h` and `-p`
    /// (for `--cluster` commands, which name their nodes themselves).
    @discardableResult
    public func cli(arguments: [String], useAddress: Bool) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        p.arguments = (useAddress ? ["-h", host, "-p", String(port)] : []) + cliAuthentication + arguments
        let output = Pipe()
        p.standardOutput = output
        p.standardError = output
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `-a password` when the server was started with `--requirepass`.
    private var cliAuthentication: [String] {
        guard let index = extraArguments.firstIndex(of: "--requirepass"), index + 1 < extraArguments.count else { return [] }
        return ["--no-auth-warning", "-a", extraArguments[index + 1]]
    }

    /// The server's log, for a test failure's message.
    public func log() -> String {
        (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
    }

    private func signal(_ sig: Int32) {
        guard let pid else { return }
        Glibc.kill(pid, sig)
    }

    private func launch() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = [
            "--bind", host, "--port", String(port), "--dir", directory.path,
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + (busPort.map { ["--cluster-port", String($0)] } ?? []) + extraArguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        // The log is appended to across restarts: this start is ready at one ready line more.
        let readyBefore = Self.readyLines(in: log())
        try p.run()
        lock.lock()
        process = p
        lock.unlock()
        // Poll until it answers (a start-up, not a synchronisation with the code under test).
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if !p.isRunning {
                p.waitUntilExit()
                lock.lock()
                process = nil
                lock.unlock()
                let log = log()
                throw Failure(description: "redis-server exited with \(p.terminationStatus): \(log)",
                              addressInUse: log.contains("Address already in use"))
            }
            // The log line first: another server on the port could answer the PING while ours
            // fails to bind it.
            if Self.readyLines(in: log()) > readyBefore && Self.answersPing(host: host, port: port) { return }
            usleep(20_000)
        }
        throw Failure(description: "redis-server on \(host):\(port) did not answer PING in 15 s: \(log())")
    }

    /// How many times a log says the server was ready.
    static func readyLines(in log: String) -> Int {
        log.components(separatedBy: "Ready to accept connections").count - 1
    }

    /// Whether something on host:port answers an inline PING like Redis (PONG, or NOAUTH when a
    /// password is required).
    static func answersPing(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        let ping = Array("PING\r\n".utf8)
        guard send(fd, ping, ping.count, 0) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &reply, reply.count, 0)
        guard n > 0 else { return false }
        let text = String(decoding: reply[0..<n], as: UTF8.self)
        return text.hasPrefix("+PONG") || text.hasPrefix("-NOAUTH")
    }

    /// A port that was free on 127.0.0.1 a moment ago, below the kernel's range for outgoing
    /// connections' ports (`ip_local_port_range`), so that the many client sockets tests open
    /// cannot take it between now and the server's bind; only another test's server can, which
    /// ``init(extraArguments:clusterBus:firstPort:)`` survives by trying again.
    public static func freeLoopbackPort(avoiding taken: Set<Int> = []) throws -> Int {
        let ephemeralStart = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first }
            .flatMap { Int($0) } ?? 32768
        // Ports from 10000 up to the range leave the well-known and registered low ports alone;
        // with a range that starts too low for that, the kernel picks (port 0).
        if ephemeralStart > 12000 {
            for _ in 0..<200 {
                let candidate = Int.random(in: 10000..<ephemeralStart)
                if !taken.contains(candidate), try bindable(candidate) != nil { return candidate }
            }
        }
        for _ in 0..<200 {
            let port = try bindable(0)!
            if !taken.contains(port) { return port }
        }
        throw Failure(description: "no free port on 127.0.0.1")
    }

    /// Binds a socket to 127.0.0.1:port (0: any) and releases it; returns the port bound, or nil
    /// when that port is taken.
    private static func bindable(_ port: Int) throws -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            if errno == EADDRINUSE && port != 0 { return nil }
            throw Failure(description: "bind() failed: \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw Failure(description: "getsockname() failed: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

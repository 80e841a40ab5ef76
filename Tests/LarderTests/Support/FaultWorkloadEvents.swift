/// What LarderFaultWriter's event file says about a run (see Tests/FaultWriter/main.swift),
/// and what each key may hold because of it.
///
/// A key may hold the state (a value, or nil for absent) of its last acknowledged write,
/// or of any write after that one whose caller got an error (it may or may not have
/// reached the disk). Nothing older: an acknowledged write that is lost, or overtaken by
/// an older one, is the failure these tests look for. In .synchronous and .groupCommit a
/// write is acknowledged when its call returned "ok"; in .writeBack when a later "flush
/// ok" or "close ok" of its session covered it.
struct FaultWorkloadEvents {
    struct Allowed {
        /// The last acknowledged state: `.some(nil)` for a removal; nil before any (absent).
        var acknowledged: String?? = nil
        /// States of later writes that were not acknowledged.
        var uncertain: [String?] = []

        func allows(_ value: String?) -> Bool {
            (acknowledged ?? nil) == value || uncertain.contains(value)
        }

        var description: String {
            let show = { (v: String?) in v ?? "absent" }
            return "acknowledged \(show(acknowledged ?? nil)), or one of \(uncertain.map(show)) (unacknowledged)"
        }
    }

    enum Problem: Error, CustomStringConvertible {
        case malformed(String)
        case readOutsideModel(key: String, value: String, allowed: String)
        var description: String {
            switch self {
            case .malformed(let line): "unreadable event line: \(line)"
            case .readOutsideModel(let key, let value, let allowed):
                "in the child, \(key) read \(value); it may be \(allowed)"
            }
        }
    }

    private(set) var allowed: [String: Allowed] = [:]
    /// Every key the script wrote.
    private(set) var keys: Set<String> = []
    /// Whether the script ran to its end.
    private(set) var done = false
    /// Errors the child's calls returned or counted (set, open, flush errors; removals and
    /// closes whose write error was counted).
    private(set) var reportedErrors: [String] = []
    /// In-process reads that returned a value the model does not allow.
    private(set) var problems: [Problem] = []
    /// Writes acknowledged over the run.
    private(set) var acknowledgedWrites = 0

    private enum Write {
        case set(String, String)
        case remove(String)
        case removeAll
    }

    private let acknowledgedOnReturn: Bool
    /// Write-back: this session's writes not yet covered by a flush or close.
    private var pending: [Write] = []
    /// Between a successful open and the session's first write, flush or close.
    private var justOpened = false

    init(lines: [Substring], acknowledgedOnReturn: Bool) {
        self.acknowledgedOnReturn = acknowledgedOnReturn
        let fields = lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        for f in fields where f.count >= 2 && (f[0] == "set" || f[0] == "remove") { keys.insert(f[1]) }
        for f in fields { apply(f) }
    }

    private mutating func apply(_ f: [String]) {
        if f.first != "read" && f.first != "open" { justOpened = false }
        switch (f.first, f.count) {
        case ("session", 2):
            pending = []  // what the last session's close did not cover is lost, or was committed: uncertain
        case ("open", _) where f.count >= 2:
            if f[1] != "ok" { reportedErrors.append(f.joined(separator: " ")) }
            justOpened = f[1] == "ok"
        case ("set", _) where f.count >= 4:
            write(.set(f[1], f[2]), ok: f[3] == "ok", line: f)
        case ("remove", 3):
            write(.remove(f[1]), ok: f[2] == "ok", line: f)
        case ("removeAll", 2):
            write(.removeAll, ok: f[1] == "ok", line: f)
        case ("flush", _) where f.count >= 2, ("close", 2):
            if f[1] == "ok" {
                if !acknowledgedOnReturn { pending.forEach { acknowledge($0) } }
                pending = []
            } else {
                reportedErrors.append(f.joined(separator: " "))
            }
        case ("read", 3):
            let value = f[2] == "-" ? nil : f[2]
            let state = allowedStates(f[1])
            // A value must be one the key may hold. So must a miss right after an open: the
            // store was just read whole, and nothing failed since; later, a read whose
            // LMDB read failed (after a fault) is a miss, which a read cannot report otherwise.
            if (value != nil || justOpened) && !state.allows(value) {
                problems.append(.readOutsideModel(key: f[1], value: f[2], allowed: state.description))
            }
        case ("done", 1):
            done = true
        default:
            problems.append(.malformed(f.joined(separator: "\t")))
        }
    }

    private mutating func write(_ write: Write, ok: Bool, line: [String]) {
        if !ok { reportedErrors.append(line.joined(separator: " ")) }
        if acknowledgedOnReturn && ok {
            acknowledge(write)
        } else {
            // Unacknowledged (yet): it may reach the disk or not.
            for (key, state) in states(of: write) { allowed[key, default: Allowed()].uncertain.append(state) }
            if !acknowledgedOnReturn && ok { pending.append(write) }
        }
    }

    private mutating func acknowledge(_ write: Write) {
        acknowledgedWrites += 1
        for (key, state) in states(of: write) { allowed[key] = Allowed(acknowledged: .some(state)) }
    }

    private func states(of write: Write) -> [(String, String?)] {
        switch write {
        case .set(let key, let value): [(key, value)]
        case .remove(let key): [(key, nil)]
        case .removeAll: keys.map { ($0, nil) }
        }
    }

    /// What `key` may hold now.
    func allowedStates(_ key: String) -> Allowed { allowed[key] ?? Allowed() }
}

/// One line of a suite's results, as printed and as written to `--json`.
struct ResultRow: Encodable, Sendable {
    /// What was measured ("mixed", "get-hit", "lirs_gli@250", ...).
    var group: String
    /// Who was measured ("Larder Cache(1)", "textbook LRU", ...).
    var peer: String
    /// The unit of `value` ("ns/op", "B/entry", "%", ...).
    var unit: String
    /// The median over runs, and its spread.
    var value: Spread
    /// Further figures of the row (percentiles, hit ratios, reference columns).
    var extra: [String: Double] = [:]
    /// Further names of the row (a policy's name); written into `extra` beside the figures.
    var labels: [String: String] = [:]
    var note: String? = nil

    private enum Keys: String, CodingKey { case group, peer, unit, value, extra, note }

    private struct ExtraKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(group, forKey: .group)
        try c.encode(peer, forKey: .peer)
        try c.encode(unit, forKey: .unit)
        try c.encode(value, forKey: .value)
        try c.encodeIfPresent(note, forKey: .note)
        var e = c.nestedContainer(keyedBy: ExtraKey.self, forKey: .extra)
        for (key, value) in extra { try e.encode(value, forKey: ExtraKey(stringValue: key)) }
        for (key, value) in labels { try e.encode(value, forKey: ExtraKey(stringValue: key)) }
    }
}

/// A suite's rows plus its headline comparisons.
struct SuiteResult: Encodable, Sendable {
    var name: String
    var rows: [ResultRow] = []
    /// Human-readable ratios such as "Cache(1) = 1.6x Dictionary's time".
    var ratios: [String] = []
    var notes: [String] = []
    /// Targets from the issues, each with whether this run met it.
    var targets: [Target] = []
    var seconds: Double = 0

    struct Target: Codable, Sendable {
        var name: String
        var goal: String
        var measured: String
        var met: Bool
    }
}

struct MachineInfo: Codable, Sendable {
    var cpu: String
    var cores: Int
    var memoryGiB: Double
    var kernel: String
    var build: String
    var allocator: String
    var date: String
    /// /proc/loadavg's 1-minute figure when the run started and ended: other work on the machine.
    var loadAverageAtStart: Double
    var loadAverageAtEnd: Double? = nil
}

struct BenchReport: Encodable, Sendable {
    var machine: MachineInfo
    var configuration: BenchConfig
    var suites: [String: SuiteResult] = [:]
    var totalSeconds: Double = 0
}

/// A table printed with aligned columns: text left, numbers right.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }
    init(headers: [String]) { self.headers = headers }

    mutating func add(_ cells: String...) { rows.append(cells) }
    mutating func add(cells: [String]) { rows.append(cells) }

    func render(indent: String = "  ") -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count {
                widths[i] = max(widths[i], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var out = indent
            for (i, cell) in cells.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                // The first column is a label; the rest are figures.
                out += i == 0 ? cell + pad : pad + cell
                if i < cells.count - 1 { out += "  " }
            }
            return out
        }
        var lines = [line(headers)]
        lines.append(indent + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// Prints a section heading.
func heading(_ text: String) {
    print("")
    print("== " + text + " " + String(repeating: "=", count: max(0, 74 - text.count)))
}

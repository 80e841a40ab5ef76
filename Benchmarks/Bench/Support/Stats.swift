/// The summary of one measurement repeated `--runs` times.
struct Spread: Codable, Sendable {
    var median: Double
    var min: Double
    var max: Double
    var runs: [Double]

    init(_ values: [Double]) {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let n = sorted.count
        median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        min = sorted[0]
        max = sorted[n - 1]
        runs = values
    }
}

/// `a / b` formatted as a ratio such as "7.2x".
func ratioText(_ a: Double, _ b: Double) -> String {
    guard b > 0, a.isFinite, b.isFinite else { return "n/a" }
    let r = a / b
    if r >= 100 { return "\(Int(r.rounded()))x" }
    if r >= 10 { return fmt(r, 0) + "x" }
    return fmt(r, r >= 1 ? 1 : 2) + "x"
}

/// Fixed-point formatting without Foundation's String(format:) (it boxes arguments).
func fmt(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return "\(value)" }
    let integer = UInt64(scaled)
    let whole = integer / UInt64(scale)
    var text = "\(whole)"
    if decimals > 0 {
        var frac = "\(integer % UInt64(scale))"
        while frac.count < decimals { frac = "0" + frac }
        text += "." + frac
    }
    return negative && scaled != 0 ? "-" + text : text
}

/// "12.3 (11.9-13.0)": a median and its min-max spread.
func spreadText(_ s: Spread, _ decimals: Int = 1) -> String {
    if s.runs.count == 1 { return fmt(s.median, decimals) }
    return "\(fmt(s.median, decimals)) (\(fmt(s.min, decimals))-\(fmt(s.max, decimals)))"
}

/// The C core alone (placeholder until larder_core lands on main).
enum CoreSuite {
    static func run(_ c: BenchConfig) -> SuiteResult {
        var result = SuiteResult(name: "core")
        result.notes = ["the C core is not built yet"]
        print("  " + result.notes[0])
        return result
    }
}

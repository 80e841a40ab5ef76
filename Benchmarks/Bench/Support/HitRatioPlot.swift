import Foundation

/// Hit ratio against cache size, one panel per trace and one line per policy,
/// written as a plain SVG file (no plotting dependency).
struct HitRatioPlot {
    struct Series {
        let label: String
        /// (cache size, hit %) in increasing size.
        let points: [(size: Int, hit: Double)]
    }

    struct Panel {
        let title: String
        let series: [Series]
    }

    var panels: [Panel] = []

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#7f7f7f"]

    func svg() -> String {
        let columns = min(3, max(1, panels.count))
        let rows = (panels.count + columns - 1) / columns
        let panelWidth = 360.0, panelHeight = 250.0, legendHeight = 30.0
        let width = Double(columns) * panelWidth
        let height = legendHeight + Double(rows) * panelHeight
        var out = #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" font-family="sans-serif" font-size="11">"#
        out += "\n" + #"<rect width="100%" height="100%" fill="white"/>"# + "\n"
        let labels = panels.flatMap { $0.series.map(\.label) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for (i, label) in labels.enumerated() {
            let x = 10.0 + Double(i) * 150
            out += #"<line x1="\#(x)" y1="15" x2="\#(x + 20)" y2="15" stroke="\#(color(i))" stroke-width="2"/>"#
            out += #"<text x="\#(x + 25)" y="19">\#(escape(label))</text>"# + "\n"
        }
        for (index, panel) in panels.enumerated() {
            let ox = Double(index % columns) * panelWidth
            let oy = legendHeight + Double(index / columns) * panelHeight
            out += plot(panel, x: ox, y: oy, width: panelWidth, height: panelHeight, labels: labels)
        }
        return out + "</svg>\n"
    }

    private func plot(_ panel: Panel, x ox: Double, y oy: Double, width: Double, height: Double, labels: [String]) -> String {
        let left = ox + 45, right = ox + width - 15, top = oy + 25, bottom = oy + height - 35
        let sizes = panel.series.flatMap { $0.points.map(\.size) }
        guard let smallest = sizes.min(), let largest = sizes.max() else { return "" }
        // Sizes on a log scale: the curve a user reads to pick maxCount spans decades.
        let lo = log(Double(max(1, smallest))), hi = log(Double(max(1, largest)))
        func px(_ size: Int) -> Double {
            hi > lo ? left + (log(Double(max(1, size))) - lo) / (hi - lo) * (right - left) : (left + right) / 2
        }
        func py(_ hit: Double) -> Double { bottom - min(max(hit, 0), 100) / 100 * (bottom - top) }
        var out = #"<text x="\#(left)" y="\#(oy + 15)" font-weight="bold">\#(escape(panel.title))</text>"# + "\n"
        for tick in stride(from: 0.0, through: 100.0, by: 25.0) {
            out += #"<line x1="\#(left)" y1="\#(py(tick))" x2="\#(right)" y2="\#(py(tick))" stroke="lightgray"/>"#
            out += #"<text x="\#(left - 5)" y="\#(py(tick) + 4)" text-anchor="end">\#(Int(tick))%</text>"# + "\n"
        }
        for size in Set(sizes).sorted() {
            out += #"<text x="\#(px(size))" y="\#(bottom + 15)" text-anchor="middle">\#(size)</text>"# + "\n"
        }
        out += #"<text x="\#((left + right) / 2)" y="\#(bottom + 30)" text-anchor="middle">cache size (entries)</text>"# + "\n"
        out += #"<rect x="\#(left)" y="\#(top)" width="\#(right - left)" height="\#(bottom - top)" fill="none" stroke="gray"/>"# + "\n"
        for series in panel.series {
            let i = labels.firstIndex(of: series.label) ?? 0
            let points = series.points.map { "\(fmt(px($0.size), 1)),\(fmt(py($0.hit), 1))" }.joined(separator: " ")
            out += #"<polyline points="\#(points)" fill="none" stroke="\#(color(i))" stroke-width="2"/>"# + "\n"
            for p in series.points {
                out += #"<circle cx="\#(fmt(px(p.size), 1))" cy="\#(fmt(py(p.hit), 1))" r="2.5" fill="\#(color(i))"><title>\#(escape(series.label)) \#(p.size): \#(fmt(p.hit, 2))%</title></circle>"# + "\n"
            }
        }
        return out
    }

    private func color(_ index: Int) -> String { Self.colors[index % Self.colors.count] }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    func write(to path: String) throws {
        try OutputPath.write(Data(svg().utf8), to: path, option: "plot")
    }
}

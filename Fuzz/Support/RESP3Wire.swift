import RESP3

/// RESP3 values back to wire bytes, one canonical form per value (the library only encodes
/// commands): seeds are built with it, and the RESP3 targets compare values by it (a `nan` double
/// is not equal to itself, its encoding is) and check that every decoded value survives
/// encoding and decoding again.
package enum RESP3Wire {
    package static func encode(_ value: RESP3Value) -> [UInt8] {
        var out: [UInt8] = []
        append(value, to: &out)
        return out
    }

    package static func encode(_ values: [RESP3Value]) -> [UInt8] {
        var out: [UInt8] = []
        for value in values { append(value, to: &out) }
        return out
    }

    private static func line(_ type: Character, _ text: some Sequence<UInt8>, to out: inout [UInt8]) {
        out.append(type.asciiValue!)
        out += text
        out += [13, 10]
    }

    private static func blob(_ type: Character, _ bytes: [UInt8], to out: inout [UInt8]) {
        line(type, String(bytes.count).utf8, to: &out)
        out += bytes
        out += [13, 10]
    }

    private static func append(_ value: RESP3Value, to out: inout [UInt8]) {
        switch value {
        case .simpleString(let s): line("+", s.utf8, to: &out)
        case .simpleError(let s): line("-", s.utf8, to: &out)
        case .blobError(let b): blob("!", b, to: &out)
        case .integer(let n): line(":", String(n).utf8, to: &out)
        case .double(let d):
            let text = d.isNaN ? "nan" : d == .infinity ? "inf" : d == -.infinity ? "-inf" : "\(d)"
            line(",", text.utf8, to: &out)
        case .boolean(let b): line("#", b ? [UInt8(ascii: "t")] : [UInt8(ascii: "f")], to: &out)
        case .bigNumber(let s): line("(", s.utf8, to: &out)
        case .null: line("_", [], to: &out)
        case .blobString(let b): blob("$", b, to: &out)
        case .verbatimString(let format, let text): blob("=", Array(format.utf8) + [UInt8(ascii: ":")] + text, to: &out)
        case .array(let items): aggregate("*", items, to: &out)
        case .set(let items): aggregate("~", items, to: &out)
        case .push(let items): aggregate(">", items, to: &out)
        case .map(let pairs):
            line("%", String(pairs.count).utf8, to: &out)
            for pair in pairs {
                append(pair.key, to: &out)
                append(pair.value, to: &out)
            }
        }
    }

    private static func aggregate(_ type: Character, _ items: [RESP3Value], to out: inout [UInt8]) {
        line(type, String(items.count).utf8, to: &out)
        for item in items { append(item, to: &out) }
    }
}

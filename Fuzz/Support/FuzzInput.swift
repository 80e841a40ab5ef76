/// The bytes of one fuzz input, read front to back: a target takes its mode and parameters from
/// the first bytes and its subject from the rest. Past the end every read yields zeros, so every
/// input, however short, is a valid one.
package struct FuzzInput {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    package init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        bytes = UnsafeBufferPointer(start: count > 0 ? data : nil, count: count)
    }

    package var isEmpty: Bool { at >= bytes.count }

    package mutating func byte() -> UInt8 {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return bytes[at]
    }

    /// Up to `count` bytes (fewer at the end).
    package mutating func take(_ count: Int) -> [UInt8] {
        let n = min(count, bytes.count - at)
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }

    /// Everything not read yet.
    package mutating func rest() -> [UInt8] { take(bytes.count - at) }
}

/// A property a target checks: when it fails, the process traps with the message, which libFuzzer
/// reports as a crash, saving the input.
@inline(__always)
package func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}

/// Hex for failure messages.
package func fuzzHex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

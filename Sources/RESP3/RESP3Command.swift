import NIOCore

/// Something that can be one argument of a ``RESP3Command``: Redis takes every argument as a
/// binary-safe bulk string, so each conformer only says what its bytes are.
package protocol RESP3Argument: Sendable {
    /// The bytes sent as this argument's bulk string.
    var resp3Bytes: [UInt8] { get }
}

extension String: RESP3Argument {
    package var resp3Bytes: [UInt8] { Array(utf8) }
}

extension Substring: RESP3Argument {
    package var resp3Bytes: [UInt8] { Array(utf8) }
}

extension Array: RESP3Argument where Element == UInt8 {
    package var resp3Bytes: [UInt8] { self }
}

extension Int: RESP3Argument {
    package var resp3Bytes: [UInt8] { Array(String(self).utf8) }
}

extension Int64: RESP3Argument {
    package var resp3Bytes: [UInt8] { Array(String(self).utf8) }
}

/// One Redis command: its name and arguments, each sent as a bulk string.
///
/// Redis accepts commands only as an array of bulk strings (`*N\r\n$len\r\n...\r\n`); building them
/// from bytes rather than formatting a line keeps keys and values binary-safe (no quoting, no
/// injection through a key that contains CRLF).
package struct RESP3Command: Hashable, Sendable, CustomStringConvertible {
    /// The command name followed by its arguments, each as the bytes of one bulk string.
    package var arguments: [[UInt8]]

    /// A command from its name and arguments, e.g. `RESP3Command("SET", key, valueBytes, "PX", 500)`.
    package init(_ name: String, _ args: any RESP3Argument...) {
        self.init(name, arguments: args)
    }

    /// A command from its name and an argument list built at run time (e.g. `MGET` of many keys).
    package init(_ name: String, arguments args: [any RESP3Argument]) {
        var all: [[UInt8]] = [Array(name.utf8)]
        all.reserveCapacity(args.count + 1)
        for a in args { all.append(a.resp3Bytes) }
        self.arguments = all
    }

    /// A command from its already encoded parts (name first).
    package init(parts: [[UInt8]]) {
        self.arguments = parts
    }

    /// The command's name as sent (e.g. `GET`).
    package var name: String { String(decoding: arguments.first ?? [], as: UTF8.self) }

    /// How many bytes ``encode(into:)`` writes, so a pipeline can reserve its buffer once.
    package var encodedLength: Int {
        var n = 1 + decimalLength(arguments.count) + 2
        for a in arguments { n += 1 + decimalLength(a.count) + 2 + a.count + 2 }
        return n
    }

    /// Appends the command to `buffer` as a RESP array of bulk strings.
    package func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        writeDecimal(arguments.count, into: &buffer)
        buffer.writeStaticString("\r\n")
        for a in arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            writeDecimal(a.count, into: &buffer)
            buffer.writeStaticString("\r\n")
            buffer.writeBytes(a)
            buffer.writeStaticString("\r\n")
        }
    }

    /// The command as redis-cli would show it, for logs (arguments decoded as UTF-8).
    package var description: String {
        arguments.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }
}

@inline(__always)
private func decimalLength(_ n: Int) -> Int {
    var n = n, d = 1
    while n >= 10 { n /= 10; d += 1 }
    return d
}

@inline(__always)
private func writeDecimal(_ n: Int, into buffer: inout ByteBuffer) {
    if n < 10 {
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(n))
    } else {
        buffer.writeString(String(n))
    }
}

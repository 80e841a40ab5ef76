import NIOCore
import NIOEmbedded
import Testing

@testable import RESP3

@Suite("RESP3Decoder")
struct RESP3DecoderTests {
    /// One wire sample per type (and the RESP2 forms), with the values it must decode to.
    static let samples: [(wire: String, values: [RESP3Value])] = [
        ("+OK\r\n", [.simpleString("OK")]),
        ("+\r\n", [.simpleString("")]),
        ("-ERR unknown command 'FOO'\r\n", [.simpleError("ERR unknown command 'FOO'")]),
        ("!21\r\nSYNTAX invalid syntax\r\n", [.blobError(bytes("SYNTAX invalid syntax"))]),
        (":0\r\n:-42\r\n:+7\r\n", [.integer(0), .integer(-42), .integer(7)]),
        (":9223372036854775807\r\n:-9223372036854775808\r\n", [.integer(.max), .integer(.min)]),
        (",3.25\r\n,-1.5e3\r\n,inf\r\n,-inf\r\n,10\r\n",
         [.double(3.25), .double(-1500), .double(.infinity), .double(-.infinity), .double(10)]),
        ("#t\r\n#f\r\n", [.boolean(true), .boolean(false)]),
        ("(3492890328409238509324850943850943825024385\r\n(-12\r\n",
         [.bigNumber("3492890328409238509324850943850943825024385"), .bigNumber("-12")]),
        ("_\r\n", [.null]),
        ("$-1\r\n*-1\r\n", [.null, .null]),
        ("$5\r\nhello\r\n", [blob("hello")]),
        ("$0\r\n\r\n", [.blobString([])]),
        ("$8\r\nhe\r\nl\u{0}lo\r\n", [.blobString(bytes("he\r\nl\u{0}lo"))]),
        ("=15\r\ntxt:Some string\r\n", [.verbatimString(format: "txt", text: bytes("Some string"))]),
        ("*3\r\n:1\r\n$1\r\na\r\n*0\r\n", [.array([.integer(1), blob("a"), .array([])])]),
        ("*2\r\n*1\r\n+x\r\n_\r\n", [.array([.array([.simpleString("x")]), .null])]),
        ("~2\r\n+a\r\n+b\r\n", [.set([.simpleString("a"), .simpleString("b")])]),
        ("%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*1\r\n#t\r\n", [.map([
            .init(key: .simpleString("first"), value: .integer(1)),
            .init(key: blob("second"), value: .array([.boolean(true)])),
        ])]),
        ("%0\r\n", [.map([])]),
        (">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", [.push([blob("invalidate"), .array([blob("k")])])]),
        (">2\r\n$10\r\ninvalidate\r\n_\r\n", [.push([blob("invalidate"), .null])]),
        // Attributes are skipped: before a top-level value, and inside an aggregate.
        ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:3\r\n",
         [.array([.integer(2), .integer(3)])]),
        ("*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n", [.array([.integer(1), .integer(2)])]),
        ("|0\r\n+OK\r\n", [.simpleString("OK")]),
    ]

    static var allWire: String { samples.map(\.wire).joined() }
    static var allValues: [RESP3Value] { samples.flatMap(\.values) }

    private func decode(_ chunks: [[UInt8]], limits: RESP3Decoder.Limits = .default) throws -> [RESP3Value] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESP3Decoder(limits: limits)))
        for chunk in chunks { try channel.writeInbound(buffer(chunk)) }
        var values: [RESP3Value] = []
        while let v = try channel.readInbound(as: RESP3Value.self) { values.append(v) }
        _ = try? channel.finish()  // leftover partial input is not what these tests check
        return values
    }

    @Test func everyTypeDecodes() throws {
        for sample in Self.samples {
            #expect(try decode([bytes(sample.wire)]) == sample.values, "\(sample.wire.debugDescription)")
        }
        let nan = try decode([bytes(",nan\r\n")])
        #expect(nan.count == 1)
        if case .double(let d)? = nan.first { #expect(d.isNaN) } else { Issue.record("not a double: \(nan)") }
    }

    @Test func everySplitPointGivesTheSameValues() throws {
        for sample in Self.samples {
            let wire = bytes(sample.wire)
            for cut in 0...wire.count {
                let values = try decode([Array(wire[..<cut]), Array(wire[cut...])])
                #expect(values == sample.values, "\(sample.wire.debugDescription) split at \(cut)")
            }
            let oneByteAtATime = try decode(wire.map { [$0] })
            #expect(oneByteAtATime == sample.values, "\(sample.wire.debugDescription) byte by byte")
        }
    }

    @Test func theWholeStreamSplitAnywhereGivesTheSameValues() throws {
        let wire = bytes(Self.allWire)
        for cut in 0...wire.count {
            #expect(try decode([Array(wire[..<cut]), Array(wire[cut...])]) == Self.allValues, "split at \(cut)")
        }
        // Three pieces, at a stride, to cross two boundaries in one value.
        for a in stride(from: 0, through: wire.count, by: 7) {
            for b in stride(from: a, through: wire.count, by: 5) {
                let values = try decode([Array(wire[..<a]), Array(wire[a..<b]), Array(wire[b...])])
                #expect(values == Self.allValues, "split at \(a) and \(b)")
            }
        }
    }

    /// The message of the protocol error the decoder reports for `wire`, or `nil` (recording an
    /// issue) when it reports none.
    private func protocolError(
        _ wire: [UInt8], limits: RESP3Decoder.Limits = .default, sourceLocation: SourceLocation = #_sourceLocation
    ) -> String? {
        do {
            let values = try decode([wire], limits: limits)
            Issue.record("no protocol error; decoded \(values)", sourceLocation: sourceLocation)
            return nil
        } catch {
            guard case .protocolError(let message)? = error as? RESP3Error else {
                Issue.record("expected a protocol error, got \(error)", sourceLocation: sourceLocation)
                return nil
            }
            return message
        }
    }

    @Test func malformedInputIsAProtocolError() throws {
        let cases: [(String, String)] = [
            ("HTTP/1.1 400 Bad Request\r\n\r\n", "type byte"),
            ("?3\r\n", "type byte"),
            ("$abc\r\n", "invalid length"),
            ("$\r\n", "invalid length"),
            ("$-5\r\n", "invalid length"),
            ("*-2\r\n", "invalid length"),
            ("~-1\r\n", "invalid length"),
            ("$?\r\n", "streamed"),
            ("$999999999\r\n", "exceeds"),
            ("$99999999999999999999999\r\n", "invalid length"),
            ("$3\r\nabcXY", "CRLF"),
            ("+OK\rX\n", "CR not followed by LF"),
            (":12a\r\n", "invalid integer"),
            (":99999999999999999999\r\n", "invalid integer"),
            (":\r\n", "invalid integer"),
            (",1.5x\r\n", "invalid double"),
            ("#x\r\n", "invalid boolean"),
            ("_x\r\n", "null with a payload"),
            ("(12a\r\n", "invalid big number"),
            ("=5\r\nabcde\r\n", "verbatim"),
            ("*1\r\n+ok\r\n:x\r\n", "invalid integer"),
        ]
        for (wire, expected) in cases {
            let message = protocolError(bytes(wire))
            #expect(message?.contains(expected) == true, "\(wire.debugDescription): \(message ?? "none")")
        }
    }

    @Test func limitsBoundDepthLengthAndCount() throws {
        let bomb = String(repeating: "*1\r\n", count: 10_000) + ":1\r\n"
        #expect(protocolError(bytes(bomb))?.contains("deeper than 32") == true)
        let attributeBomb = String(repeating: "|1\r\n+a\r\n", count: 100) + ":1\r\n"
        #expect(protocolError(bytes(attributeBomb))?.contains("deeper than 32") == true)
        // 32 levels are fine.
        let deep = String(repeating: "*1\r\n", count: 31) + "*0\r\n"
        #expect(try decode([bytes(deep)]).count == 1)

        let longLine = [UInt8(ascii: "+")] + [UInt8](repeating: UInt8(ascii: "a"), count: 70_000)
        #expect(protocolError(longLine)?.contains("without CRLF") == true)

        let small = RESP3Decoder.Limits(maxBlobLength: 10, maxAggregateCount: 3)
        #expect(protocolError(bytes("$11\r\n"), limits: small)?.contains("exceeds") == true)
        #expect(protocolError(bytes("*4\r\n"), limits: small)?.contains("exceeds") == true)
        #expect(protocolError(bytes("%4\r\n"), limits: small)?.contains("exceeds") == true)
        #expect(try decode([bytes("$10\r\n0123456789\r\n*3\r\n_\r\n_\r\n_\r\n")], limits: small).count == 2)
    }

    /// A line of exactly the longest length is a line whichever read its CR ends. Found by the
    /// resp3-reply fuzz target: a CR closing a read, its LF still to come, counted against the limit.
    @Test func aLineOfTheLongestLengthIsAcceptedWhereverItsReadsEnd() throws {
        let limits = RESP3Decoder.Limits(maxLineLength: 4)
        let wire = bytes("+abcd\r\n")
        for cut in 0...wire.count {
            let values = try decode([Array(wire[..<cut]), Array(wire[cut...])], limits: limits)
            #expect(values == [.simpleString("abcd")], "split at \(cut)")
        }
        #expect(protocolError(bytes("+abcde\r\n"), limits: limits)?.contains("longer than 4") == true)
        #expect(protocolError(bytes("+abcde\r"), limits: limits)?.contains("longer than 4") == true)
    }

    @Test func arbitraryBytesNeverCrash() throws {
        // Deterministic pseudo-random streams: spliced valid samples with bytes flipped, dropped or
        // inserted. Each must decode to values or end in a protocol error; nothing else.
        var rng = SplitMix64(seed: 0x5EED)
        let wire = bytes(Self.allWire)
        for _ in 0..<3_000 {
            var stream = Array(wire[Int(rng.next() % UInt64(wire.count))...].prefix(Int(rng.next() % 200)))
            for _ in 0..<Int(rng.next() % 4) where !stream.isEmpty {
                let i = Int(rng.next() % UInt64(stream.count))
                switch rng.next() % 3 {
                case 0: stream[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: stream.remove(at: i)
                default: stream.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                }
            }
            do {
                _ = try decode([stream])
            } catch {
                guard case .protocolError? = error as? RESP3Error else {
                    Issue.record("\(stream): \(error)")
                    continue
                }
            }
        }
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

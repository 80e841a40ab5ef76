import RESP3

/// Streams a Redis server sends the shared tier: replies of the commands it uses, pushes among
/// them, and RESP2 forms, built with ``RESP3Wire`` (and by hand for what it never writes).
package enum RESP3Seeds {
    package static let streams: [[UInt8]] = {
        func blob(_ s: String) -> RESP3Value { .blobString(Array(s.utf8)) }
        let invalidation = RESP3Value.push([blob("invalidate"), .array([blob("t:k"), blob("other:k"), blob("t:\u{FF}")])])
        let slots = RESP3Value.array([
            .array([.integer(0), .integer(8191), .array([blob("127.0.0.1"), .integer(7000), blob("id-a")]),
                    .array([blob("127.0.0.1"), .integer(7003)])]),
            .array([.integer(8192), .integer(16383), .array([blob("127.0.0.1"), .integer(7001), blob("id-b"), .map([])])]),
        ])
        let hello = RESP3Value.map([.init(key: blob("server"), value: blob("redis")), .init(key: blob("proto"), value: .integer(3))])
        let replies: [[RESP3Value]] = [
            [blob("v1"), .integer(-1)],                                       // GET and PTTL
            [.simpleString("OK"), invalidation, .null],                      // a write, an invalidation, a miss
            [hello, .push([blob("invalidate"), .null])],                     // HELLO 3; a flush
            [slots, .simpleError("MOVED 3999 127.0.0.1:6381"), .simpleError("ASK 3999 127.0.0.1:6381")],
            [.double(1.5), .double(.infinity), .boolean(true), .bigNumber("-12345678901234567890"),
             .verbatimString(format: "txt", text: Array("hi".utf8)), .blobError(Array("ERR x".utf8)),
             .set([.integer(1)]), .push([blob("tracking-redir-broken"), .integer(5)])],
        ]
        return replies.map { RESP3Wire.encode($0) } + [
            Array("$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n:1\r\n".utf8),                 // RESP2
            Array("|1\r\n+key-popularity\r\n%0\r\n+OK\r\n".utf8),                 // an attribute before a reply
            Array("*3\r\n$3\r\nfoo\r\n*1\r\n*1\r\n:7\r\n$".utf8),                   // cut off mid-reply
        ]
    }()
}
